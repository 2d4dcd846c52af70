"""Temporal filters for video: low-pass and one-euro (Casiez et al. 2012), vectorized over keypoint arrays.

The one-euro filter follows the variant used by MediaPipe and TF.js pose-detection: the sampling frequency comes
from the timestamps, the derivative is low-passed at `d_cutoff`, the cutoff grows with speed (`beta`), and an
optional soft threshold (asinh) limits how far one jump can move the value.
"""

from __future__ import annotations

import math

import numpy as np


class LowPassFilter:
    """y = y_prev + alpha * (x - y_prev); the first value passes through. Works on scalars or arrays."""

    def __init__(self, alpha: float):
        self.alpha = alpha
        self.raw = None
        self.stored = None

    def reset(self) -> None:
        self.raw = None
        self.stored = None

    @property
    def initialized(self) -> bool:
        return self.stored is not None

    def apply(self, value, alpha=None, threshold=None):
        if alpha is not None:
            self.alpha = alpha
        value = np.asarray(value, dtype=np.float64)
        if self.stored is None:
            result = value
        elif threshold is None:
            result = self.stored + self.alpha * (value - self.stored)
        else:
            result = self.stored + self.alpha * threshold * np.arcsinh((value - self.stored) / threshold)
        self.raw = value
        self.stored = result
        return result


class OneEuroFilter:
    """One-euro filter over an array of values (e.g. [K, 2] keypoint coordinates), all sharing one clock.

    apply(values, t_seconds) -> filtered values. Timestamps must increase; a repeated or older timestamp returns the
    input unchanged (nothing sensible can be done with it). `frequency` is the initial guess in Hz.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0, frequency: float = 30.0,
                 threshold_cutoff: float | None = None, threshold_beta: float | None = None):
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.threshold_cutoff, self.threshold_beta = threshold_cutoff, threshold_beta
        self.frequency = float(frequency)
        self.x = LowPassFilter(self._alpha(self.min_cutoff))
        self.dx = LowPassFilter(self._alpha(self.d_cutoff))
        self.last_t = 0.0  # as MediaPipe / TF.js: time 0 means "unset", a frame at t=0 passes through untouched

    def _alpha(self, cutoff):
        return 1.0 / (1.0 + self.frequency / (2 * math.pi * cutoff))

    def reset(self) -> None:
        self.x.reset()
        self.dx.reset()
        self.last_t = 0.0

    def apply(self, value, t: float):
        value = np.asarray(value, dtype=np.float64)
        if self.last_t >= t:
            return value
        if self.last_t != 0 and t != 0:
            self.frequency = 1.0 / (t - self.last_t)
        self.last_t = t
        dvalue = (value - self.x.raw) * self.frequency if self.x.initialized else np.zeros_like(value)
        edvalue = self.dx.apply(dvalue, alpha=self._alpha(self.d_cutoff))
        cutoff = self.min_cutoff + self.beta * np.abs(edvalue)
        threshold = None
        if self.threshold_cutoff is not None:
            threshold = self.threshold_cutoff + (self.threshold_beta or 0.0) * np.abs(edvalue)
        return self.x.apply(value, alpha=self._alpha(cutoff), threshold=threshold)


class KeypointSmoother:
    """One-euro smoothing of pose keypoints (x, y) over video frames; scores pass through.

    Default constants come from web/spec/signals.json "keypoint_smoothing" (pixels), shared with the browser.
    """

    def __init__(self, min_cutoff: float | None = None, beta: float | None = None, d_cutoff: float | None = None):
        from huia.pose.spec import signal_spec

        cfg = signal_spec()["keypoint_smoothing"]
        self.params = dict(min_cutoff=cfg["min_cutoff"] if min_cutoff is None else min_cutoff,
                           beta=cfg["beta"] if beta is None else beta,
                           d_cutoff=cfg["d_cutoff"] if d_cutoff is None else d_cutoff,
                           frequency=cfg["frequency"])
        self.filter = OneEuroFilter(**self.params)
        self._k = None

    def reset(self) -> None:
        self.filter.reset()

    def __call__(self, pose, t: float):
        from huia.pose.types import Keypoint, Pose

        arr = pose.to_array()
        if self._k != len(arr):
            self.filter = OneEuroFilter(**self.params)
            self._k = len(arr)
        xy = self.filter.apply(arr[:, :2], t)
        kps = [Keypoint(k.name, float(x), float(y), k.score) for k, (x, y) in zip(pose.keypoints, xy)]
        return Pose(kps, pose.score, pose.box, dict(pose.extra))
