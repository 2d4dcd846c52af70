"""Signals (head direction by the rule of three, arms-raised trigger with hysteresis), filters and smoothing."""

from __future__ import annotations

import numpy as np
import pytest

from huia.pose.calculators.filters import KeypointSmoother, LowPassFilter, OneEuroFilter
from huia.pose.signals import (ArmsRaisedTrigger, HeadDirectionTracker, Hysteresis, arm_heights, arms_raised,
                               head_direction)
from huia.pose.spec import COCO_NAMES, signal_spec
from huia.pose.types import Pose


def make_pose(**points) -> Pose:
    """A frontal standing person (image pixels, y down); override any keypoint with name=(x, y[, score])."""
    base = {
        "nose": (100, 50), "left_eye": (108, 44), "right_eye": (92, 44), "left_ear": (120, 48), "right_ear": (80, 48),
        "left_shoulder": (130, 90), "right_shoulder": (70, 90), "left_elbow": (140, 130), "right_elbow": (60, 130),
        "left_wrist": (145, 170), "right_wrist": (55, 170), "left_hip": (120, 190), "right_hip": (80, 190),
        "left_knee": (120, 250), "right_knee": (80, 250), "left_ankle": (120, 310), "right_ankle": (80, 310),
    }
    base.update(points)
    arr = [(*base[n][:2], base[n][2] if len(base[n]) > 2 else 0.9) for n in COCO_NAMES]
    return Pose.from_array(np.array(arr, dtype=float))


def test_signal_constants_are_shared_json():
    cfg = signal_spec()
    assert 0 < cfg["head_direction"]["labels"]["exit"] < cfg["head_direction"]["labels"]["enter"] <= 1
    assert cfg["arms_raised"]["off_margin"] < cfg["arms_raised"]["on_margin"]


def test_head_direction_rule_of_three():
    d0 = signal_spec()["head_direction"]["pitch_neutral_ratio"]
    span = 40.0  # ear to ear
    # frontal, nose below the eyes by the resting ratio: yaw 0, pitch 0
    hd = head_direction(make_pose(nose=(100, 44 + d0 * span)))
    assert hd.yaw == pytest.approx(0.0, abs=1e-9) and hd.pitch == pytest.approx(0.0, abs=1e-9)
    # left eye reaches the left ear: fully turned towards +x
    assert head_direction(make_pose(left_eye=(120, 44))).yaw == pytest.approx(1.0)
    # right eye reaches the right ear: fully turned towards -x
    assert head_direction(make_pose(right_eye=(80, 44))).yaw == pytest.approx(-1.0)
    # half way (linear): left gap 6 vs right gap 12 -> (12 - 6) / 18
    assert head_direction(make_pose(left_eye=(114, 44))).yaw == pytest.approx(6 / 18)
    # eyes down at the nose: looking fully down; nose twice as far below as at rest: fully up
    assert head_direction(make_pose(nose=(100, 44))).pitch == pytest.approx(-1.0)
    assert head_direction(make_pose(nose=(100, 44 + 2 * d0 * span))).pitch == pytest.approx(1.0)
    assert head_direction(make_pose(nose=(100, 44 + 5 * d0 * span))).pitch == 1.0  # clipped
    # a missing (low score) ear: unknown, not a guess
    hd = head_direction(make_pose(left_ear=(120, 48, 0.05)))
    assert hd.yaw is None and hd.pitch is None and not hd.valid


def test_arms_raised_single_frame():
    down = make_pose()
    up = make_pose(left_wrist=(140, 30), right_wrist=(60, 30))
    one_up = make_pose(left_wrist=(140, 30))
    assert not arms_raised(down)
    assert arms_raised(up)
    assert not arms_raised(one_up)
    left, right = arm_heights(up)
    assert left == pytest.approx((90 - 30) / 100) and right == pytest.approx(0.6)


def test_hysteresis_and_debounce():
    h = Hysteresis(0.5, 0.3)
    seq = [0.2, 0.55, 0.45, 0.35, 0.31, 0.29, 0.45, 0.5]
    assert [h.update(v) for v in seq] == [False, True, True, True, True, False, False, True]
    d = Hysteresis(0.5, 0.3, on_frames=2, off_frames=3)
    seq = [0.6, 0.1, 0.6, 0.6, 0.1, 0.1, 0.6, 0.1, 0.1, 0.1]
    assert [d.update(v) for v in seq] == [False, False, False, True, True, True, True, True, True, False]
    with pytest.raises(ValueError):
        Hysteresis(0.3, 0.5)


def test_arms_raised_trigger_fires_once_per_gesture():
    cfg = signal_spec()["arms_raised"]
    trig = ArmsRaisedTrigger()
    down = make_pose()
    up = make_pose(left_wrist=(140, 30), right_wrist=(60, 30))
    # wrists just above the on-margin, then hovering between off and on margins: stays raised, no re-trigger
    hover_y = 90 - 100 * (cfg["off_margin"] + cfg["on_margin"]) / 2
    hover = make_pose(left_wrist=(140, hover_y), right_wrist=(60, hover_y))
    frames = [down, up] + [up] * cfg["on_frames"] + [hover] * 5 + [down] * (cfg["off_frames"] + 1) + [up] * 4
    fired = [trig.update(p) for p in frames]
    assert sum(fired) == 2
    first = fired.index(True)
    assert first == cfg["on_frames"]  # debounced: needs on_frames consecutive frames with both arms up
    # a lost person (None) releases the trigger after off_frames
    trig.reset()
    for p in [up] * (cfg["on_frames"] + 1):
        trig.update(p)
    assert trig.raised
    for _ in range(cfg["off_frames"]):
        trig.update(None)
    assert not trig.raised


def test_head_direction_tracker_labels():
    tr = HeadDirectionTracker()
    t = 0.0
    label = None
    for _ in range(30):
        t += 1 / 30
        _, label = tr.update(make_pose(left_eye=(120, 44)), t)
    assert label == "right"  # yaw +1 = towards image +x
    for _ in range(30):
        t += 1 / 30
        hd, label = tr.update(make_pose(nose=(100, 44 + 0.14 * 40)), t)
    assert label == "center" and abs(hd.yaw) < 0.3
    _, label = tr.update(None, t + 1)
    assert label == "center"


def test_low_pass_and_one_euro_filters():
    lp = LowPassFilter(0.5)
    assert lp.apply(10.0) == 10.0
    assert lp.apply(20.0) == 15.0
    # one-euro: a constant signal stays constant; noise is reduced; a step is followed (no lag at rest)
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    noisy = 5.0 + rng.normal(0, 1, 300)
    out = np.array([f.apply(v, (i + 1) / 30) for i, v in enumerate(noisy)])
    assert out[50:].std() < 0.5 * noisy[50:].std()
    f = OneEuroFilter(min_cutoff=1.0, beta=0.5)
    step = np.r_[np.zeros(30), np.full(60, 100.0)]
    out = np.array([f.apply(v, (i + 1) / 30) for i, v in enumerate(step)])
    assert abs(out[-1] - 100) < 1.0
    # non-increasing timestamps pass the value through untouched
    assert f.apply(42.0, 1.0) == 42.0
    # arrays: every element filtered independently with one clock
    g = OneEuroFilter(min_cutoff=1.0)
    a = g.apply(np.array([[0.0, 10.0]]), 1 / 30)
    b = g.apply(np.array([[1.0, 10.0]]), 2 / 30)
    assert a.shape == b.shape == (1, 2) and 0 < b[0, 0] < 1 and b[0, 1] == 10.0


def test_keypoint_smoother_reduces_jitter():
    rng = np.random.default_rng(1)
    sm = KeypointSmoother()
    base = make_pose().to_array()
    raw, smooth = [], []
    for i in range(90):
        noisy = base.copy()
        noisy[:, :2] += rng.normal(0, 2.0, (17, 2))
        p = Pose.from_array(noisy)
        raw.append(noisy[:, :2])
        smooth.append(sm(p, (i + 1) / 30).to_array()[:, :2])
    raw_err = np.abs(np.array(raw[30:]) - base[:, :2]).mean()
    smooth_err = np.abs(np.array(smooth[30:]) - base[:, :2]).mean()
    assert smooth_err < 0.7 * raw_err
