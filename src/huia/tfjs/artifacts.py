"""The TF.js model format on disk: ``model.json`` plus binary weight shards.

Why our own reader/writer: the ``tensorflowjs`` pip package drags in TensorFlow and does not even import on a fresh
install today. The format itself is small: a JSON file whose ``weightsManifest`` lists groups of weights, each group
stored as the concatenation of its shard files (``group1-shard1of3.bin`` …), every weight laid out back to back in
little-endian bytes, optionally quantized (uint8/uint16 affine: ``value = q * scale + min``, or float16).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from huia.errors import HuiaError

MiB = 1024 * 1024
DEFAULT_SHARD_BYTES = 4 * MiB  # the TF.js converter's default, and the detection article's "4 MB shards"

# Stored dtypes TF.js understands, and the numpy dtype of their bytes.
_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("u1")}
_QUANT_DTYPES = {"uint8": np.dtype("u1"), "uint16": np.dtype("<u2"), "float16": np.dtype("<f2")}
QUANTIZATION_DTYPES = tuple(_QUANT_DTYPES)


@dataclass
class ModelArtifacts:
    """A TF.js model in memory. ``weights`` hold plain arrays (already dequantized, in their original dtype);
    ``quantization`` remembers how each weight was stored so that a read → write round trip is bit-exact."""

    format: str
    model_topology: dict
    weights: dict[str, np.ndarray]
    quantization: dict[str, dict] = field(default_factory=dict)
    signature: dict | None = None
    user_defined_metadata: dict | None = None
    generated_by: str | None = None
    converted_by: str | None = None
    extra: dict = field(default_factory=dict)  # any other top-level model.json keys (trainingConfig, modelInitializer …)
    path: Path | None = None
    shard_paths: list[str] = field(default_factory=list)  # as listed in the manifest that was read

    @property
    def is_graph_model(self) -> bool:
        return self.format == "graph-model" or "node" in self.model_topology

    def nbytes(self) -> int:
        """Bytes of the weights as stored (quantized weights count their stored size)."""
        total = 0
        for name, arr in self.weights.items():
            q = self.quantization.get(name)
            itemsize = _QUANT_DTYPES[q["dtype"]].itemsize if q else _DTYPES[_dtype_name(arr, name)].itemsize
            total += int(arr.size) * itemsize
        return total


def _dtype_name(arr: np.ndarray, name: str) -> str:
    if arr.dtype == np.float32 or arr.dtype == np.float64 or arr.dtype == np.float16:
        return "float32"
    if arr.dtype == np.bool_:
        return "bool"
    if np.issubdtype(arr.dtype, np.integer):
        return "int32"
    raise HuiaError(f"weight {name!r} has dtype {arr.dtype}, which TF.js cannot store (float32, int32, bool)")


def resolve_model_json(path: str | Path) -> Path:
    """Accept a model.json path or a folder holding exactly one model.json-like file."""
    p = Path(path)
    if p.is_dir():
        if (p / "model.json").is_file():
            return p / "model.json"
        candidates = sorted(p.glob("*.json"))
        if len(candidates) == 1:
            return candidates[0]
        raise HuiaError("folder has no model.json", p)
    if not p.is_file():
        raise HuiaError("no such file", p)
    return p


def read_model_json(path: str | Path) -> dict:
    """model.json parsed and its structure checked (types of the topology, nodes, signature and manifest), so that
    nothing downstream meets a string where it expects a list: a bad file is one line naming what is wrong."""
    p = resolve_model_json(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise HuiaError(f"not a text JSON file ({exc.reason})", p) from None
    except json.JSONDecodeError as exc:
        raise HuiaError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", p) from None
    except RecursionError:
        raise HuiaError("JSON nested too deeply to be a model", p) from None
    if not isinstance(doc, dict) or "modelTopology" not in doc:
        raise HuiaError("not a TF.js model.json (no modelTopology)", p)
    if not isinstance(doc.get("weightsManifest", []), list):
        raise HuiaError("weightsManifest must be a list of weight groups", p)
    _check_topology(doc["modelTopology"], p)
    _check_signature(doc.get("signature"), p)
    return doc


def _check_topology(topo: Any, p: Path) -> None:
    if not isinstance(topo, dict):
        raise HuiaError("modelTopology must be an object", p)
    if "node" in topo:  # a graph model
        nodes = topo["node"]
        if not isinstance(nodes, list):
            raise HuiaError("modelTopology.node must be a list of nodes", p)
        for i, n in enumerate(nodes):
            if not isinstance(n, dict):
                raise HuiaError(f"graph node {i + 1} is not an object", p)
            name = n.get("name")
            if not isinstance(name, str) or not name:
                raise HuiaError(f"graph node {i + 1} has no name (a non-empty string)", p)
            if not isinstance(n.get("op"), str) or not n["op"]:
                raise HuiaError(f"graph node {name!r} has no op (a string)", p)
            ins = n.get("input", [])
            if not isinstance(ins, list) or not all(isinstance(r, str) and r for r in ins):
                raise HuiaError(f"graph node {name!r}: input must be a list of node names", p)
            if not isinstance(n.get("attr") or {}, dict):
                raise HuiaError(f"graph node {name!r}: attr must be an object", p)
        return
    cfg = topo.get("model_config", topo)  # a layers model
    if not isinstance(cfg, dict):
        raise HuiaError("modelTopology.model_config must be an object", p)
    inner = cfg.get("config")
    layers = inner.get("layers", []) if isinstance(inner, dict) else inner
    if layers is not None and (not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers)):
        raise HuiaError("the layers model's config.layers must be a list of layer objects", p)


def _check_signature(sig: Any, p: Path) -> None:
    if sig is None:
        return
    if not isinstance(sig, dict):
        raise HuiaError("signature must be an object", p)
    for part in ("inputs", "outputs"):
        specs = sig.get(part)
        if specs is not None and (not isinstance(specs, dict) or not all(isinstance(v, dict) for v in specs.values())):
            raise HuiaError(f"signature.{part} must map names to tensor specs (objects)", p)


@dataclass(frozen=True)
class _WeightLayout:
    """Where one weight sits in its group's bytes and how to read it, from its manifest entry (checked)."""
    name: str
    shape: tuple[int, ...]
    dtype: str              # what the weight is (float32, int32, bool)
    stored: np.dtype        # what its bytes are (the dtype, or the quantized one)
    quantization: dict | None
    nbytes: int


MAX_DIMS = 32  # numpy allows 64; no real weight comes near


def _weight_layout(spec: Any, where: Path, seen: set[str]) -> _WeightLayout:
    if not isinstance(spec, dict):
        raise HuiaError("weightsManifest has a weight entry that is not an object", where)
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise HuiaError(f"weightsManifest has a weight without a name (a string): {str(spec)[:80]}", where)
    if name in seen:
        raise HuiaError(f"weight {name!r} is listed twice in weightsManifest", where)
    seen.add(name)
    shape, dtype = spec.get("shape"), spec.get("dtype")
    if (not isinstance(shape, list) or len(shape) > MAX_DIMS
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)):
        raise HuiaError(f"weight {name!r} in weightsManifest lacks a valid shape (a list of at most {MAX_DIMS} "
                        f"integers), got {str(shape)[:80]}", where)
    if any(d < 0 for d in shape):
        raise HuiaError(f"weight {name!r} has a negative dimension {shape}", where)
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise HuiaError(f"weight {name!r} has unsupported dtype {dtype!r} (supported: float32, int32, bool)", where)
    q = spec.get("quantization")
    if q:
        if not isinstance(q, dict):
            raise HuiaError(f"weight {name!r}: quantization must be an object", where)
        qdtype = q.get("dtype")
        if not isinstance(qdtype, str) or qdtype not in _QUANT_DTYPES:
            raise HuiaError(f"weight {name!r} has unknown quantization dtype {qdtype!r} "
                            f"(supported: {', '.join(_QUANT_DTYPES)})", where)
        if qdtype != "float16":
            try:
                scale, qmin = float(q["scale"]), float(q["min"])
            except (KeyError, TypeError, ValueError):
                raise HuiaError(f"weight {name!r}: {qdtype} quantization needs numeric 'scale' and 'min'",
                                where) from None
            if not (math.isfinite(scale) and math.isfinite(qmin)):
                raise HuiaError(f"weight {name!r}: quantization scale and min must be finite, got "
                                f"{q['scale']!r}, {q['min']!r}", where)
        stored = _QUANT_DTYPES[qdtype]
    else:
        q, stored = None, _DTYPES[dtype]
    return _WeightLayout(name, tuple(shape), dtype, stored, dict(q) if q else None,
                         math.prod(shape) * stored.itemsize)


def credit(base_generated_by: str | None, how: str) -> str:
    """``generatedBy`` of a model huia made from another: huia's, with the upstream model still credited
    ("huia (fine-tuned from google/mediapipe)"); a model huia already made keeps its line."""
    base = base_generated_by or "a TF.js model"
    return base if base.startswith("huia") else f"huia ({how} {base})"


def manifest_groups(doc: dict, mj: Path) -> list[tuple[list[str], list[_WeightLayout]]]:
    """(shard file names, weight layouts) of each weightsManifest group, checked before any shard is read:
    - a shard is a plain file name inside the model folder (as the TF.js converter writes them; ``./name``, as
      TF.js's browser downloads write them, is the same). A name such as
      ``../x.bin`` or ``/etc/passwd`` would make the loader -- and the studio, which serves user models -- read a
      file the model does not own;
    - every weight entry is well formed, and the shards' sizes (a stat, not a read) add up to the bytes the entries
      describe: a 2 GiB shard behind a 40-byte manifest is refused without reading it."""
    groups = []
    seen: set[str] = set()
    for gi, group in enumerate(doc.get("weightsManifest", [])):
        if not isinstance(group, dict):
            raise HuiaError(f"weightsManifest group {gi + 1} is not an object", mj)
        paths, specs = group.get("paths", []), group.get("weights", [])
        if not isinstance(paths, list) or not isinstance(specs, list):
            raise HuiaError(f"weightsManifest group {gi + 1} needs lists 'paths' and 'weights'", mj)
        held = 0
        # TF.js's own writers (model.save('downloads://...'), browserFiles) name shards "./<name>": same folder
        paths = [rel[2:] if isinstance(rel, str) and rel.startswith("./") else rel for rel in paths]
        for rel in paths:
            if (not isinstance(rel, str) or not rel or "/" in rel or "\\" in rel or rel.startswith(".")
                    or "\0" in rel):
                raise HuiaError(f"weightsManifest names a shard outside the model folder: {rel!r}", mj)
            shard = mj.parent / rel
            if not shard.is_file():
                raise HuiaError(f"weight shard {rel!r} listed in weightsManifest is missing", mj)
            if shard.resolve().parent != mj.parent.resolve():
                raise HuiaError(f"weight shard {rel!r} links outside the model folder", mj)
            held += shard.stat().st_size
        where = mj.parent / paths[0] if len(paths) == 1 else mj
        layouts = [_weight_layout(spec, where, seen) for spec in specs]
        described = sum(w.nbytes for w in layouts)
        if described > held:
            raise HuiaError(f"weight data too short: weight group {gi + 1}'s manifest describes {described} bytes "
                            f"but its shards hold {held} (missing or truncated shard?)", where)
        if described < held:
            raise HuiaError(f"weight group {gi + 1}: manifest describes {described} bytes but shards hold {held}", mj)
        groups.append((paths, layouts))
    return groups


def _decode_weight(buf: memoryview, w: _WeightLayout) -> np.ndarray:
    """One weight from its bytes (``buf`` starts at it); same arithmetic as TF.js for quantized ones."""
    count = math.prod(w.shape)
    raw = np.frombuffer(buf[:w.nbytes], dtype=w.stored, count=count)
    q = w.quantization
    if q and q["dtype"] == "float16":
        arr = raw.astype(np.float32)
    elif q:
        # value = q * scale + min in double precision, then stored as float32 (or Math.round-ed for int32 weights)
        arr = raw.astype(np.float64) * float(q["scale"]) + float(q["min"])
        arr = np.floor(arr + 0.5).astype(np.int32) if w.dtype == "int32" else arr.astype(np.float32)
    else:
        arr = raw.copy()
        if w.dtype == "bool":
            arr = arr.astype(np.bool_)
    return arr.reshape(w.shape)


def load_artifacts(path: str | Path) -> ModelArtifacts:
    """Read model.json and its shards. Errors name the file and the problem in one line."""
    mj = resolve_model_json(path)
    doc = read_model_json(mj)
    base = mj.parent
    weights: dict[str, np.ndarray] = {}
    quant: dict[str, dict] = {}
    shard_paths: list[str] = []
    for paths, layouts in manifest_groups(doc, mj):
        shard_paths.extend(paths)
        data = memoryview(b"".join((base / rel).read_bytes() for rel in paths))
        if len(data) != sum(w.nbytes for w in layouts):  # changed on disk since the stat
            raise HuiaError("a weight shard changed while it was being read", mj)
        offset = 0
        for w in layouts:
            weights[w.name] = _decode_weight(data[offset:], w)
            offset += w.nbytes
            if w.quantization:
                quant[w.name] = w.quantization
    known = {"format", "generatedBy", "convertedBy", "modelTopology", "weightsManifest", "signature",
             "userDefinedMetadata"}
    fmt = doc.get("format") or ("graph-model" if "node" in doc["modelTopology"] else "layers-model")
    if not isinstance(fmt, str):
        raise HuiaError(f"format must be a string such as 'graph-model', got {fmt!r}", mj)
    return ModelArtifacts(
        format=fmt,
        model_topology=doc["modelTopology"],
        weights=weights,
        quantization=quant,
        signature=doc.get("signature"),
        user_defined_metadata=doc.get("userDefinedMetadata"),
        generated_by=doc.get("generatedBy"),
        converted_by=doc.get("convertedBy"),
        extra={k: v for k, v in doc.items() if k not in known},
        path=mj,
        shard_paths=shard_paths,
    )


def affine_quantization_range(vmin: float, vmax: float, qdtype: str) -> tuple[float, float]:
    """(min, scale) the way the TF.js converter picks them: the range is nudged so that 0.0 is exactly
    representable (zero padding, ReLU outputs and biases of 0 stay exact)."""
    qmax = 255 if qdtype == "uint8" else 65535
    vmin, vmax = min(float(vmin), 0.0), max(float(vmax), 0.0)
    if vmax == vmin:
        return vmin, 1.0
    scale = (vmax - vmin) / qmax
    zero_point = round(-vmin / scale)
    return -zero_point * scale, scale


def quantize_array(arr: np.ndarray, qdtype: str, qmin: float | None = None, scale: float | None = None
                   ) -> tuple[np.ndarray, dict]:
    """Quantize a float array for storage. Returns (stored array, quantization spec)."""
    a = np.asarray(arr, dtype=np.float32)
    if qdtype == "float16":
        return a.astype("<f2"), {"dtype": "float16", "original_dtype": "float32"}
    if qdtype not in ("uint8", "uint16"):
        raise HuiaError(f"unknown quantization dtype {qdtype!r} (choose uint8, uint16 or float16)")
    if qmin is None or scale is None:
        qmin, scale = affine_quantization_range(a.min() if a.size else 0.0, a.max() if a.size else 0.0, qdtype)
    top = 255 if qdtype == "uint8" else 65535
    q = np.clip(np.round((a - np.float32(qmin)) / np.float32(scale)), 0, top).astype(_QUANT_DTYPES[qdtype])
    return q, {"dtype": qdtype, "min": float(qmin), "scale": float(scale), "original_dtype": "float32"}


def _affine_ok(arr: np.ndarray, qdtype: str) -> bool:
    """uint8/uint16 store ``q * scale + min``: a tensor holding inf or nan (NanoDet pads max-pooling with -inf)
    has no such range and stays float32; float16 stores inf and nan as they are."""
    return qdtype == "float16" or arr.dtype.kind != "f" or bool(np.isfinite(arr).all())


def _encode(name: str, arr: np.ndarray, q: dict | None) -> tuple[dict, bytes]:
    dtype = _dtype_name(arr, name)
    spec: dict[str, Any] = {"name": name, "shape": [int(d) for d in arr.shape], "dtype": dtype}
    if q and dtype == "float32":
        stored, qspec = quantize_array(arr, q["dtype"], q.get("min"), q.get("scale"))
        spec["quantization"] = qspec
        return spec, stored.tobytes()
    return spec, np.ascontiguousarray(arr, dtype=_DTYPES[dtype]).tobytes()


def save_artifacts(art: ModelArtifacts, out_dir: str | Path, *, quantize: str | None = None,
                   shard_bytes: int = DEFAULT_SHARD_BYTES, quantize_min_size: int = 0) -> Path:
    """Write ``out_dir/model.json`` and ``group1-shardNofM.bin``.

    quantize: None keeps each weight's stored quantization (a re-write of a read model is bit-exact);
    "float32" stores everything unquantized; "uint8"/"uint16"/"float16" quantizes every float32 weight afresh
    (weights smaller than ``quantize_min_size`` elements stay float32).
    Written to a temporary folder first and renamed, so a failure never leaves a half-written model.
    """
    if shard_bytes <= 0:
        raise HuiaError(f"shard size must be positive, got {shard_bytes}")
    specs, blobs = [], []
    for name, arr in art.weights.items():
        arr = np.asarray(arr)
        if quantize is None:
            q = art.quantization.get(name)
        elif quantize == "float32":
            q = None
        elif quantize in _QUANT_DTYPES:
            q = {"dtype": quantize} if arr.size >= quantize_min_size and _affine_ok(arr, quantize) else None
        else:
            raise HuiaError(f"unknown quantization {quantize!r} (choose uint8, uint16, float16 or float32)")
        spec, blob = _encode(name, arr, q)
        specs.append(spec)
        blobs.append(blob)
    data = b"".join(blobs)
    n_shards = max(1, math.ceil(len(data) / shard_bytes))
    names = [f"group1-shard{i + 1}of{n_shards}.bin" for i in range(n_shards)]
    doc: dict[str, Any] = {"format": art.format}
    doc["generatedBy"] = art.generated_by or "huia"
    doc["convertedBy"] = art.converted_by or "huia"
    doc["modelTopology"] = art.model_topology
    doc.update(art.extra)
    doc["weightsManifest"] = [{"paths": names, "weights": specs}]
    if art.signature is not None:
        doc["signature"] = art.signature
    if art.user_defined_metadata is not None:
        doc["userDefinedMetadata"] = art.user_defined_metadata

    out = _replaceable_model_dir(Path(out_dir))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's 0700 would survive the rename: a web server could not read it
    try:
        for i, shard_name in enumerate(names):
            (tmp / shard_name).write_bytes(data[i * shard_bytes:(i + 1) * shard_bytes])
        (tmp / "model.json").write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "model.json"


# what a model folder holds (save_artifacts' files; labels.json from classifier exports): a folder with only these
# is a previous model and may be replaced; anything else in it is somebody's data
_MODEL_FILE = re.compile(r"^(model\.json|labels\.json|group\d+-shard\d+of\d+\.bin)$")


def _replaceable_model_dir(out: Path) -> Path:
    """``out`` if writing a model there cannot destroy anything but an older model. A whole folder is replaced
    (so stale shards never linger), so a folder holding anything else -- ``--out huia-data/exports`` instead of
    ``.../exports/poses`` -- is refused rather than emptied."""
    if out.name in ("", ".", "..") or out.resolve() == Path.cwd().resolve():
        raise HuiaError("refusing to write a model over the current folder or one of its parents; name a new "
                        "folder, e.g. --out exports/my-model", out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise HuiaError("exists and is not a folder; refusing to replace it", out)
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if not (p.is_file() and _MODEL_FILE.match(p.name)))
        if others:
            shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            raise HuiaError(f"exists and holds other things than a model ({shown}); refusing to replace it -- "
                            "give a new or empty folder, or a previous export", out)
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
