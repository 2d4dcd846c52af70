"""Mixed-precision weight storage: uint8 where it is harmless, uint16 where one affine range per tensor is too coarse.

TF.js stores each weight with ONE affine range (``value = q * scale + min``) and dequantizes at load time, but
every tensor may pick its own storage dtype. The TF.js converter's ``--quantize_uint8`` stores every weight as
uint8 (or the ones the user lists by hand). That breaks networks where a few tensors have a wide range but small
important values: a depthwise kernel whose channels differ 100x in scale loses its small channels entirely (the
first depthwise conv of MediaPipe's hand-landmark model takes a 10-class gesture classifier from 97 % to 27 %).

``mixed_precision`` decides per tensor, in one of two ways:

- calibrated (``evaluate`` given, e.g. the model's outputs on a few real inputs): quantize ONE tensor at a time and
  measure how far the outputs move; then promote the most sensitive tensors to the fallback dtype, fewest first
  (bisection on how many), until the all-quantized model's outputs stay within ``tolerance`` of float32.
- data-free (no ``evaluate``): per output channel, the uint8 rounding error relative to that channel's own RMS
  (for vectors: relative to the RMS of the smaller half of the values); a tensor whose worst 10 % of channels
  lose more than ``max_channel_error`` of their signal is kept at the fallback dtype. A heuristic: it finds the
  wide-range tensors but cannot know which errors the rest of the network amplifies — prefer calibration.

Either way the result is a ``quantization`` dict (weight name -> {"dtype": ...}) for
``save_artifacts(art, out, quantize=None)``, readable by stock ``tf.loadGraphModel``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from huia.errors import HuiaError
from huia.tfjs.artifacts import ModelArtifacts, quantize_array

CHANNEL_QUANTILE = 90  # data-free score: this percentile of the per-channel relative errors


def dequantized(arr: np.ndarray, dtype: str) -> np.ndarray:
    """What TF.js will compute with after loading ``arr`` stored as ``dtype`` ("float32": the array itself)."""
    if dtype == "float32":
        return np.asarray(arr, np.float32)
    q, spec = quantize_array(arr, dtype)
    if dtype == "float16":
        return q.astype(np.float32)
    return (q.astype(np.float64) * spec["scale"] + spec["min"]).astype(np.float32)


def _channel_axis_of(art: ModelArtifacts) -> dict[str, str]:
    """weight name -> consuming op (depthwise kernels are H W C M: their channels are C*M, not the last axis)."""
    ops = {}
    for n in art.model_topology.get("node", []):
        for ref in n.get("input", []):
            ops.setdefault(ref.lstrip("^").split(":")[0], n.get("op", ""))
    return ops


def channel_error(arr: np.ndarray, dtype: str = "uint8", op: str = "") -> float:
    """Data-free sensitivity: the CHANNEL_QUANTILE-th percentile over channels of rms(dequantized - w) / rms(w)
    within the channel, for output channels and (kernels, matrices) input channels alike — every channel's
    weights must survive rounding. 1.0 means a channel that rounds to nothing."""
    w = np.asarray(arr, np.float64)
    err = dequantized(arr, dtype).astype(np.float64) - w
    if w.ndim == 4 and "Depthwise" in op:  # H W C M: one filter per (C, M)
        groups = [w.reshape(-1, w.shape[-2] * w.shape[-1])], [err.reshape(-1, w.shape[-2] * w.shape[-1])]
    elif w.ndim in (2, 4):  # HWIO kernels and [in, out] matrices: per output and per input channel
        w2, e2 = w.reshape(-1, w.shape[-2], w.shape[-1]), err.reshape(-1, w.shape[-2], w.shape[-1])
        groups = ([w2.reshape(-1, w.shape[-1]), w2.transpose(0, 2, 1).reshape(-1, w.shape[-2])],
                  [e2.reshape(-1, w.shape[-1]), e2.transpose(0, 2, 1).reshape(-1, w.shape[-2])])
    else:  # vectors (biases, scales): one value per channel; the smaller half of them must survive rounding
        small = np.sort(np.abs(w.reshape(-1)))[: max(1, w.size // 2)]
        rms = np.sqrt(np.mean(small ** 2))
        return float(np.sqrt(np.mean(err ** 2)) / rms) if rms > 0 else 0.0
    worst = 0.0
    for wc, ec in zip(*groups):
        rms = np.sqrt(np.mean(wc ** 2, axis=0))
        rel = np.sqrt(np.mean(ec ** 2, axis=0)) / np.maximum(rms, 1e-30)
        rel[rms == 0] = 0.0
        worst = max(worst, float(np.percentile(rel, CHANNEL_QUANTILE)))
    return worst


def candidates_of(art: ModelArtifacts, min_size: int = 2) -> list[str]:
    """Float32 weights worth quantizing (scalars and tiny tensors stay float32: they cost nothing)."""
    return [k for k, v in art.weights.items() if np.asarray(v).dtype == np.float32 and np.asarray(v).size >= min_size
            and np.isfinite(v).all()]  # (inf/nan have no affine range: those stay float32)


def _deviation(out, ref) -> float:
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-12))


def mixed_precision(art: ModelArtifacts, dtype: str = "uint8", *, fallback: str = "uint16",
                    candidates: list[str] | None = None,
                    evaluate: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
                    tolerance: float = 0.02, max_channel_error: float = 0.1, min_size: int = 2,
                    progress: bool = False) -> tuple[dict[str, dict], dict]:
    """Choose ``dtype`` or ``fallback`` storage per weight. Returns (quantization dict, report).
    ``fallback="float32"`` keeps the promoted tensors unquantized (no entry in the dict): for a requested uint16 or
    float16 whose rounding of a few tensors is already too much (a depthwise kernel with one 200x channel).

    ``candidates``: weights that may be quantized at all (default: every float32 weight with >= ``min_size``
    elements); the others stay float32. ``evaluate(weights) -> array`` runs the model with the given (dequantized)
    weights on calibration inputs; ``tolerance`` bounds max|out - out_float| / max|out_float| of the final mix.
    The report says which tensors were promoted, why, and the resulting deviation (calibrated) or scores.
    """
    if dtype not in ("uint8", "uint16", "float16"):
        raise HuiaError(f"unknown quantization dtype {dtype!r} (choose uint8, uint16 or float16)")
    if fallback not in ("uint8", "uint16", "float16", "float32"):
        raise HuiaError(f"unknown fallback dtype {fallback!r} (choose uint16, float16 or float32)")
    names = candidates_of(art, min_size) if candidates is None else [c for c in candidates if c in art.weights]
    if evaluate is None:
        ops = _channel_axis_of(art)
        scores = {n: channel_error(art.weights[n], dtype, ops.get(n, "")) for n in names}
        promoted = sorted((n for n in names if scores[n] > max_channel_error), key=lambda n: -scores[n])
        report = {"method": "data-free", "max_channel_error": max_channel_error,
                  "promoted": {n: round(scores[n], 4) for n in promoted}}
    else:
        promoted, report = _calibrated(art, names, dtype, fallback, evaluate, tolerance, progress)
    quant = {n: {"dtype": fallback if n in set(promoted) else dtype} for n in names}
    quant = {n: q for n, q in quant.items() if q["dtype"] != "float32"}
    report.update(dtype=dtype, fallback=fallback, tensors=len(names), kept_fallback=len(promoted),
                  fallback_fraction=_fraction(art, names, promoted))
    return quant, report


def _fraction(art: ModelArtifacts, names: list[str], promoted: list[str]) -> float:
    total = sum(art.weights[n].size for n in names)
    return round(sum(art.weights[n].size for n in promoted) / total, 4) if total else 0.0


def _calibrated(art, names, dtype, fallback, evaluate, tolerance, progress) -> tuple[list[str], dict]:
    from huia.train.common import progress as bar

    ref = evaluate(dict(art.weights))
    low = {n: dequantized(art.weights[n], dtype) for n in names}
    high = {n: dequantized(art.weights[n], fallback) for n in names}
    all_low = _deviation(evaluate({**art.weights, **low}), ref)
    if all_low <= tolerance:  # nothing to protect: skip the per-tensor sweep
        return [], {"method": "calibrated", "tolerance": tolerance, "deviation": round(all_low, 5),
                    "deviation_all_low": round(all_low, 5), "promoted": {}, "evaluations": 2}
    sens = {}
    for n in (bar(names, desc=f"{dtype} sensitivity") if progress else names):
        sens[n] = _deviation(evaluate({**art.weights, n: low[n]}), ref)
    order = sorted(names, key=lambda n: -sens[n])

    def deviation_with(k: int) -> float:  # the k most sensitive tensors at the fallback dtype, the rest low
        top = set(order[:k])
        return _deviation(evaluate({**art.weights, **{n: (high[n] if n in top else low[n]) for n in names}}), ref)

    tried = {0: all_low}
    lo, hi = 0, len(order)  # invariant: deviation_with(lo) > tolerance; hi is the smallest known to be within
    tried[hi] = deviation_with(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        tried[mid] = deviation_with(mid)
        if tried[mid] <= tolerance:
            hi = mid
        else:
            lo = mid
    report = {"method": "calibrated", "tolerance": tolerance, "deviation": round(tried[hi], 5),
              "deviation_all_low": round(tried[0], 5),
              "promoted": {n: round(sens[n], 5) for n in order[:hi]}, "evaluations": len(names) + len(tried) + 1}
    return order[:hi], report
