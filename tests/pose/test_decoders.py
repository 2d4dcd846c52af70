"""PoseNet decoders: hand-built maps with known answers, properties, and agreement with the reference JS decoders
of @tensorflow-models/posenet 2.2.2 (tests/oracles/posenet_decode.mjs)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huia.errors import HuiaError
from huia.pose.posenet import decode_multiple_poses, decode_single_pose
from huia.pose.spec import COCO_NAMES, keypoint_spec

K = 17
E = 16

# A stick figure on the heatmap grid (cell row, cell col) per COCO part.
SHAPE = np.array([
    [0, 2], [0, 3], [0, 1], [1, 4], [1, 0],  # nose, eyes, ears
    [2, 3], [2, 1], [3, 4], [3, 0], [4, 4], [4, 0],  # shoulders, elbows, wrists
    [5, 3], [5, 1], [6, 3], [6, 1], [7, 3], [7, 1],  # hips, knees, ankles
])


def people_maps(bases, peak_scores, h=20, w=24, stride=16, background=0.05):
    """Heatmaps with one translated copy of SHAPE per person, zero offsets, and constant displacement fields that
    map each parent cell exactly onto its child cell: decoding must give the grid positions back."""
    scores = np.full((h, w, K), background, np.float32)
    for base, s in zip(bases, peak_scores):
        for k, (r, c) in enumerate(SHAPE):
            scores[base[0] + r, base[1] + c, k] = s
    offsets = np.zeros((h, w, 2 * K), np.float32)
    fwd = np.zeros((h, w, 2 * E), np.float32)
    bwd = np.zeros((h, w, 2 * E), np.float32)
    for e, (p, c) in enumerate(keypoint_spec().pose_chain):
        d = (SHAPE[c] - SHAPE[p]) * stride
        fwd[:, :, e], fwd[:, :, E + e] = d[0], d[1]
        bwd[:, :, e], bwd[:, :, E + e] = -d[0], -d[1]
    return scores, offsets, fwd, bwd


def expected_xy(base, stride=16):
    cells = SHAPE + np.asarray(base)
    return np.stack([cells[:, 1] * stride, cells[:, 0] * stride], axis=1).astype(np.float64)


def test_single_pose_known_answer():
    h, w, stride = 9, 11, 8
    scores = np.full((h, w, K), 0.1, np.float32)
    offsets = np.zeros((h, w, 2 * K), np.float32)
    want = []
    rng = np.random.default_rng(1)
    for k in range(K):
        y, x = int(rng.integers(h)), int(rng.integers(w))
        scores[y, x, k] = 0.5 + k / 40
        dy, dx = rng.normal(0, 3, 2).astype(np.float32)
        offsets[y, x, k], offsets[y, x, K + k] = dy, dx
        want.append((x * stride + dx, y * stride + dy, 0.5 + k / 40))
    pose = decode_single_pose(scores, offsets, stride)
    assert [k.name for k in pose.keypoints] == list(COCO_NAMES)
    np.testing.assert_allclose(pose.to_array(), np.array(want), atol=1e-5)
    assert pose.score == pytest.approx(np.mean([s for _, _, s in want]), abs=1e-6)


def test_single_pose_first_maximum_wins():
    scores = np.zeros((4, 4, K), np.float32)
    scores[1, 2, :] = 0.7
    scores[3, 0, :] = 0.7  # same value later in row-major order: tf.argMax keeps the first
    pose = decode_single_pose(scores, np.zeros((4, 4, 2 * K), np.float32), 16)
    assert pose["nose"].x == 32 and pose["nose"].y == 16


def test_multi_pose_two_people_known_answer():
    scores, offsets, fwd, bwd = people_maps([(1, 1), (10, 14)], [0.9, 0.8])
    poses = decode_multiple_poses(scores, offsets, fwd, bwd, 16, max_pose_detections=5, score_threshold=0.5,
                                  nms_radius=20)
    assert len(poses) == 2
    np.testing.assert_allclose(poses[0].to_array()[:, :2], expected_xy((1, 1)))
    np.testing.assert_allclose(poses[1].to_array()[:, :2], expected_xy((10, 14)))
    assert poses[0].score == pytest.approx(0.9, abs=1e-6)
    assert poses[1].score == pytest.approx(0.8, abs=1e-6)


def test_multi_pose_limits_and_threshold():
    scores, offsets, fwd, bwd = people_maps([(1, 1), (10, 14)], [0.9, 0.8])
    assert len(decode_multiple_poses(scores, offsets, fwd, bwd, 16, max_pose_detections=1)) == 1
    # roots of the second person fall below the threshold
    assert len(decode_multiple_poses(scores, offsets, fwd, bwd, 16, score_threshold=0.85)) == 1
    assert decode_multiple_poses(scores, offsets, fwd, bwd, 16, score_threshold=0.95) == []


def test_multi_pose_nms_radius():
    # two people 144 px apart vertically: a 200 px NMS radius suppresses every root of the second one
    scores, offsets, fwd, bwd = people_maps([(1, 1), (10, 1)], [0.9, 0.8])
    assert len(decode_multiple_poses(scores, offsets, fwd, bwd, 16, nms_radius=200)) == 1
    assert len(decode_multiple_poses(scores, offsets, fwd, bwd, 16, nms_radius=20)) == 2
    # squared radius comparison is inclusive: exactly 144 px away is suppressed at radius 144
    assert len(decode_multiple_poses(scores, offsets, fwd, bwd, 16, nms_radius=144)) == 1
    assert len(decode_multiple_poses(scores, offsets, fwd, bwd, 16, nms_radius=143.9)) == 2


def test_instance_score_counts_only_non_overlapping_keypoints():
    scores, offsets, fwd, bwd = people_maps([(1, 1), (10, 14)], [0.9, 0.8])
    # the offset at person 2's left-ankle cell points onto person 1's left ankle: decoding person 2 puts its ankle
    # there (a leaf of the part tree, so nothing else moves), and that keypoint must not count towards its score
    ank = COCO_NAMES.index("left_ankle")
    cell = SHAPE[ank] + np.array([10, 14])
    target = expected_xy((1, 1))[ank]
    offsets[cell[0], cell[1], ank] = target[1] - cell[0] * 16
    offsets[cell[0], cell[1], K + ank] = target[0] - cell[1] * 16
    poses = decode_multiple_poses(scores, offsets, fwd, bwd, 16, nms_radius=20)
    assert len(poses) == 2
    second = poses[1]
    assert (second["left_ankle"].x, second["left_ankle"].y) == (target[0], target[1])
    assert second.score == pytest.approx(0.8 * (K - 1) / K, abs=1e-6)


def test_bad_shapes_raise_clear_errors():
    s = np.zeros((5, 5, K), np.float32)
    with pytest.raises(HuiaError, match="offsets"):
        decode_single_pose(s, np.zeros((5, 5, 17), np.float32), 16)
    with pytest.raises(HuiaError, match="output stride"):
        decode_single_pose(s, np.zeros((5, 5, 34), np.float32), 12)
    with pytest.raises(HuiaError, match="heatmap_scores"):
        decode_single_pose(np.zeros((5, 5)), np.zeros((5, 5, 34), np.float32), 16)
    with pytest.raises(HuiaError, match="displacements_fwd"):
        decode_multiple_poses(s, np.zeros((5, 5, 34)), np.zeros((5, 5, 30)), np.zeros((5, 5, 32)), 16)
    with pytest.raises(HuiaError, match="does not match"):
        decode_multiple_poses(s, np.zeros((5, 6, 34)), np.zeros((5, 5, 32)), np.zeros((5, 5, 32)), 16)
    with pytest.raises(HuiaError, match="parts"):
        decode_multiple_poses(np.zeros((5, 5, 5)), np.zeros((5, 5, 10)), np.zeros((5, 5, 32)),
                              np.zeros((5, 5, 32)), 16)


def random_maps(rng, h, w, stride):
    scores = (1 / (1 + np.exp(-rng.normal(-1, 2, (h, w, K))))).astype(np.float32)
    offsets = rng.normal(0, stride, (h, w, 2 * K)).astype(np.float32)
    fwd = rng.normal(0, 3 * stride, (h, w, 2 * E)).astype(np.float32)
    bwd = rng.normal(0, 3 * stride, (h, w, 2 * E)).astype(np.float32)
    return scores, offsets, fwd, bwd


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), h=st.integers(1, 14), w=st.integers(1, 14), stride=st.sampled_from([8, 16, 32]),
       max_poses=st.integers(1, 12), thr=st.floats(0.05, 0.95), radius=st.floats(1, 60))
def test_multi_pose_properties(seed, h, w, stride, max_poses, thr, radius):
    rng = np.random.default_rng(seed)
    scores, offsets, fwd, bwd = random_maps(rng, h, w, stride)
    poses = decode_multiple_poses(scores, offsets, fwd, bwd, stride, max_poses, thr, radius)
    assert len(poses) <= max_poses
    peaks = scores.max(axis=(0, 1))
    for i, p in enumerate(poses):
        arr = p.to_array()
        assert arr.shape == (K, 3) and np.isfinite(arr).all()
        assert 0 <= p.score <= arr[:, 2].mean() + 1e-9
        # every keypoint score is a heatmap value of its part
        assert (arr[:, 2] <= peaks + 1e-7).all()
        # the root has a score >= threshold
        assert (arr[:, 2] >= np.float32(thr) - 1e-7).any()
        if i == 0:
            assert p.score == pytest.approx(arr[:, 2].mean(), abs=1e-9)
    # roots are visited by decreasing score: the first pose holds the global best local maximum when any exists
    if poses:
        assert poses[0].to_array()[:, 2].max() == pytest.approx(float(scores.max()), abs=1e-7)
    # more allowed detections never removes poses already found
    more = decode_multiple_poses(scores, offsets, fwd, bwd, stride, max_poses + 3, thr, radius)
    for a, b in zip(poses, more):
        np.testing.assert_array_equal(a.to_array(), b.to_array())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), h=st.integers(1, 12), w=st.integers(1, 12), stride=st.sampled_from([8, 16, 32]))
def test_single_pose_properties(seed, h, w, stride):
    rng = np.random.default_rng(seed)
    scores, offsets, _, _ = random_maps(rng, h, w, stride)
    pose = decode_single_pose(scores, offsets, stride)
    arr = pose.to_array()
    np.testing.assert_allclose(arr[:, 2], scores.max(axis=(0, 1)), rtol=0, atol=0)
    # position = cell * stride + that cell's offset, for a cell holding the part's maximum score
    for k in range(K):
        ys, xs = np.nonzero(scores[:, :, k] == scores[:, :, k].max())
        cand = np.stack([xs * stride + offsets[ys, xs, K + k], ys * stride + offsets[ys, xs, k]], axis=1)
        assert np.isclose(cand, arr[k, :2], atol=1e-4).all(axis=1).any()
    assert pose.score == pytest.approx(arr[:, 2].mean(), abs=1e-6)


@pytest.mark.usefixtures("node_modules")
def test_decoders_match_reference_js():
    from tests.oracles.posenet_oracle import run_js_decoder

    rng = np.random.default_rng(1234)
    cases = []
    for i in range(24):
        h, w = (int(v) for v in rng.integers(1, 34, 2))
        stride = [8, 16, 32][i % 3]
        scores, offsets, fwd, bwd = random_maps(rng, h, w, stride)
        if i % 4 == 0:  # many exactly equal scores: the visiting order of tied roots must match the JS heap
            scores = (np.round(scores * 4) / 4).astype(np.float32)
        cases.append(dict(scores=scores, offsets=offsets, fwd=fwd, bwd=bwd, stride=stride, mode="multi",
                          max_poses=int(rng.integers(1, 16)), score_threshold=float(rng.uniform(0.2, 0.9)),
                          nms_radius=float(rng.uniform(2, 50))))
        cases.append(dict(scores=scores, offsets=offsets, stride=stride, mode="single"))
    # the known-answer people too
    s, o, f, b = people_maps([(1, 1), (10, 14)], [0.9, 0.8])
    cases.append(dict(scores=s, offsets=o, fwd=f, bwd=b, stride=16, mode="multi"))
    results, _ = run_js_decoder(cases)
    compared = 0
    for case, ref in zip(cases, results):
        if case["mode"] == "single":
            ours = [decode_single_pose(case["scores"], case["offsets"], case["stride"])]
        else:
            ours = decode_multiple_poses(case["scores"], case["offsets"], case["fwd"], case["bwd"], case["stride"],
                                         case["max_poses"] if "max_poses" in case else 5,
                                         case.get("score_threshold", 0.5), case.get("nms_radius", 20))
        assert len(ours) == len(ref)
        for p, q in zip(ours, ref):
            want = np.array([[k["x"], k["y"], k["score"]] for k in q["keypoints"]])
            np.testing.assert_allclose(p.to_array()[:, :2], want[:, :2], atol=1e-3, rtol=0)
            np.testing.assert_allclose(p.to_array()[:, 2], want[:, 2], atol=1e-6, rtol=0)
            assert p.score == pytest.approx(q["score"], abs=1e-6)
            compared += 1
    assert compared > 60
