"""Pose benchmarks: PoseNet multi-pose decoding vs the reference JS decoder, end-to-end FPS per model, and the
keypoint error of each model's video pipeline on pose_1.mp4 against the MoveNet reference output.

    .venv/bin/python benchmarks/pose.py [--runs 200] [--fps-frames 20] [--video-frames 120] [--skip-video]

Decode: real PoseNet maps (three_people.jpg at 513 px, output stride 16 -> 33x33), both decoders timed in this
run on the same maps (JS: @tensorflow-models/posenet 2.2.2 in Node, after JIT warm-up). Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data" / "pose-video"


def bench_decode(runs: int) -> None:
    from huia.pose.estimate import load_rgb
    from huia.pose.posenet import decode_multiple_poses
    from huia.pose.posenet.model import PoseNet
    from tests.oracles.posenet_oracle import run_js_decoder

    pn = PoseNet(multi=True, input_resolution=513)
    x, *_ = pn.prepare(load_rgb(SHARED / "three_people.jpg"))
    maps = pn.run_model(x.astype(np.float32))
    s, o, f, b = maps["heatmap"], maps["offsets"], maps["fwd"], maps["bwd"]
    print(f"decode: maps {s.shape[0]}x{s.shape[1]}, stride 16, max 5 poses, threshold 0.5, nms 20")
    case = dict(scores=s, offsets=o, fwd=f, bwd=b, stride=16, mode="multi", max_poses=5, score_threshold=0.5,
                nms_radius=20)
    ref, js_times = run_js_decoder([case], bench_runs=runs)
    ours = decode_multiple_poses(s, o, f, b, 16, 5, 0.5, 20)
    same = len(ours) == len(ref[0]) and all(
        np.abs(p.to_array()[:, :2] - np.array([[k["x"], k["y"]] for k in q["keypoints"]])).max() < 1e-3
        for p, q in zip(ours, ref[0]))
    for _ in range(20):
        decode_multiple_poses(s, o, f, b, 16, 5, 0.5, 20)
    py = []
    for _ in range(runs):
        t0 = time.perf_counter()
        decode_multiple_poses(s, o, f, b, 16, 5, 0.5, 20)
        py.append((time.perf_counter() - t0) * 1e3)
    js_med, py_med = statistics.median(js_times[0]), statistics.median(py)
    print(f"  huia (numpy)      median {py_med:.3f} ms")
    print(f"  posenet 2.2.2 JS  median {js_med:.3f} ms")
    print(f"  ratio huia/JS {py_med / js_med:.2f}  (poses {len(ours)}, identical to JS: {same})")


def bench_fps(frames: int) -> None:
    import os

    from huia.pose import create_estimator
    from huia.pose.video import iter_frames

    imgs = [f for f in iter_frames(SHARED / "pose_1.mp4", max_frames=frames)]
    configs = [("movenet-lightning", {}), ("movenet-thunder", {}), ("posenet", {}),
               ("posenet", {"output_stride": 8}), ("posenet", {"output_stride": 32}),
               ("posenet", {"multi": True}), ("movenet-multipose", {"multi": True}), ("blazepose", {})]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"end-to-end FPS on pose_1.mp4 (576x576), {frames} frames, video mode "
          f"(torch threads {__import__('torch').get_num_threads()}, load average {load:.1f}):")
    for name, opts in configs:
        est = create_estimator(name, **opts)
        est.reset()
        est.estimate(imgs[0].image, t=imgs[0].t)  # warm-up
        est.reset()
        t0, c0 = time.perf_counter(), time.process_time()
        for fr in imgs:
            est.estimate(fr.image, t=fr.t)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        label = name + "".join(f" {k}={v}" for k, v in opts.items())
        # CPU time is reported too: on a shared machine wall-clock FPS mostly measures the other processes
        print(f"  {label:34s} {len(imgs) / dt:6.1f} fps  ({dt / len(imgs) * 1e3:7.1f} ms/frame wall, "
              f"{dc / len(imgs) * 1e3:7.1f} ms/frame CPU)")


def bench_video_error(max_frames: int) -> None:
    from huia.pose import create_estimator
    from huia.pose.spec import COCO_NAMES
    from huia.pose.video import estimate_video

    ref = json.loads((SHARED / "pose_1.json").read_text())
    want = np.array([[[f[n]["x"], f[n]["y"]] for n in COCO_NAMES] for f in ref])[:max_frames]
    print(f"keypoint error vs pose_1.json (MoveNet Lightning reference), {len(want)} frames:")
    for name, opts in [("movenet-lightning", {}), ("movenet-lightning", {"smoothing": False}),
                       ("movenet-thunder", {}), ("posenet", {}), ("posenet", {"output_stride": 8}),
                       ("blazepose", {})]:
        frames = estimate_video(SHARED / "pose_1.mp4", create_estimator(name, **opts), max_frames=max_frames)
        got = np.array([p[0].to_array()[:, :2] if p else np.full((17, 2), np.nan) for p in frames])
        err = np.linalg.norm(got - want, axis=2)
        label = name + "".join(f" {k}={v}" for k, v in opts.items())
        print(f"  {label:34s} mean {np.nanmean(err):5.2f} px  worst frame {np.nanmax(np.nanmean(err, axis=1)):5.2f}"
              f" px  worst keypoint {np.nanmax(err):6.1f} px  missed frames {int(np.isnan(err[:, 0]).sum())}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--fps-frames", type=int, default=20)
    ap.add_argument("--video-frames", type=int, default=120)
    ap.add_argument("--skip-video", action="store_true")
    ap.add_argument("--skip-fps", action="store_true")
    args = ap.parse_args()
    bench_decode(args.runs)
    if not args.skip_fps:
        bench_fps(args.fps_frames)
    if not args.skip_video:
        bench_video_error(args.video_frames)


if __name__ == "__main__":
    main()
