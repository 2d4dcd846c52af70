"""huia's TF.js graph executor (PyTorch, CPU) against TF.js itself (wasm backend in Node), same models, same inputs.

    .venv/bin/python benchmarks/tfjs_runtime.py [--runs 20] [--rounds 2]

Models: posenet (1x385x385x3 float) and movenet-lightning (1x192x192x3 int32), fed the shared pose photo.
Each round times huia with 1 and with 2 torch threads, then TF.js wasm (single-threaded in Node), after warm-up;
every figure printed is the median over all rounds' runs. The ratio is TF.js ms / huia ms (higher = huia faster),
for huia's better thread setting and for 1 thread (like for like with TF.js's single thread).

OMP_WAIT_POLICY=PASSIVE is set (unless given) before torch loads: on a shared, oversubscribed 2-core machine,
OpenMP's default spin-waiting makes every 2-thread op wait for a descheduled partner and 2-thread runs get 10x
slower; passive waiting costs nothing measurable when the machine is idle.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from huia.paths import HUMAN_MODELS_DIR  # noqa: E402
from huia.tfjs.graph import load_graph_model  # noqa: E402
from tests.oracles.tfjs_node import run_tfjs, time_tfjs  # noqa: E402

SHARED = Path(os.environ.get("HUIA_SHARED", ROOT.parent / "shared")) / "data"
CASES = [("posenet", (1, 385, 385, 3), "float32"), ("movenet-lightning", (1, 192, 192, 3), "int32")]


def make_input(shape, dtype) -> np.ndarray:
    photo = SHARED / "pose-video" / "pose.jpg"
    if photo.is_file():
        from PIL import Image
        img = np.asarray(Image.open(photo).convert("RGB").resize((shape[2], shape[1]), Image.BILINEAR))[None]
    else:
        img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    if dtype == "int32":
        return img.astype(np.int32)
    return (img.astype(np.float32) / 127.5 - 1.0).astype(np.float32)


def time_huia(model, x, runs: int, threads: int, warmup: int = 3) -> list[float]:
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t0) * 1000)
        return times
    finally:
        torch.set_num_threads(old)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="timed runs per setting per round (default 20)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds huia / TF.js (default 2)")
    args = ap.parse_args(argv)

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
          f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    rows = []
    for name, shape, dtype in CASES:
        path = HUMAN_MODELS_DIR / f"{name}.json"
        t0 = time.perf_counter()
        model = load_graph_model(path)
        load_ms = (time.perf_counter() - t0) * 1000
        x = make_input(shape, dtype)
        # same answer first: a fast wrong executor is worth nothing
        ours, ref = model(x), run_tfjs(path, x)
        diff = max(float(np.abs(ours[k].astype(np.float64) - ref[k]).max()) / max(1.0, float(np.abs(ref[k]).max()))
                   for k in ref)
        t1, t2, tj = [], [], []
        for _ in range(args.rounds):
            t1 += time_huia(model, x, args.runs, 1)
            t2 += time_huia(model, x, args.runs, 2)
            tj += time_tfjs(path, x, runs=args.runs, backend="wasm")
        m1, m2, mj = statistics.median(t1), statistics.median(t2), statistics.median(tj)
        rows.append((name, "x".join(map(str, shape)), load_ms, m1, m2, mj, diff))

    print(f"\n{'model':18s} {'input':12s} {'load ms':>8s} {'huia 1T':>9s} {'huia 2T':>9s} {'TF.js wasm':>11s} "
          f"{'ratio best':>10s} {'ratio 1T':>9s} {'rel diff':>9s}")
    for name, shp, load_ms, m1, m2, mj, diff in rows:
        print(f"{name:18s} {shp:12s} {load_ms:8.0f} {m1:9.2f} {m2:9.2f} {mj:11.2f} {mj / min(m1, m2):9.2f}x "
              f"{mj / m1:8.2f}x {diff:9.1e}")
    print("\nmedian ms per inference (numpy in -> numpy out); ratio = TF.js ms / huia ms; rel diff = max|huia - TF.js| "
          "/ max(1, max|TF.js|)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
