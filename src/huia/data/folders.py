"""Classification data: one folder per class (``DIR/<label>/*.jpg``), and the studio's capture format, which is the
same layout plus an optional keypoints sidecar ``DIR/<label>/<id>.json`` beside ``<id>.jpg``.

Sidecar JSON (written by the studio's capture API and by ``huia data augment``)::

    {"label": "wave", "width": 640, "height": 480, "model": "movenet-lightning", "score": 0.71,
     "keypoints": [{"name": "nose", "x": 301.5, "y": 122.0, "score": 0.93}, ...]}

Keypoint coordinates are image pixels (pixel centres at +0.5, i.e. a box/continuous frame). Also accepted:
``"keypoints": [[x, y, score], ...]`` with ``"keypoint_names"``; ``"poses": [{"score", "keypoints"}, ...]`` (the
highest-scoring pose is used, all are kept in ``meta["poses"]``); ``"normalized": true`` for 0..1 coordinates.
Files at the top level (LICENSE, README, an index database) are ignored; inside a class folder every file must be
an image or a sidecar, anything else is reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from huia.data.base import copy_image
from huia.data.images import image_size, is_image_file
from huia.data.voc import write_image_file
from huia.data.writer import DatasetWriter, UniqueNames
from huia.errors import HuiaError
from huia.types import Sample

IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini"}


def is_class_folder_root(root: str | Path) -> bool:
    root = Path(root)
    if not root.is_dir():
        return False
    return any(d.is_dir() and not d.name.startswith(".") and any(is_image_file(f) for f in d.iterdir())
               for d in root.iterdir())


def parse_keypoints_json(data: dict, where: str | Path) -> tuple[np.ndarray | None, list[str] | None, dict]:
    """Sidecar dict -> ``(keypoints [K,3] or None, names or None, extra meta)``. Raises HuiaError if malformed."""
    extra: dict = {}
    if not isinstance(data, dict):
        raise HuiaError("keypoints JSON must be an object", where)
    kps = data.get("keypoints")
    names = data.get("keypoint_names")
    if kps is None and isinstance(data.get("poses"), list):
        poses = [q for q in data["poses"] if isinstance(q, dict) and q.get("keypoints")]
        extra["poses"] = poses
        if poses:
            best = max(poses, key=lambda q: float(q.get("score", 0) or 0))
            kps = best["keypoints"]
            extra["pose_score"] = float(best.get("score", 0) or 0)
    if kps is None or (isinstance(kps, list) and not kps):
        return None, None, extra
    if not isinstance(kps, list):
        raise HuiaError("'keypoints' must be a list", where)
    try:
        if isinstance(kps[0], dict):
            names = [str(k.get("name", i)) for i, k in enumerate(kps)]
            arr = np.array([[float(k["x"]), float(k["y"]), float(k.get("score", 1.0))] for k in kps], np.float32)
        else:
            arr = np.array([[float(v) for v in (list(k) + [1.0])[:3]] for k in kps], np.float32)
    except (KeyError, TypeError, ValueError) as exc:
        raise HuiaError(f"malformed keypoints ({exc})", where) from exc
    if not np.isfinite(arr).all():
        raise HuiaError("keypoints contain NaN or infinity", where)
    if names is not None and len(names) != len(arr):
        raise HuiaError(f"{len(names)} keypoint names for {len(arr)} keypoints", where)
    if data.get("normalized"):
        w, h = data.get("width"), data.get("height")
        if not w or not h:
            raise HuiaError("normalized keypoints need width and height", where)
        arr[:, 0] *= float(w)
        arr[:, 1] *= float(h)
    return arr, (list(names) if names is not None else None), extra


def read_class_folders(path: str | Path, classes: list[str] | None = None, *,
                       follow_links: bool = True) -> tuple[list[Sample], list[str]]:
    """Read ``DIR/<label>/*`` -> ``(samples, problems)`` with ``sample.label`` the folder name and, when a sidecar
    JSON exists, ``sample.keypoints`` [K,3] + ``keypoint_names``. ``classes`` restricts/fixes the labels: a folder
    not in it is a problem. Samples are sorted by (label, file name). ``follow_links=False`` (the studio, which
    never reads outside its data folder) skips class folders and files that are symbolic links."""
    root = Path(path)
    if not root.is_dir():
        raise HuiaError("dataset folder not found", root)
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
                  and (follow_links or not d.is_symlink()))
    if not dirs:
        raise HuiaError("no class folders (expected DIR/<label>/<image>)", root)
    samples: list[Sample] = []
    problems: list[str] = []
    for d in dirs:
        label = d.name
        files = sorted(f for f in d.iterdir() if not f.name.startswith(".") and f.name not in IGNORED_NAMES
                       and (follow_links or not f.is_symlink()))
        if classes is not None and label not in classes:
            if any(is_image_file(f) for f in files):
                problems.append(f"{d}: unknown class {label!r} (known: {', '.join(classes)})")
            continue
        stems = {f.stem for f in files if is_image_file(f)}
        for f in files:
            if f.is_dir():
                problems.append(f"{f}: nested folder inside class folder {label!r}")
                continue
            if f.suffix.lower() == ".json":
                if f.stem not in stems:
                    problems.append(f"{f}: keypoints JSON without an image {f.stem}.*")
                continue
            if not is_image_file(f):
                problems.append(f"{f}: not an image (unknown extension)")
                continue
            try:
                w, h = image_size(f)
            except HuiaError as exc:
                problems.append(str(exc))
                continue
            s = Sample(image_path=f, label=label, width=w, height=h)
            side = f.with_suffix(".json")
            if side.is_file():
                try:
                    data = json.loads(side.read_text(encoding="utf-8"))
                    kps, names, extra = parse_keypoints_json(data, side)
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    problems.append(f"{side}: malformed JSON ({exc})")
                    continue
                except HuiaError as exc:
                    problems.append(str(exc))
                    continue
                if data.get("label") not in (None, label):
                    problems.append(f"{side}: label {data.get('label')!r} disagrees with its folder {label!r}")
                    continue
                dw, dh = data.get("width"), data.get("height")
                if dw and dh and (int(dw), int(dh)) != (w, h):
                    problems.append(f"{side}: declared size {dw}x{dh} but the image is {w}x{h}")
                    continue
                s.keypoints, s.keypoint_names = kps, names
                s.meta.update(extra)
                s.meta["sidecar"] = side
                s.meta["json"] = data
            samples.append(s)
    return samples, problems


def sidecar_json(sample: Sample) -> dict | None:
    """The sidecar dict to write for a sample (original fields kept, keypoints/size updated), or None."""
    if sample.keypoints is None and "json" not in sample.meta:
        return None
    data = {k: v for k, v in dict(sample.meta.get("json") or {}).items() if k not in ("poses", "normalized")}
    data["label"] = sample.label
    data["width"], data["height"] = int(sample.width or 0), int(sample.height or 0)
    if sample.keypoints is not None:
        names = sample.keypoint_names or [str(i) for i in range(len(sample.keypoints))]
        data["keypoints"] = [{"name": n, "x": round(float(x), 3), "y": round(float(y), 3), "score": round(float(c), 4)}
                             for n, (x, y, c) in zip(names, np.asarray(sample.keypoints).reshape(-1, 3))]
        data.pop("keypoint_names", None)
    for key in ("augmented_from", "augment"):
        if key in sample.meta:
            data[key] = sample.meta[key]
    return data


class FolderWriter(DatasetWriter):
    """``out_dir/<label>/<name>`` (+ ``<stem>.json`` sidecar when the sample has keypoints), each as it is added.
    Names are unique within a class folder."""

    def __init__(self, out_dir: str | Path, class_names: list[str] | None = None):
        super().__init__(out_dir, class_names)
        self._unique: dict[str, UniqueNames] = {}

    def _write(self, s: Sample) -> str:
        if not s.label:
            raise HuiaError("sample has no label; cannot write a class folder", s.image_path)
        d = self.out / s.label
        if s.label not in self._unique:
            d.mkdir(parents=True, exist_ok=True)
            self._unique[s.label] = UniqueNames()
        name = self._unique[s.label](s)
        write_image_file(s, d / name)
        side = s.meta.get("sidecar")
        if side is not None and s.meta.get("image") is None and Path(side).is_file():
            copy_image(Path(side), d / (Path(name).stem + ".json"))  # untouched sample: byte copy
        else:
            data = sidecar_json(s)
            if data is not None and "id" in data:
                data["id"] = Path(name).stem  # an augmented copy is its own sample, not the original's id
            if data is not None:
                (d / (Path(name).stem + ".json")).write_text(json.dumps(data, indent=1), encoding="utf-8")
        return f"{s.label}/{name}"

    def _finish(self) -> Path:
        return self.out


def write_class_folders(samples: list[Sample], out_dir: str | Path) -> Path:
    """Write ``out_dir/<label>/<name>`` (+ ``<stem>.json`` sidecar when the sample has keypoints)."""
    w = FolderWriter(out_dir)
    for s in samples:
        w.add(s)
    return w.close()
