"""huia's numpy COCO box evaluation vs pycocotools' COCOeval, in one run: time (median of repeats) and equality.

    .venv/bin/python benchmarks/coco_eval.py [--images 500] [--classes 5] [--repeats 5]

The data set is synthetic but realistic: per image 0-8 ground-truth boxes, detections = jittered copies (some with
the wrong class), clutter, and a long tail of low-score boxes, up to 120 per image (so maxDets=100 cuts).
pycocotools is only a benchmark/test dependency.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.oracles (pycocotools, the peer)

from huia.eval.coco import coco_evaluate  # noqa: E402
from huia.types import Detections  # noqa: E402

KEYS = ["ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100", "ar_small",
        "ar_medium", "ar_large"]


def make_case(n_images: int, K: int, seed: int):
    rng = np.random.default_rng(seed)
    gts, dets = [], []
    for _ in range(n_images):
        ng = int(rng.integers(0, 9))
        xy = rng.uniform(0, 500, (ng, 2))
        g = np.concatenate([xy, xy + rng.uniform(8, 250, (ng, 2))], 1)
        gc = rng.integers(0, K, ng)
        nd = int(rng.integers(0, 121))
        src = rng.integers(0, max(ng, 1), nd)
        base = g[src] if ng else np.concatenate([xy := rng.uniform(0, 500, (nd, 2)), xy + 50], 1)
        size = np.concatenate([base[:, 2:] - base[:, :2]] * 2, 1)
        d = base + rng.normal(0, 0.12, (nd, 4)) * size
        d[:, 2:] = np.maximum(d[:, 2:], d[:, :2] + 1)
        dc = np.where(rng.random(nd) < 0.1, rng.integers(0, K, nd), gc[src] if ng else rng.integers(0, K, nd))
        s = rng.random(nd) ** 2
        gts.append(Detections(g, None, gc))
        dets.append(Detections(d, s, dc))
    return gts, dets


def run_pycocotools(gts, dets, K):
    from tests.oracles.pycocotools_oracle import cocoeval

    ev = cocoeval(gts, dets, K)
    return np.array(ev.stats), ev.eval["precision"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples to time (default 1000)")
    args = ap.parse_args()
    gts, dets = make_case(args.images, args.classes, args.seed)
    n_det = sum(len(d) for d in dets)
    n_gt = sum(len(g) for g in gts)
    t_huia, t_coco = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = coco_evaluate(gts, dets, num_classes=args.classes)
        t_huia.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        stats, prec = run_pycocotools(gts, dets, args.classes)
        t_coco.append(time.perf_counter() - t0)
    got = np.array([ours[k] for k in KEYS])
    diff_stats = float(np.abs(got - stats).max())
    diff_prec = float(np.abs(ours["_precision_full"] - prec).max())
    mh, mc = statistics.median(t_huia), statistics.median(t_coco)
    print(f"data: {args.images} images, {args.classes} classes, {n_gt} ground-truth boxes, {n_det} detections")
    print(f"huia coco_evaluate : median {mh * 1000:8.1f} ms over {args.repeats} runs")
    print(f"pycocotools COCOeval: median {mc * 1000:8.1f} ms over {args.repeats} runs (evaluate+accumulate+summarize,"
          " incl. building the COCO objects)")
    print(f"speed ratio pycocotools/huia: {mc / mh:.2f}x")
    print(f"max |difference| of the 12 stats: {diff_stats:.3g}; of the full precision array: {diff_prec:.3g}")
    print("AP {ap:.4f}  AP50 {ap50:.4f}  AP75 {ap75:.4f}  AR1 {ar1:.4f}  AR10 {ar10:.4f}  AR100 {ar100:.4f}".format(**ours))
    # the bootstrap intervals `huia detect eval` prints: one accumulate per resample, no re-matching; the peer is
    # what it would cost to run COCOeval once per resample (its median time above x the resamples)
    from huia.eval.coco import bootstrap_intervals

    t0 = time.perf_counter()
    ci = bootstrap_intervals(ours, n=args.resamples)
    tb = time.perf_counter() - t0
    print(f"bootstrap, {args.resamples} resamples of the {args.images} images: {tb:.2f} s "
          f"({tb / args.resamples * 1000:.2f} ms each; COCOeval per resample would take ~{mc * args.resamples:.0f} s); "
          f"AP [{ci['ap'][0]:.4f}, {ci['ap'][1]:.4f}]  AP50 [{ci['ap50'][0]:.4f}, {ci['ap50'][1]:.4f}]")
    ok = diff_stats <= 1e-6 and diff_prec <= 1e-6
    print("EQUAL to 1e-6" if ok else "NOT EQUAL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
