"""Running a trained detector: the exact TF.js graph that ships (``RUN/model/model.json``), through huia's graph
executor, its in-graph ``tower_0/detections`` decoding, then :func:`huia.detect.model.rows_to_detections` -
the same steps web/js/detector.js takes in the browser."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from huia.detect.model import DETECTIONS, INPUT, preprocess, rows_to_detections
from huia.errors import HuiaError
from huia.types import Detections, Sample


class Detector:
    """A loaded huia detector (a folder with model.json whose userDefinedMetadata.huia describes it)."""

    def __init__(self, graph, class_names: list[str], input_size: int, score_threshold: float, path: Path):
        self.graph = graph
        self.class_names = class_names
        self.input_size = input_size
        self.score_threshold = score_threshold
        self.path = path

    @classmethod
    def from_dir(cls, path: str | Path) -> "Detector":
        from huia.tfjs.artifacts import load_artifacts
        from huia.tfjs.graph import load_graph_model

        p = Path(path)
        if p.is_dir() and (p / "config.json").is_file():
            _check_run_kind(p)
            if (p / "model").is_dir():
                p = p / "model"  # a run folder
        if not (p / "model.json").is_file() and not (p.is_file() and p.suffix == ".json"):
            raise HuiaError("no trained detector here (expected RUN/model/model.json; did training finish?)", p)
        art = load_artifacts(p)
        meta = (art.user_defined_metadata or {}).get("huia") or {}
        if meta.get("task") != "detect":
            raise HuiaError("model.json is not a huia detector (userDefinedMetadata.huia.task != 'detect')", p)
        size, labels, threshold = _detector_meta(meta, p / "model.json" if p.is_dir() else p)
        return cls(load_graph_model(art), labels, size, threshold, p)

    def rows(self, image: np.ndarray) -> np.ndarray:
        out = self.graph({INPUT: preprocess(image, self.input_size)}, outputs=[DETECTIONS])
        return np.asarray(out[DETECTIONS])[0]

    def predict(self, image: np.ndarray, score_threshold: float | None = None) -> Detections:
        """Boxes in ``image`` pixels, best first."""
        thr = self.score_threshold if score_threshold is None else score_threshold
        h, w = image.shape[:2]
        return rows_to_detections(self.rows(image), w, h, self.input_size, self.class_names, thr)


def _detector_meta(meta: dict, path: Path) -> tuple[int, list[str], float]:
    """(input size, labels, score threshold) from userDefinedMetadata.huia, or a HuiaError naming what is missing
    or malformed (a hand-edited or foreign model.json must not end in a KeyError)."""
    missing = [k for k in ("input_size", "labels") if k not in meta]
    if missing:
        raise HuiaError(f"model.json is not a usable huia detector (userDefinedMetadata.huia has no "
                        f"{' and no '.join(missing)})", path)
    size, labels = meta["input_size"], meta["labels"]
    try:
        n = int(size[0] if isinstance(size, (list, tuple)) else size)
        threshold = float(meta.get("score_threshold", 0.3))
    except (TypeError, ValueError, IndexError):
        raise HuiaError(f"model.json: userDefinedMetadata.huia input_size {size!r} / score_threshold "
                        f"{meta.get('score_threshold')!r} are not numbers", path) from None
    if n <= 0:
        raise HuiaError(f"model.json: userDefinedMetadata.huia input_size {size!r} is not a positive size", path)
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise HuiaError(f"model.json: userDefinedMetadata.huia labels must be a non-empty list of names, got "
                        f"{labels!r}", path)
    return n, list(labels), threshold


def _check_run_kind(run: Path) -> None:
    """A finished run of another kind gets told what it is, not "did training finish?"."""
    import json

    try:
        task = json.loads((run / "config.json").read_text()).get("task")
    except (OSError, ValueError, AttributeError):
        return
    if task and task != "detect":
        raise HuiaError(f"this is a {task} run, not a detector; use huia classify eval/predict", run)


def _load(path) -> np.ndarray:
    from huia.data.images import load_image

    return load_image(path)


def evaluate_samples(det: Detector, samples: list[Sample], *, score_threshold: float = 0.0) -> dict:
    """COCO metrics (huia.eval.coco, equal to pycocotools) of ``det`` on ``samples`` (held-out images only: the
    caller picks them). Every detection down to ``score_threshold`` (default all top-100) counts, as COCO wants."""
    from huia.eval.coco import coco_evaluate

    gts, dets = [], []
    for s in samples:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            img = _load(s.image_path)
        d = det.predict(img, score_threshold)
        gt = s.boxes
        ids = np.array([det.class_names.index(lab) if lab in det.class_names else -1 for lab in gt.labels],
                       np.int64)
        keep = ids >= 0
        gts.append(Detections(gt.xyxy[keep], None, ids[keep], det.class_names))
        dets.append(d)
    from huia.data.split import sample_groups

    res = coco_evaluate(gts, dets, class_names=det.class_names)
    res["_groups"] = sample_groups(samples)  # an original and its augmented copies: one unit for the intervals
    # kept for the operating point (huia.eval.coco.threshold_counts) and the eval overlays: no second inference
    res["_gts"], res["_dets"], res["_samples"] = gts, dets, list(samples)
    return res


def list_images(path: str | Path) -> list[Path]:
    from huia.data.images import folder_images

    p = Path(path)
    if p.is_file():
        return [p]
    if p.is_dir():
        files = folder_images(p)  # sub-folders too, hidden ones (.quarantine/) not: as classify predict, pose
        if not files:
            raise HuiaError("no images in folder", p)
        return files
    raise HuiaError("image or folder not found", p)


def draw_overlay(image: np.ndarray, dets: Detections) -> np.ndarray:
    """A copy of ``image`` with labelled boxes (drawing kept apart from computing)."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    for (x1, y1, x2, y2), lab, s in zip(dets.xyxy, dets.labels, dets.scores):
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(out, p1, p2, (255, 64, 32), 2)
        text = f"{lab} {s:.2f}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        ty = max(p1[1], th + 4)
        cv2.rectangle(out, (p1[0], ty - th - 4), (p1[0] + tw + 4, ty), (255, 64, 32), -1)
        cv2.putText(out, text, (p1[0] + 2, ty - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


# colours of the eval overlays (RGB), also stated in `huia detect eval --help`
EVAL_COLOURS = {"tp": (0, 200, 0), "fp": (230, 30, 30), "missed": (255, 200, 0), "found": (255, 255, 255)}


def draw_eval_overlay(image: np.ndarray, gt: Detections, dets: Detections, dt_tp: np.ndarray, gt_found: np.ndarray,
                      *, caption: str = "") -> np.ndarray:
    """A copy of ``image`` with ground truth and predictions told apart (:data:`EVAL_COLOURS`): ``dets`` are the
    predictions kept at the threshold, ``dt_tp`` / ``gt_found`` their matching (huia.eval.coco.match_detections).
    A legend strip on top says which colour is which, and ``caption`` (e.g. the file and the counts)."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    lw = max(1, int(round(max(h, w) / 300)))

    def box(b, colour, width):
        p1 = (int(round(b[0])), int(round(b[1])))
        p2 = (int(round(b[2])), int(round(b[3])))
        cv2.rectangle(out, p1, p2, colour, width, cv2.LINE_AA)
        return p1, p2

    for b, found in zip(gt.xyxy, gt_found):
        if found:
            box(b, EVAL_COLOURS["found"], lw)
        else:
            box(b, EVAL_COLOURS["missed"], 3 * lw)
    for b, lab, s, tp in zip(dets.xyxy, dets.labels, dets.scores, dt_tp):
        colour = EVAL_COLOURS["tp" if tp else "fp"]
        p1, p2 = box(b, colour, 2 * lw)
        text = f"{lab} {s:.2f}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        ty = min(max(p2[1], th + 4), h - 1)
        cv2.rectangle(out, (p1[0], ty - th - 4), (p1[0] + tw + 4, ty), colour, -1)
        cv2.putText(out, text, (p1[0] + 2, ty - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    # legend strip above the picture (never covering it)
    strip = np.full((44, w, 3), 32, np.uint8)
    x = 6
    for key, name in (("tp", "TP"), ("fp", "FP"), ("missed", "missed (FN)"), ("found", "found GT")):
        cv2.rectangle(strip, (x, 6), (x + 14, 18), EVAL_COLOURS[key], -1)
        cv2.putText(strip, name, (x + 18, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        x += 26 + cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0]
    if caption:
        cv2.putText(strip, caption, (6, 38), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([strip, out], axis=0)
