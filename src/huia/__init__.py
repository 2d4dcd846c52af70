"""huia: from a webcam to a custom real-time vision model running in the browser.

The Python side reads, runs, trains and writes TensorFlow.js models with PyTorch (CPU); the browser side
(``web/``) runs the same models with TF.js. See README.md for the architecture.
"""

__version__ = "0.1.0"
