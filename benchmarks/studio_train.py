"""Training from the studio's Capture page: wall time from the Train click (POST /api/datasets/D/train) to the
held-out result, against the same walk typed as four CLI commands (`huia data split --by time`, `classify train`,
`classify eval --json`, `export --quantize uint16`) in the same run. Same data, same seed: the two give the same
held-out accuracy (printed), so the ratio is the cost or saving of running it as a studio job (one child process
that imports torch once, against four processes).

Data: real frames of ../shared/data/pose-video/pose_1.mp4 with their reference keypoints, three classes by the
wrist-height rule, each frame also mirrored (huia.classify.posedata), posted through the capture API.

    .venv/bin/python benchmarks/studio_train.py [--every 2] [--repeats 3] [--tasks keypoints,skeleton]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "pose-video"


def post_frames(client, dataset: str, root: Path) -> int:
    client.post("/api/datasets", json={"name": dataset}).raise_for_status()
    n = 0
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        for jpg in sorted(d.glob("*.jpg")):
            kps = json.loads(jpg.with_suffix(".json").read_text())["keypoints"]
            r = client.post(f"/api/datasets/{dataset}/samples",
                            files={"image": ("f.jpg", jpg.read_bytes(), "image/jpeg")},
                            data={"label": d.name, "model": "reference",
                                  "keypoints": json.dumps({"score": 0.9, "keypoints": kps})})
            r.raise_for_status()
            n += 1
    return n


def studio_job(client, dataset: str, name: str, task: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = client.post(f"/api/datasets/{dataset}/train", json={"name": name, "task": task})
    r.raise_for_status()
    jid = r.json()["id"]
    while True:
        j = client.get(f"/api/jobs/{jid}").json()
        if j["status"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    if j["status"] != "done":
        raise SystemExit(f"studio job {name} {j['status']}: {j['error']}")
    return time.perf_counter() - t0, j["result"]


def cli_walk(captures: Path, work: Path, task: str) -> tuple[float, dict]:
    huia = [sys.executable, "-m", "huia"]
    split, run, export = work / "split", work / "run", work / "export"
    t0 = time.perf_counter()
    for argv in (["data", "split", str(captures), "--out", str(split), "--train", "0.8", "--by", "time"],
                 ["classify", "train", "--data", str(split / "train"), "--out", str(run), "--task", task]):
        subprocess.run(huia + argv, check=True, capture_output=True)
    ev = subprocess.run(huia + ["classify", "eval", str(run), "--data", str(split / "test"), "--json"], check=True,
                        capture_output=True, text=True)
    subprocess.run(huia + ["export", str(run), "--out", str(export), "--quantize", "uint16"], check=True,
                   capture_output=True)
    return time.perf_counter() - t0, json.loads(ev.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=int, default=2, help="take every Nth video frame (default 2: ~120 captures)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tasks", default="keypoints,skeleton")
    args = ap.parse_args()
    if not (SHARED / "pose_1.mp4").is_file():
        print(f"skipped: {SHARED} is missing")
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    from huia.classify.posedata import build_pose_dataset
    from huia.server.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_pose_dataset(tmp / "frames", SHARED / "pose_1.mp4", SHARED / "pose_1.json", train_fraction=1.0,
                           every=args.every)
        app = create_app(tmp / "data")
        with TestClient(app) as c:
            n = post_frames(c, "poses", tmp / "frames" / "train")
            captures = tmp / "data" / "datasets" / "poses"
            print(f"{n} captures in 3 classes (pose_1.mp4, one frame in {args.every}, each also mirrored)")
            print(f"{'task':<10} {'studio job s (median)':>22} {'CLI walk s (median)':>20} {'ratio':>6}  "
                  "held-out accuracy job / CLI")
            for task in args.tasks.split(","):
                job_t, cli_t = [], []
                for k in range(args.repeats):  # alternate, so machine load falls on both alike
                    t, res = studio_job(c, "poses", f"bench-{task}-{k}", task)
                    job_t.append(t)
                    t, ev = cli_walk(captures, tmp / f"cli-{task}-{k}", task)
                    cli_t.append(t)
                jm, cm = statistics.median(job_t), statistics.median(cli_t)
                print(f"{task:<10} {jm:>22.2f} {cm:>20.2f} {jm / cm:>6.2f}  {res['accuracy']:.3f} (n {res['n']}) / "
                      f"{ev['accuracy']:.3f} (n {ev['samples']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
