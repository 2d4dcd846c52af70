"""Classifier benchmarks: held-out accuracy and training wall time for the gesture (sign digits) and pose tasks, the
accuracy-vs-shots curve (5/10/20/50 per class) as a PNG, and export size/accuracy for float32/float16/uint16/uint8
(huia's mixed-precision uint8 vs pure per-tensor uint8 as the TF.js converter's --quantize_uint8 stores it).

    .venv/bin/python benchmarks/classifiers.py [--shots 5 10 20 50] [--seeds 0] [--views 4] [--quant-images 200]

Peer measured in the same run on the same files: a plain linear probe (logistic regression, no augmentation) on
handlandmark-full's global-average-pool features of the same N training photos — the baseline the gesture task
must beat (issue 6 quotes 98.8 % @20, 97.8 % @10, 96 % @5). Every accuracy is on photos NOT used for training.
Backbone features are cached by content (HUIA_CACHE_DIR), so the first shot count pays for feature extraction
and the training times of later ones show the head alone; both are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from huia.classify import dataset as D  # noqa: E402
from huia.classify.evaluate import evaluate_run, held_out_samples  # noqa: E402
from huia.classify.predict import load_run  # noqa: E402
from huia.classify.train import compute_features, train_run  # noqa: E402

SHARED = Path(os.environ.get("HUIA_SHARED", ROOT.parent / "shared")) / "data"
OUT = ROOT / "test-output" / "benchmarks" / "classifiers"


def linear_probe(run_dir: Path, data: Path) -> float:
    """The peer: logistic regression on GAP features (no landmarks, no augmentation) of the run's training files."""
    run = load_run(run_dir)
    ds = D.load_dataset(data, labels=run.labels, quiet=True)
    held, _ = held_out_samples(run.config, ds)
    trained = {t["path"] for t in run.config["trained_on"]}
    train = [s for s in ds.samples if str(s.image_path.resolve()) in trained]
    gap = run.model.backbone.spec.feature_dim
    Xtr, _ = compute_features(run.model, "image", train, 224, desc="probe train")
    Xte, _ = compute_features(run.model, "image", held, 224, desc="probe test")
    Xtr, Xte = Xtr[:, :gap], Xte[:, :gap]
    m, s = Xtr.mean(0), Xtr.std(0) + 1e-3
    Xtr, Xte = torch.from_numpy((Xtr - m) / s), torch.from_numpy((Xte - m) / s)
    ytr, yte = torch.from_numpy(ds.targets(train)), ds.targets(held)
    torch.manual_seed(0)
    lin = torch.nn.Linear(gap, len(run.labels))
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(lin(Xtr), ytr).backward()
        opt.step()
    with torch.no_grad():
        return float((lin(Xte).argmax(1).numpy() == yte).mean())


def gesture(args) -> dict:
    data = SHARED / "sign-digits"
    rows = []
    for seed in args.seeds:
        for shots in sorted(args.shots):
            run = OUT / f"digits-s{shots}-seed{seed}"
            t0 = time.time()
            m = train_run(data, run, task="image", shots=shots, seed=seed, views=args.views, quiet=True)
            wall = time.time() - t0
            rep = evaluate_run(run, data)
            probe = linear_probe(run, data)
            rows.append({"shots": shots, "seed": seed, "accuracy": rep["accuracy"], "probe": probe,
                         "held_out": rep["samples"], "train_seconds": m["train_seconds"], "wall": round(wall, 1),
                         "errors": len(rep["errors"])})
            print(f"gesture shots={shots:>2} seed={seed}: huia {rep['accuracy']:.4f} vs linear probe {probe:.4f} "
                  f"on {rep['samples']} held-out photos; train {m['train_seconds']:.0f}s", flush=True)
    return {"rows": rows}


def plot_curve(rows: list[dict], out_png: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shots = sorted({r["shots"] for r in rows})
    med = lambda key, n: statistics.median(r[key] for r in rows if r["shots"] == n)  # noqa: E731
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(shots, [100 * med("accuracy", n) for n in shots], "o-", label="huia classify (image task)")
    ax.plot(shots, [100 * med("probe", n) for n in shots], "s--", label="linear probe on GAP features (peer)")
    ax.axhline(99.5, color="grey", lw=0.8, ls=":", label="target @20: 99.5 %")
    ax.set_xscale("log")
    ax.set_xticks(shots)
    ax.set_xticklabels([str(n) for n in shots])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("training photos per class")
    ax.set_ylabel("held-out top-1 accuracy (%)")
    ax.set_title("Sign-language digits (10 classes), held-out photos")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


def pose(args) -> dict:
    from huia.classify.posedata import build_pose_dataset

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        counts = build_pose_dataset(root, SHARED / "pose-video" / "pose_1.mp4", SHARED / "pose-video" / "pose_1.json")
        print(f"pose data (train/test split in time, mirrored): {json.dumps(counts)}")
        for task in ("keypoints", "skeleton"):
            run = OUT / f"pose-{task}"
            t0 = time.time()
            m = train_run(root / "train", run, task=task, views=args.views, seed=0, quiet=True)
            wall = time.time() - t0
            rep = evaluate_run(run, root / "test")
            out[task] = {"accuracy": rep["accuracy"], "held_out": rep["samples"], "train_seconds": m["train_seconds"],
                         "wall": round(wall, 1)}
            print(f"pose {task:>9}: held-out accuracy {rep['accuracy']:.4f} on {rep['samples']} test frames; "
                  f"train {m['train_seconds']:.0f}s", flush=True)
    return out


def quantization(args, run_dir: Path) -> dict:
    """Export the run at float32/uint16/uint8 and measure size + accuracy of each export (run by huia's graph
    executor, which matches TF.js — see tests/classify/test_export.py) on held-out photos."""
    from huia.classify.export import export_run
    from huia.classify.predict import run_inputs
    from huia.tfjs.artifacts import load_artifacts
    from huia.tfjs.graph import GraphModel

    run = load_run(run_dir)
    data = SHARED / "sign-digits"
    ds = D.load_dataset(data, labels=run.labels, quiet=True)
    held, _ = held_out_samples(run.config, ds)
    rng = np.random.default_rng(0)
    pick = sorted(rng.choice(len(held), min(args.quant_images, len(held)), replace=False))
    held = [held[i] for i in pick]
    y = ds.targets(held)
    x = run_inputs(run, held)
    res, res_paths = {}, {}
    for q in ("float32", "float16", "uint16", "uint8", "uint8-pure"):
        if q == "uint8-pure":  # the peer: TF.js converter-style --quantize_uint8, every candidate tensor uint8
            from huia.tfjs.artifacts import save_artifacts

            art = load_artifacts(res_paths["float32"])
            art.quantization = {k: {"dtype": "uint8"} for k in load_artifacts(res_paths["uint8"]).quantization}
            path = save_artifacts(art, OUT / f"export-{q}")
        else:
            t0 = time.time()
            path = export_run(run_dir, OUT / f"export-{q}", quantize=q)
            print(f"export {q:>7}: {time.time() - t0:.1f}s", flush=True)
        res_paths[q] = path
        size = sum(p.stat().st_size for p in path.parent.iterdir())
        g = GraphModel(load_artifacts(path))
        probs = np.concatenate([g({"image": x[i:i + 16]}, outputs=["probabilities"])["probabilities"]
                                for i in range(0, len(x), 16)])
        res[q] = {"bytes": size, "accuracy": float((probs.argmax(1) == y).mean()), "images": len(held)}
        mixed = load_artifacts(path).user_defined_metadata.get("huia", {}).get("mixed_precision")
        if mixed:
            res[q]["kept_uint16"] = mixed["kept_fallback"]
        print(f"export {q:>10}: {size / 1e6:.2f} MB, accuracy {res[q]['accuracy']:.4f} on {len(held)} held-out photos"
              + (f" ({mixed['kept_fallback']} of {mixed['tensors']} tensors kept uint16)" if mixed else ""), flush=True)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shots", type=int, nargs="+", default=[5, 10, 20, 50])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--quant-images", type=int, default=200)
    ap.add_argument("--skip", nargs="*", default=[], choices=["gesture", "pose", "quant"])
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results = {}
    if "pose" not in args.skip:
        results["pose"] = pose(args)
    if "gesture" not in args.skip:
        results["gesture"] = gesture(args)
        rows = results["gesture"]["rows"]
        plot_curve(rows, OUT / "accuracy_vs_shots.png")
        print("\nshots  huia(median)  probe(median)  error ratio probe/huia")
        for n in sorted({r["shots"] for r in rows}):
            a = statistics.median(r["accuracy"] for r in rows if r["shots"] == n)
            p = statistics.median(r["probe"] for r in rows if r["shots"] == n)
            ratio = (1 - p) / max(1 - a, 1e-9)
            print(f"{n:>5}  {a:.4f}        {p:.4f}         {ratio:.2f}x fewer errors")
        print(f"curve: {OUT / 'accuracy_vs_shots.png'}")
    if "quant" not in args.skip:
        run20 = OUT / f"digits-s20-seed{args.seeds[0]}"
        if (run20 / "model.pt").is_file():
            results["quantization"] = quantization(args, run20)
    (OUT / "results.json").write_text(json.dumps(results, indent=1))
    print(f"results: {OUT / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
