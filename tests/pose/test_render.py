"""Skeleton rendering: colours from web/spec/keypoints.json, thickness, score filtering, fitting; drawing does
not touch its input."""

from __future__ import annotations

import numpy as np
import pytest

from huia.pose.render import draw_poses, render_skeleton
from huia.pose.spec import keypoint_spec
from huia.pose.types import Pose
from tests.pose.test_signals import make_pose


def _midpoint(pose: Pose, a: str, b: str) -> tuple[int, int]:
    return int(round((pose[a].x + pose[b].x) / 2)), int(round((pose[a].y + pose[b].y) / 2))


def test_limb_colours_come_from_the_spec():
    spec = keypoint_spec()
    pose = make_pose()
    img = render_skeleton(pose, size=(340, 200), thickness=5)
    assert img.shape == (340, 200, 3) and img.dtype == np.uint8
    for (a, b), part in zip(spec.edges, spec.edge_parts):
        na, nb = spec.names[a], spec.names[b]
        x, y = _midpoint(pose, na, nb)
        if part == "face":
            continue  # short face edges run under the joint dots
        assert tuple(img[y, x]) == tuple(spec.part_colors[part]), (na, nb, part)
    # joints in the joint colour, background untouched far from the body
    assert tuple(img[int(pose["left_knee"].y), int(pose["left_knee"].x)]) == tuple(spec.joint_color)
    assert tuple(img[5, 5]) == (0, 0, 0)


def test_thickness_and_min_score():
    pose = make_pose()
    thin = render_skeleton(pose, size=(340, 200), thickness=2)
    thick = render_skeleton(pose, size=(340, 200), thickness=8)
    assert (thick.sum(axis=2) > 0).sum() > 2 * (thin.sum(axis=2) > 0).sum()
    low = make_pose(left_wrist=(145, 170, 0.1))
    img = render_skeleton(low, size=(340, 200), thickness=4, min_score=0.3)
    x, y = _midpoint(low, "left_elbow", "left_wrist")
    assert tuple(img[y, x]) == (0, 0, 0)  # limb to a low-score wrist is not drawn


def test_fit_and_rescale():
    pose = make_pose()
    img = render_skeleton(pose.scaled(0.2, 0.2), size=(224, 224), fit=True, margin=0.1)
    ys, xs = np.nonzero(img.sum(axis=2))
    # the skeleton fills the canvas height minus margins (plus the joint radius)
    assert ys.min() < 0.15 * 224 and ys.max() > 0.85 * 224
    assert abs((xs.min() + xs.max()) / 2 - 112) < 4
    # image_size rescales from source pixels to the canvas
    big = render_skeleton(pose, size=(170, 100), image_size=(340, 200), thickness=2)
    ys, xs = np.nonzero(big.sum(axis=2))
    assert ys.max() < 170 and abs(ys.max() - 155) < 5
    with pytest.raises(ValueError):
        render_skeleton(np.zeros((17, 4)))


def test_draw_poses_copies_and_draws_boxes():
    img = np.full((340, 200, 3), 30, np.uint8)
    before = img.copy()
    pose = make_pose()
    pose.box = (50.0, 30.0, 150.0, 320.0)
    out = draw_poses(img, [pose], thickness=3)
    np.testing.assert_array_equal(img, before)
    assert (out != img).any()
    assert tuple(out[100, 50]) == (255, 215, 0)  # box edge
    # NaN keypoints are skipped, not drawn at 0,0
    nan = make_pose(nose=(float("nan"), float("nan")))
    out = draw_poses(np.zeros((340, 200, 3), np.uint8), [nan], thickness=3, boxes=False)
    assert tuple(out[0, 0]) == (0, 0, 0)
