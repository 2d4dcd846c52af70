"""Pose / Keypoint types and the shared keypoint spec."""

from __future__ import annotations

import json

import numpy as np
import pytest

from huia import paths
from huia.pose import COCO_NAMES, Keypoint, Pose, keypoint_spec


def test_spec_is_read_from_keypoints_json():
    doc = json.loads((paths.SPEC_DIR / "keypoints.json").read_text())
    spec = keypoint_spec()
    assert list(spec.names) == doc["coco17"]["names"] == list(COCO_NAMES)
    assert len(spec.pose_chain) == 16 and len(spec.edges) == len(doc["coco17"]["edges"])
    # the PoseNet part tree is a tree rooted at the nose: every part but the nose has exactly one parent
    children = sorted(int(c) for c in spec.pose_chain[:, 1])
    assert children == list(range(1, 17))


def test_pose_round_trips():
    arr = np.column_stack([np.arange(17) * 2.5, np.arange(17) * 1.5, np.linspace(0, 1, 17)])
    pose = Pose.from_array(arr, box=(0, 0, 40, 24))
    assert pose.score == pytest.approx(0.5)
    np.testing.assert_allclose(pose.to_array(), arr)
    doc = pose.to_json()
    assert doc["keypoints"][3] == {"name": "left_ear", "x": 7.5, "y": 4.5, "score": 0.1875}
    back = Pose.from_json(json.loads(json.dumps(doc)))
    np.testing.assert_allclose(back.to_array(), arr, atol=1e-3)
    assert back.box == (0, 0, 40, 24)
    assert pose["left_ear"] == Keypoint("left_ear", 7.5, 4.5, 0.1875)
    assert pose.get("tail") is None
    flipped = pose.flipped(100)
    assert flipped["nose"].x == 99 and flipped.box == (59, 0, 99, 24)
    s = pose.scaled(2, 3, 1, -1)
    assert (s["left_ear"].x, s["left_ear"].y) == (16.0, 12.5)
    with pytest.raises(ValueError):
        Pose.from_array(np.zeros((17, 4)))
    with pytest.raises(ValueError):
        Pose.from_array(np.zeros((3, 3)), names=["a", "b"])
