"""Video keypoint smoothing (one-euro, web/spec/signals.json "keypoint_smoothing", used by huia.pose and the browser
for PoseNet single-pose and BlazePose): lag vs jitter for a few `beta` values, in one run.

- lag: BlazePose (or PoseNet) raw keypoints of pose_1.mp4, replayed as a webcam would deliver them (the 4-s video
  looped 3 times, frames sampled at FPS with +-30% timing noise), smoothed, compared with the MoveNet reference
  keypoints of the same frame: mean / p95 / worst per-frame mean error in px. The loop's jump back to frame 0 is
  where a sluggish filter shows.
- jitter: a still pose with 2 px white noise at 30 FPS: mean error after / before smoothing (lower = smoother).

    .venv/bin/python benchmarks/keypoint_smoothing.py [--model blazepose] [--betas 0.01 0.06 0.1] [--fps 30 10 5]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VIDEO = REPO.parent / "shared" / "data" / "pose-video"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="blazepose", choices=["blazepose", "posenet"])
    ap.add_argument("--betas", type=float, nargs="+", default=[0.01, 0.06, 0.1])
    ap.add_argument("--fps", type=float, nargs="+", default=[30.0, 10.0, 5.0])
    args = ap.parse_args(argv)

    from huia.pose.calculators.filters import KeypointSmoother
    from huia.pose.estimate import create_estimator
    from huia.pose.spec import signal_spec
    from huia.pose.types import Keypoint, Pose
    from huia.pose.video import iter_frames

    ref = json.loads((VIDEO / "pose_1.json").read_text())
    names = list(ref[0].keys())
    reference = np.array([[[f[n]["x"], f[n]["y"]] for n in names] for f in ref])
    est = create_estimator(args.model, smoothing=False)
    raw = []
    for f in iter_frames(VIDEO / "pose_1.mp4"):
        p = est.estimate(f.image, t=f.t)
        raw.append(p[0] if p else None)
    n = len(raw)
    base = reference[0]
    print(f"spec beta = {signal_spec()['keypoint_smoothing']['beta']}  ({args.model}, {n} frames)")
    for beta in [None] + args.betas:
        for fps in args.fps:
            rng = np.random.default_rng(0)
            sm = KeypointSmoother(beta=beta) if beta is not None else None
            t, errs = 0.0, []
            while t < 3 * n / 30:
                t += rng.uniform(0.7, 1.3) / fps
                i = int(t * 30) % n
                if raw[i] is None:
                    continue
                p = sm(raw[i], t) if sm else raw[i]
                errs.append(float(np.linalg.norm(p.to_array()[:, :2] - reference[i], axis=1).mean()))
            rng2 = np.random.default_rng(1)
            sm2 = KeypointSmoother(beta=beta) if beta is not None else None
            before, after = [], []
            for k in range(90):
                noisy = base + rng2.normal(0, 2.0, base.shape)
                pose = Pose([Keypoint(nm, float(x), float(y), 1.0) for nm, (x, y) in zip(names, noisy)], 1.0)
                out = sm2(pose, (k + 1) / 30).to_array()[:, :2] if sm2 else noisy
                if k >= 30:
                    before.append(np.abs(noisy - base).mean())
                    after.append(np.abs(out - base).mean())
            jr = float(np.mean(after) / np.mean(before))
            label = "raw" if beta is None else f"beta {beta:g}"
            print(f"{label:>10}  {fps:4.0f} FPS  error mean {np.mean(errs):5.2f}  p95 {np.percentile(errs, 95):5.2f}"
                  f"  worst {max(errs):5.2f} px   jitter after/before {jr:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
