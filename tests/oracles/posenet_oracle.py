"""Python side of tests/oracles/posenet_decode.mjs: run the reference JS PoseNet decoders on numpy maps."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parent / "posenet_decode.mjs"


def run_js_decoder(cases: list[dict], bench_runs: int = 0, timeout: float = 300) -> tuple[list, list]:
    """cases: dicts with scores [H,W,17], offsets [H,W,34], fwd/bwd [H,W,32] (float32), stride, mode
    ("single"|"multi"), max_poses, score_threshold, nms_radius. Returns (poses per case, bench ms per case);
    poses are lists of {"score", "keypoints": [{"y", "x", "score"}]} in model-input pixels."""
    job_dir = Path(tempfile.mkdtemp(prefix="huia-posenet-"))
    try:
        job_cases = []
        for i, c in enumerate(cases):
            h, w = c["scores"].shape[:2]
            fwd = c.get("fwd", np.zeros((h, w, 32), np.float32))
            bwd = c.get("bwd", np.zeros((h, w, 32), np.float32))
            blob = b"".join(np.ascontiguousarray(a, dtype=np.float32).tobytes()
                            for a in (c["scores"], c["offsets"], fwd, bwd))
            (job_dir / f"case_{i}.bin").write_bytes(blob)
            job_cases.append({"file": f"case_{i}.bin", "h": int(h), "w": int(w), "stride": int(c["stride"]),
                              "mode": c.get("mode", "multi"), "maxPoses": int(c.get("max_poses", 5)),
                              "scoreThreshold": float(c.get("score_threshold", 0.5)),
                              "nmsRadius": float(c.get("nms_radius", 20))})
        (job_dir / "job.json").write_text(json.dumps({"cases": job_cases, "benchRuns": int(bench_runs)}))
        proc = subprocess.run(["node", str(SCRIPT), str(job_dir)], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            err = job_dir / "error.txt"
            raise RuntimeError((err.read_text() if err.exists() else proc.stderr)[:4000])
        result = json.loads((job_dir / "result.json").read_text())
        return result["results"], result["benchMs"]
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
