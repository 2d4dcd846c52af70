"""Interactive signals from a pose, as in the Huia article: where the head points, and "both arms raised".

Head direction uses the article's "rule of three" (a linear proportion between two reference keypoints):
- yaw: the left eye reaching the left ear means the head is fully turned (+1); symmetric for the right side;
  yaw = (s_right - s_left) / (s_right + s_left) with s_left = left_ear.x - left_eye.x and
  s_right = right_eye.x - right_ear.x, so 0 when both eye-ear gaps are equal (facing the camera);
- pitch: the nose sits a little below the eyes at rest; the eyes coming down to the nose means looking fully down
  (-1), the nose twice as far below as at rest means looking up (+1): pitch = (d - d0) / d0 with d the nose-to-eye
  height over the ear-to-ear distance and d0 its resting value.
Both are in image space: +yaw = face turned towards image +x, so mirror x (flip) for a selfie view.

All constants (score floor, resting ratio, hysteresis, debounce, smoothing) live in web/spec/signals.json and are
read by the browser too. Computing is separate from any drawing or UI.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from huia.pose.calculators.filters import OneEuroFilter
from huia.pose.spec import signal_spec
from huia.pose.types import Pose


def _cfg() -> dict:
    return signal_spec()


def _points(pose: Pose, names: list[str], min_score: float):
    pts = {}
    for n in names:
        k = pose.get(n)
        if k is None or k.score < min_score or not np.isfinite(k.x) or not np.isfinite(k.y):
            return None
        pts[n] = (k.x, k.y)
    return pts


@dataclass
class HeadDirection:
    yaw: float | None  # -1..1, +1 = face turned towards image +x
    pitch: float | None  # -1..1, +1 = looking up

    @property
    def valid(self) -> bool:
        return self.yaw is not None and self.pitch is not None


def head_direction(pose: Pose, min_score: float | None = None) -> HeadDirection:
    """Yaw and pitch in -1..1 by the rule of three; None where the face keypoints are not confident enough."""
    cfg = _cfg()
    hd = cfg["head_direction"]
    min_score = cfg["min_keypoint_score"] if min_score is None else min_score
    p = _points(pose, ["nose", "left_eye", "right_eye", "left_ear", "right_ear"], min_score)
    if p is None:
        return HeadDirection(None, None)
    s_left = p["left_ear"][0] - p["left_eye"][0]
    s_right = p["right_eye"][0] - p["right_ear"][0]
    total = s_left + s_right
    ear_span = float(np.hypot(p["left_ear"][0] - p["right_ear"][0], p["left_ear"][1] - p["right_ear"][1]))
    if total <= 1e-6 or ear_span < hd["min_ear_span_px"]:
        return HeadDirection(None, None)
    yaw = float(np.clip((s_right - s_left) / total, -1.0, 1.0))
    eye_y = (p["left_eye"][1] + p["right_eye"][1]) / 2
    d = (p["nose"][1] - eye_y) / ear_span
    d0 = hd["pitch_neutral_ratio"]
    pitch = float(np.clip((d - d0) / d0, -1.0, 1.0))
    return HeadDirection(yaw, pitch)


def arm_heights(pose: Pose, min_score: float | None = None) -> tuple[float | None, float | None]:
    """(left, right): how far each wrist is above its shoulder, in torso lengths (negative = below).

    Torso length = shoulder midpoint to hip midpoint; with hips missing, shoulder width x shoulder_width_to_torso.
    """
    cfg = _cfg()
    ar = cfg["arms_raised"]
    min_score = cfg["min_keypoint_score"] if min_score is None else min_score
    sh = _points(pose, ["left_shoulder", "right_shoulder"], min_score)
    if sh is None:
        return None, None
    ls, rs = np.array(sh["left_shoulder"]), np.array(sh["right_shoulder"])
    hips = _points(pose, ["left_hip", "right_hip"], min_score)
    if hips is not None:
        torso = float(np.linalg.norm((ls + rs) / 2 - (np.array(hips["left_hip"]) + np.array(hips["right_hip"])) / 2))
    else:
        torso = float(np.linalg.norm(ls - rs)) * ar["shoulder_width_to_torso"]
    if torso < 1e-6:
        return None, None
    out = []
    for side, shoulder in (("left", ls), ("right", rs)):
        w = _points(pose, [f"{side}_wrist"], min_score)
        out.append(None if w is None else float((shoulder[1] - w[f"{side}_wrist"][1]) / torso))
    return out[0], out[1]


def arms_raised(pose: Pose, margin: float | None = None) -> bool:
    """Both wrists above the shoulders by more than `margin` torso lengths (one frame, no hysteresis)."""
    margin = _cfg()["arms_raised"]["on_margin"] if margin is None else margin
    left, right = arm_heights(pose)
    return left is not None and right is not None and left > margin and right > margin


class Hysteresis:
    """A boolean that turns on at `enter` and off only below `exit` (enter > exit), so noise near one threshold
    does not make it flicker; optional debounce: the new state must hold for on_frames / off_frames updates."""

    def __init__(self, enter: float, exit: float, on_frames: int = 1, off_frames: int = 1):
        if exit > enter:
            raise ValueError("Hysteresis: exit threshold must not exceed enter threshold")
        self.enter, self.exit, self.on_frames, self.off_frames = enter, exit, on_frames, off_frames
        self.state = False
        self._count = 0

    def reset(self) -> None:
        self.state = False
        self._count = 0

    def update(self, value: float | None) -> bool:
        if value is None:  # nothing seen: counts as "off" (subject to off_frames debounce)
            want = False
        else:
            want = value >= self.enter if not self.state else value >= self.exit
        if want != self.state:
            self._count += 1
            if self._count >= (self.on_frames if want else self.off_frames):
                self.state = want
                self._count = 0
        else:
            self._count = 0
        return self.state


class ArmsRaisedTrigger:
    """Fires once when both arms go up (the Huia bird jumps), re-arms after the arms come down.

    update(pose) -> True only on the frame the gesture is recognised. `.raised` is the debounced state.
    """

    def __init__(self, on_margin: float | None = None, off_margin: float | None = None,
                 on_frames: int | None = None, off_frames: int | None = None):
        ar = _cfg()["arms_raised"]
        self.on_margin = ar["on_margin"] if on_margin is None else on_margin
        self.off_margin = ar["off_margin"] if off_margin is None else off_margin
        self._left = Hysteresis(self.on_margin, self.off_margin)
        self._right = Hysteresis(self.on_margin, self.off_margin)
        self._both = Hysteresis(1.0, 1.0, ar["on_frames"] if on_frames is None else on_frames,
                                ar["off_frames"] if off_frames is None else off_frames)

    @property
    def raised(self) -> bool:
        return self._both.state

    def reset(self) -> None:
        for h in (self._left, self._right, self._both):
            h.reset()

    def update(self, pose: Pose | None) -> bool:
        before = self._both.state
        if pose is None:
            left = right = None
        else:
            left, right = arm_heights(pose)
        up = self._left.update(left) & self._right.update(right)
        now = self._both.update(1.0 if up else 0.0)
        return now and not before


class HeadDirectionTracker:
    """Smoothed head direction for video plus a discrete label ("left"/"right"/"up"/"down"/"center") with
    hysteresis. update(pose, t_seconds) -> (HeadDirection smoothed, label)."""

    def __init__(self):
        hd = _cfg()["head_direction"]
        sm = hd["smoothing"]
        self.filter = OneEuroFilter(sm["min_cutoff"], sm["beta"], sm["d_cutoff"], frequency=sm["frequency"])
        lab = hd["labels"]
        self._h = {name: Hysteresis(lab["enter"], lab["exit"]) for name in ("right", "left", "up", "down")}
        self.last = HeadDirection(None, None)

    def update(self, pose: Pose | None, t: float) -> tuple[HeadDirection, str]:
        hd = head_direction(pose) if pose is not None else HeadDirection(None, None)
        if hd.valid:
            yaw, pitch = self.filter.apply(np.array([hd.yaw, hd.pitch]), t)
            hd = HeadDirection(float(yaw), float(pitch))
        self.last = hd
        values = {"right": hd.yaw, "left": None if hd.yaw is None else -hd.yaw,
                  "up": hd.pitch, "down": None if hd.pitch is None else -hd.pitch}
        states = {name: h.update(values[name]) for name, h in self._h.items()}
        on = [n for n in ("left", "right", "up", "down") if states[n]]
        if not on:
            return hd, "center"
        # strongest active direction wins
        return hd, max(on, key=lambda n: abs(values[n] or 0.0))
