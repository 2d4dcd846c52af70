"""Test oracle: real TF.js in Node (wasm or cpu backend, from web/node_modules).

Tests and benchmarks compare huia against this; the product never calls it. Models are loaded through TF.js's own
HTTP loader reading local files, so a model that passes here loads the same way in a browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "tfjs_run.mjs"
REPO_ROOT = HERE.parent.parent
_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.uint8}


class TFJSError(RuntimeError):
    pass


def _as_inputs(inputs) -> list[tuple[str, np.ndarray]]:
    if isinstance(inputs, dict):
        return list(inputs.items())
    if isinstance(inputs, (list, tuple)):
        return [("", np.asarray(a)) for a in inputs]
    return [("", np.asarray(inputs))]


def _write_array(job_dir: Path, stem: str, name: str, arr: np.ndarray) -> dict:
    arr = np.asarray(arr)
    if arr.dtype == np.bool_:
        dtype = "bool"
    elif np.issubdtype(arr.dtype, np.integer):
        dtype = "int32"
    else:
        dtype = "float32"
    file = f"{stem}.bin"
    (job_dir / file).write_bytes(np.ascontiguousarray(arr, dtype=_DTYPES[dtype]).tobytes())
    return {"name": name, "file": file, "dtype": dtype, "shape": [int(d) for d in arr.shape]}


def _signature_map(model_json: Path) -> dict[str, str]:
    """Signature output key -> graph node name (without ':0')."""
    try:
        doc = json.loads(Path(model_json).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    outs = (doc.get("signature") or {}).get("outputs") or {}
    return {k: v.get("name", k).split(":")[0] for k, v in outs.items()}


def _run_job(job: dict, arrays: list[tuple[str, np.ndarray]], extra: dict | None = None, timeout: float = 600) -> tuple[dict, Path]:
    if shutil.which("node") is None:
        raise TFJSError("node is not on PATH")
    job_dir = Path(tempfile.mkdtemp(prefix="huia-tfjs-"))
    job["inputs"] = [_write_array(job_dir, f"in_{i}", name, a) for i, (name, a) in enumerate(arrays)]
    if extra:
        job.update({k: _write_array(job_dir, k, k, v) for k, v in extra.items()})
    (job_dir / "job.json").write_text(json.dumps(job))
    env = dict(os.environ)
    proc = subprocess.run(["node", str(SCRIPT), str(job_dir)], capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        err = (job_dir / "error.txt").read_text() if (job_dir / "error.txt").exists() else proc.stderr
        shutil.rmtree(job_dir, ignore_errors=True)
        raise TFJSError(f"TF.js failed on {job.get('model')}: {err.strip()[:4000]}")
    return json.loads((job_dir / "result.json").read_text()), job_dir


def _read_outputs(result: dict, job_dir: Path) -> dict[str, np.ndarray]:
    out = {}
    for spec in result["outputs"]:
        raw = (job_dir / spec["file"]).read_bytes()
        arr = np.frombuffer(raw, dtype=_DTYPES[spec["dtype"]]).reshape(spec["shape"]).copy()
        out[spec["name"]] = arr.astype(np.bool_) if spec["dtype"] == "bool" else arr
    return out


def run_tfjs(model_json, inputs, outputs: list[str] | None = None, *, kind: str = "graph",
             backend: str = "wasm") -> dict[str, np.ndarray]:
    """Run a model in TF.js and return {output name: array}.

    ``outputs``: graph node names (':0' optional) or signature output keys; the result is keyed by the names asked
    for (without ':0'). Default: the model's own outputs, keyed by node name (graph) or output layer name (layers).
    """
    model_json = Path(model_json)
    sig = _signature_map(model_json) if kind == "graph" else {}
    wanted = None
    if outputs:
        wanted = [n.split(":")[0] for n in outputs]
        node_names = [sig.get(n, n) for n in wanted]
    else:
        node_names = None
    job = {"model": str(model_json), "kind": kind, "backend": backend, "mode": "run", "outputs": node_names}
    result, job_dir = _run_job(job, _as_inputs(inputs))
    try:
        got = _read_outputs(result, job_dir)
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
    if wanted is None:
        return {k.split(":")[0]: v for k, v in got.items()}
    return {w: got[n] for w, n in zip(wanted, node_names)}


def time_tfjs(model_json, inputs, runs: int = 20, *, kind: str = "graph", backend: str = "wasm",
              warmup: int = 3, outputs: list[str] | None = None) -> list[float]:
    """Milliseconds per inference (incl. reading the outputs back), after warm-up."""
    job = {"model": str(model_json), "kind": kind, "backend": backend, "mode": "time", "runs": runs,
           "warmup": warmup, "outputs": outputs}
    result, job_dir = _run_job(job, _as_inputs(inputs))
    shutil.rmtree(job_dir, ignore_errors=True)
    return result["times_ms"]


def train_layers_tfjs(model_json, x: np.ndarray, y: np.ndarray, *, epochs: int = 10, lr: float = 1e-3,
                      batch_size: int = 32, loss: str = "categoricalCrossentropy", backend: str = "cpu") -> dict:
    """Train a layers model further in TF.js: returns {"losses": [...per epoch], "predictions": array}."""
    job = {"model": str(model_json), "kind": "layers", "backend": backend, "mode": "train", "epochs": epochs,
           "lr": lr, "batchSize": batch_size, "loss": loss}
    result, job_dir = _run_job(job, [("", x)], extra={"target": y})
    try:
        preds = _read_outputs(result, job_dir)["predictions"]
    finally:
        shutil.rmtree(job_dir, ignore_errors=True)
    return {"losses": result["losses"], "predictions": preds}
