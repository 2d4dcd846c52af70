"""huia: from a webcam to a custom real-time vision model running in the browser.

The Python side reads, runs, trains and writes TensorFlow.js models with PyTorch (CPU); the browser side
(``web/``) runs the same models with TF.js. See README.md for the architecture. The library's front door::

    import huia
    poses = huia.estimate("person.jpg", model="movenet-lightning")        # list[huia.Pose], image pixels
    boxes = huia.Detector.from_dir("runs/kangaroo").predict(huia.load_image("k.jpg"))   # huia.Detections
    model = huia.load_graph_model("model.json")                            # any TF.js graph model, on PyTorch
    out = model({"input": x})                                              # dict of numpy arrays

Every bad input raises :class:`huia.HuiaError` with one line naming the file and the problem. Names are imported
on first use, so ``import huia`` stays light (no torch until a model is needed).
"""

import importlib
import os

__version__ = "0.1.0"

# OpenMP threads that spin while waiting steal the other core on small machines (measured: a PoseNet run went
# from ~2 s to 88 ms under load with this). Set before torch is imported; an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_API = {  # public name -> module that defines it
    "HuiaError": "huia.errors",
    "estimate": "huia.pose", "create_estimator": "huia.pose", "list_estimators": "huia.pose",
    "Pose": "huia.pose", "Keypoint": "huia.pose",
    "Detections": "huia.types", "Sample": "huia.types",
    "Detector": "huia.detect.predict",
    "load_image": "huia.data.images", "load_dataset": "huia.data",
    "ModelArtifacts": "huia.tfjs.artifacts", "load_artifacts": "huia.tfjs.artifacts",
    "save_artifacts": "huia.tfjs.artifacts", "load_graph_model": "huia.tfjs.graph",
    "list_models": "huia.models",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'huia' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_API))
