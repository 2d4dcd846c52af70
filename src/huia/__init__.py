"""huia: from a webcam to a custom real-time vision model running in the browser.

The Python side reads, runs, trains and writes TensorFlow.js models with PyTorch (CPU); the browser side
(``web/``) runs the same models with TF.js. See README.md for the architecture.
"""

import os

__version__ = "0.1.0"

# OpenMP threads that spin while waiting steal the other core on small machines (measured: a PoseNet run went
# from ~2 s to 88 ms under load with this). Set before torch is imported; an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
