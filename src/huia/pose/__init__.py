"""Pose estimation: PoseNet decoding (single and multi-person), MoveNet, BlazePose, video pipeline, signals.

    >>> from huia.pose import estimate
    >>> poses = estimate("person.jpg", model="movenet-lightning")
    >>> poses[0]["left_wrist"].y
"""

from huia.pose.spec import COCO_NAMES, keypoint_spec, signal_spec
from huia.pose.types import Keypoint, Pose

__all__ = ["Keypoint", "Pose", "COCO_NAMES", "keypoint_spec", "signal_spec", "estimate", "create_estimator",
           "list_estimators"]


from huia.pose.estimate import create_estimator, estimate, list_estimators  # noqa: E402  (function shadows module)
