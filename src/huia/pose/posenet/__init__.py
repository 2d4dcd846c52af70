"""PoseNet (PersonLab-style) decoding and the MobileNetV1 PoseNet estimator with atrous output strides."""

from huia.pose.posenet.decode_multi import decode_multiple_poses
from huia.pose.posenet.decode_single import decode_single_pose

__all__ = ["decode_single_pose", "decode_multiple_poses"]
