"""Augmentation that keeps labels true: ONE geometric transform (a 3x3 matrix) moves the pixels, the boxes and the
keypoints together, then colour jitter and JPEG re-encoding touch the pixels only.

Coordinates are continuous image coordinates: pixel ``(i, j)`` covers ``[i, i+1) x [j, j+1)`` and its centre is
``(i + 0.5, j + 0.5)``; boxes (xmin, ymin, xmax, ymax) and keypoints (x, y, score) both use it. The matrix maps
source -> destination points; :func:`warp_image` converts it for OpenCV's pixel-index convention, so a horizontal
flip is ``x' = W - x`` and flipping twice is exactly the identity (pixels included).

Boxes: the 4 corners are transformed, the enclosing box is clipped to the output, and a box whose clipped area is
below ``min_visible`` of its transformed area (or cut thinner than ``min_size`` pixels) is dropped - the same rule for
every transform. Keypoints: moved with the matrix; a point that leaves the frame keeps its (outside) coordinates but
gets score 0. A mirroring transform swaps ``left_*``/``right_*`` keypoints so that names stay anatomically right.

Use on the fly (``Augmenter()(image, boxes, keypoints, rng=rng)``, or :class:`AugmentedSamples` as a torch
Dataset) or offline (:func:`augment_dataset`, ``huia data augment SRC DST --times 10``: the Huia article's
381 -> 4191 images is ``381 * (1 + 10)``).
"""

from __future__ import annotations

import hashlib
import math
import sys
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from huia.data.images import TruncatedImageWarning
from huia.errors import HuiaError
from huia.types import Detections, Sample

cv2.setNumThreads(1)  # data loaders run in parallel already; OpenCV's own threads only contend on 2 cores

# --- matrices ----------------------------------------------------------------------------------------------------


def translation(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0, tx], [0, 1.0, ty], [0, 0, 1.0]])


def _about(m: np.ndarray, cx: float, cy: float) -> np.ndarray:
    return translation(cx, cy) @ m @ translation(-cx, -cy)


def scaling(sx: float, sy: float | None = None, center: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    sy = sx if sy is None else sy
    return _about(np.diag([float(sx), float(sy), 1.0]), *center)


def rotation(degrees: float, center: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Counter-clockwise on screen (y points down) by ``degrees``."""
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    return _about(np.array([[c, s, 0], [-s, c, 0], [0, 0, 1.0]]), *center)


def shear(x_degrees: float, y_degrees: float = 0.0, center: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    return _about(np.array([[1, math.tan(math.radians(x_degrees)), 0],
                            [math.tan(math.radians(y_degrees)), 1, 0], [0, 0, 1.0]]), *center)


def hflip(width: float) -> np.ndarray:
    return np.array([[-1.0, 0, width], [0, 1.0, 0], [0, 0, 1.0]])


def vflip(height: float) -> np.ndarray:
    return np.array([[1.0, 0, 0], [0, -1.0, height], [0, 0, 1.0]])


def resize(src_size: tuple[int, int], dst_size: tuple[int, int]) -> np.ndarray:
    """Stretch (W, H) -> (W', H')."""
    return scaling(dst_size[0] / src_size[0], dst_size[1] / src_size[1])


def corners_to(width: float, height: float, dst_corners) -> np.ndarray:
    """Homography taking the image corners (tl, tr, br, bl) to ``dst_corners`` (a perspective warp)."""
    src = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    return cv2.getPerspectiveTransform(src, np.asarray(dst_corners, np.float32)).astype(np.float64)


def is_mirror(m: np.ndarray) -> bool:
    """True if the transform reverses orientation (left and right swap)."""
    return float(np.linalg.det(np.asarray(m)[:2, :2])) < 0


# --- applying one matrix -----------------------------------------------------------------------------------------


def transform_points(m: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """[..., 2] points through the 3x3 matrix (with perspective division)."""
    xy = np.asarray(xy, np.float64)
    flat = xy.reshape(-1, 2)
    h = np.concatenate([flat, np.ones((len(flat), 1))], 1) @ np.asarray(m, np.float64).T
    w = h[:, 2:3]
    w = np.where(np.abs(w) < 1e-12, 1e-12, w)
    return (h[:, :2] / w).reshape(xy.shape)


def warp_image(image: np.ndarray, m: np.ndarray, out_size: tuple[int, int] | None = None, *,
               border: str = "constant", fill=(0, 0, 0), interpolation: str = "linear") -> np.ndarray:
    """Warp ``image`` (HxWxC) by ``m`` (continuous coordinates) into ``out_size`` (W, H; default same size)."""
    h, w = image.shape[:2]
    out_w, out_h = out_size or (w, h)
    m = np.asarray(m, np.float64)
    if out_w == w and out_h == h and np.array_equal(m, np.eye(3)):
        return image.copy()
    # continuous -> pixel index coordinates (centres at integers)
    m_idx = translation(-0.5, -0.5) @ m @ translation(0.5, 0.5)
    inv = np.linalg.inv(m_idx)
    flags = {"linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST, "cubic": cv2.INTER_CUBIC,
             "area": cv2.INTER_AREA}[interpolation] | cv2.WARP_INVERSE_MAP
    bmode = {"constant": cv2.BORDER_CONSTANT, "reflect": cv2.BORDER_REFLECT_101,
             "replicate": cv2.BORDER_REPLICATE}[border]
    fill_v = tuple(float(v) for v in (fill if isinstance(fill, (tuple, list)) else (fill,) * 3))
    if abs(inv[2, 0]) < 1e-15 and abs(inv[2, 1]) < 1e-15 and abs(inv[2, 2] - 1.0) < 1e-15:
        out = cv2.warpAffine(image, inv[:2], (out_w, out_h), flags=flags, borderMode=bmode, borderValue=fill_v)
    else:
        out = cv2.warpPerspective(image, inv, (out_w, out_h), flags=flags, borderMode=bmode, borderValue=fill_v)
    if out.ndim == 2 and image.ndim == 3:
        out = out[:, :, None]
    return out


_ELLIPSE = np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False)  # includes 0, 90, 180, 270 degrees exactly


def warp_boxes(xyxy: np.ndarray, m: np.ndarray, out_size: tuple[int, int], *, min_visible: float = 0.4,
               min_size: float = 2.0, shape: str = "box") -> tuple[np.ndarray, np.ndarray]:
    """Boxes through ``m``: ``(new_xyxy [N,4] float32 for ALL boxes, keep [N] bool)``.

    ``shape="box"``: enclosing box of the 4 transformed corners (exact for box-shaped objects). ``"ellipse"``:
    enclosing box of the transformed ellipse inscribed in the box (Kalra et al. 2021, "Towards Rotation Invariance
    in Object Detection"): for animals and people the corners are background, and under rotation the corner box
    grows by up to ``h sin(a)`` each side, teaching a detector to draw loose boxes. Both give the same box when
    ``m`` keeps axes aligned (flip, scale, shift). Clipped to ``out_size``; ``keep`` is False when the clipped
    area is below ``min_visible`` x the unclipped area, or clipping left it thinner than ``min_size`` pixels."""
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    if len(b) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, bool)
    if shape == "box":
        corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], axis=1)  # [N, 4, 2]
    elif shape == "ellipse":
        c = (b[:, :2] + b[:, 2:]) / 2
        r = (b[:, 2:] - b[:, :2]) / 2
        unit = np.stack([np.cos(_ELLIPSE), np.sin(_ELLIPSE)], axis=1)  # [K, 2]
        corners = c[:, None, :] + r[:, None, :] * unit[None]
    else:
        raise HuiaError(f"unknown box shape {shape!r} (box or ellipse)")
    t = transform_points(m, corners)
    enc = np.concatenate([t.min(axis=1), t.max(axis=1)], axis=1)
    w, h = out_size
    clipped = np.stack([np.clip(enc[:, 0], 0, w), np.clip(enc[:, 1], 0, h),
                        np.clip(enc[:, 2], 0, w), np.clip(enc[:, 3], 0, h)], axis=1)
    area = (enc[:, 2] - enc[:, 0]) * (enc[:, 3] - enc[:, 1])
    cw, ch = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    ew, eh = enc[:, 2] - enc[:, 0], enc[:, 3] - enc[:, 1]
    # thin only counts when clipping made it thin: a small object that stays whole is kept
    thin = ((cw < min_size) & (cw < ew - 1e-6)) | ((ch < min_size) & (ch < eh - 1e-6))
    keep = (cw > 0) & (ch > 0) & ~thin & (cw * ch >= min_visible * np.maximum(area, 1e-12))
    return clipped.astype(np.float32), keep


def lr_swap_order(names: list[str] | None) -> np.ndarray | None:
    """Permutation swapping ``left_x``/``right_x`` (and ``leftX``/``rightX``) keypoints, or None if none pair up."""
    if not names:
        return None
    index = {n: i for i, n in enumerate(names)}
    order = np.arange(len(names))
    swapped = False
    for i, n in enumerate(names):
        for a, b in (("left", "right"), ("right", "left"), ("Left", "Right"), ("Right", "Left")):
            if n.startswith(a) and n.replace(a, b, 1) in index:
                order[i] = index[n.replace(a, b, 1)]
                swapped = True
    return order if swapped else None


def warp_keypoints(kps: np.ndarray, m: np.ndarray, out_size: tuple[int, int], *,
                   names: list[str] | None = None) -> np.ndarray:
    """Keypoints [..., K, 2|3] through ``m``; outside the frame -> score 0 (a score column is added for [.., 2]).
    A mirroring ``m`` swaps left/right rows when ``names`` has such pairs."""
    k = np.asarray(kps, np.float32)
    if k.shape[-1] == 2:
        k = np.concatenate([k, np.ones(k.shape[:-1] + (1,), np.float32)], axis=-1)
    out = k.copy()
    out[..., :2] = transform_points(m, k[..., :2]).astype(np.float32)
    w, h = out_size
    inside = (out[..., 0] >= 0) & (out[..., 0] < w) & (out[..., 1] >= 0) & (out[..., 1] < h)
    out[..., 2] = np.where(inside, out[..., 2], 0.0)
    if is_mirror(m):
        order = lr_swap_order(names)
        if order is not None:
            out = out[..., order, :]
    return out


# --- colour ------------------------------------------------------------------------------------------------------


_LUMA = np.array([0.299, 0.587, 0.114])


def colour_matrix(brightness: float = 1.0, contrast: float = 1.0, saturation: float = 1.0, hue: float = 0.0,
                  mean_rgb=(128.0, 128.0, 128.0)) -> np.ndarray:
    """The 3x4 affine RGB map of brightness -> contrast -> saturation -> hue (all linear in RGB, so one matrix).

    Contrast blends with the mean grey level of the brightened image (as torchvision does); hue rotates colours
    about the grey axis by ``hue`` turns (a linear hue rotation: greys stay grey, luminance is nearly kept)."""
    m = np.eye(3) * brightness
    off = np.zeros(3)
    grey_mean = float(_LUMA @ np.asarray(mean_rgb, np.float64)) * brightness
    m, off = m * contrast, off * contrast + grey_mean * (1 - contrast)
    sat = saturation * np.eye(3) + (1 - saturation) * np.outer(np.ones(3), _LUMA)
    m, off = sat @ m, sat @ off
    if hue:
        a = 2 * math.pi * hue
        k = np.ones(3) / math.sqrt(3)
        kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        rot = math.cos(a) * np.eye(3) + math.sin(a) * kx + (1 - math.cos(a)) * np.outer(k, k)
        m, off = rot @ m, rot @ off
    return np.concatenate([m, off[:, None]], axis=1)


def adjust_colour(image: np.ndarray, brightness: float = 1.0, contrast: float = 1.0, saturation: float = 1.0,
                  hue: float = 0.0) -> np.ndarray:
    """Colour jitter on an RGB uint8 image: factors as torchvision's ColorJitter (1.0 = unchanged), ``hue`` in
    turns (-0.5..0.5). One 3x4 matrix applied by OpenCV with saturation to 0..255 (~10x faster than per-step
    float passes on a 640x480 frame)."""
    if brightness == 1.0 and contrast == 1.0 and saturation == 1.0 and hue == 0.0:
        return image.copy()
    mean = cv2.mean(np.ascontiguousarray(image))[:3] if contrast != 1.0 else (128.0, 128.0, 128.0)
    mat = colour_matrix(brightness, contrast, saturation, hue, mean)
    return cv2.transform(np.ascontiguousarray(image), mat)


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover
        raise HuiaError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


# --- the random augmenter ----------------------------------------------------------------------------------------


@dataclass
class AugmentParams:
    """One draw of the augmenter: everything needed to replay it (and to record it in a sidecar JSON)."""

    matrix: np.ndarray
    out_size: tuple[int, int]
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0
    jpeg_quality: int | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        d["matrix"] = [[round(float(v), 6) for v in row] for row in np.asarray(self.matrix)]
        d["out_size"] = list(self.out_size)
        return d


@dataclass
class Augmenter:
    """Random geometric + colour augmentation (defaults: mild, safe for detection and pose).

    Geometry, composed about the image centre into one matrix: ``hflip``/``vflip`` probabilities, ``scale``
    (zoom range; > 1 crops in), ``translate`` (fraction of W/H), ``rotate`` (max degrees), ``shear`` (max
    degrees), ``perspective`` (max corner shift as a fraction of W/H), optional ``out_size`` (W, H) to resize to.
    Colour: ``brightness``/``contrast``/``saturation`` (max relative change), ``hue`` (max turns), and JPEG
    re-encoding with probability ``jpeg_p`` at a quality in ``jpeg_quality``.
    """

    hflip: float = 0.5
    vflip: float = 0.0
    scale: tuple[float, float] = (0.8, 1.2)
    translate: float = 0.1
    rotate: float = 10.0
    shear: float = 0.0
    perspective: float = 0.0
    out_size: tuple[int, int] | None = None
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25
    hue: float = 0.02
    jpeg_p: float = 0.3
    jpeg_quality: tuple[int, int] = (40, 95)
    min_visible: float = 0.4
    min_size: float = 2.0
    box_shape: str = "box"  # "ellipse": tight boxes under rotation for round objects (see warp_boxes)
    border: str = "constant"
    fill: tuple[int, int, int] = (114, 114, 114)
    keypoint_names: list[str] | None = field(default=None, repr=False)

    @classmethod
    def preset(cls, name: str) -> "Augmenter":
        """'none' (identity), 'detect' (default), 'classify' (+ shear and perspective, as the Huia article),
        'strong'."""
        if name == "none":
            return cls(hflip=0, scale=(1, 1), translate=0, rotate=0, brightness=0, contrast=0, saturation=0,
                       hue=0, jpeg_p=0)
        if name == "detect":
            return cls()
        if name == "classify":
            return cls(rotate=15, shear=8, perspective=0.06, scale=(0.85, 1.25), translate=0.08)
        if name == "strong":
            return cls(rotate=25, shear=12, perspective=0.1, scale=(0.6, 1.5), translate=0.2, brightness=0.4,
                       contrast=0.4, saturation=0.5, hue=0.05, jpeg_p=0.5, jpeg_quality=(20, 90))
        raise HuiaError(f"unknown augmentation preset {name!r} (none, detect, classify, strong)")

    def sample(self, rng: np.random.Generator, width: int, height: int) -> AugmentParams:
        """Draw one set of parameters for a ``width`` x ``height`` image."""
        cx, cy = width / 2.0, height / 2.0
        m = np.eye(3)
        if self.hflip and rng.random() < self.hflip:
            m = hflip(width) @ m
        if self.vflip and rng.random() < self.vflip:
            m = vflip(height) @ m
        if self.perspective:
            p = self.perspective
            jitter = rng.uniform(-p, p, (4, 2)) * np.array([width, height])
            base = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)
            m = corners_to(width, height, base + jitter) @ m
        if self.shear:
            m = shear(rng.uniform(-self.shear, self.shear), rng.uniform(-self.shear, self.shear), (cx, cy)) @ m
        if self.rotate:
            m = rotation(rng.uniform(-self.rotate, self.rotate), (cx, cy)) @ m
        lo, hi = self.scale
        if lo != 1 or hi != 1:
            s = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))  # log-uniform: zoom in/out symmetric
            m = scaling(s, s, (cx, cy)) @ m
        if self.translate:
            t = self.translate
            m = translation(rng.uniform(-t, t) * width, rng.uniform(-t, t) * height) @ m
        out_size = (int(width), int(height))
        if self.out_size is not None:
            out_size = (int(self.out_size[0]), int(self.out_size[1]))
            m = resize((width, height), out_size) @ m
        params = AugmentParams(matrix=m, out_size=out_size)
        if self.brightness:
            params.brightness = float(rng.uniform(1 - self.brightness, 1 + self.brightness))
        if self.contrast:
            params.contrast = float(rng.uniform(1 - self.contrast, 1 + self.contrast))
        if self.saturation:
            params.saturation = float(rng.uniform(1 - self.saturation, 1 + self.saturation))
        if self.hue:
            params.hue = float(rng.uniform(-self.hue, self.hue))
        if self.jpeg_p and rng.random() < self.jpeg_p:
            params.jpeg_quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
        return params

    def apply(self, params: AugmentParams, image: np.ndarray, boxes: Detections | None = None,
              keypoints: np.ndarray | None = None, *, keypoint_names: list[str] | None = None):
        """Replay ``params`` on an image and its labels -> ``(image, boxes, keypoints)``."""
        img = warp_image(image, params.matrix, params.out_size, border=self.border, fill=self.fill)
        img = adjust_colour(img, params.brightness, params.contrast, params.saturation, params.hue)
        if params.jpeg_quality is not None:
            img = jpeg_roundtrip(img, params.jpeg_quality)
        out_boxes = None
        if boxes is not None:
            xyxy, keep = warp_boxes(boxes.xyxy, params.matrix, params.out_size, min_visible=self.min_visible,
                                    min_size=self.min_size, shape=self.box_shape)
            out_boxes = Detections(xyxy[keep], boxes.scores[keep], boxes.class_ids[keep], list(boxes.class_names))
        out_kps = None
        if keypoints is not None:
            out_kps = warp_keypoints(keypoints, params.matrix, params.out_size,
                                     names=keypoint_names or self.keypoint_names)
        return img, out_boxes, out_kps

    def __call__(self, image: np.ndarray, boxes: Detections | None = None, keypoints: np.ndarray | None = None,
                 rng: np.random.Generator | int | None = None, *, keypoint_names: list[str] | None = None):
        """Augment once -> ``(image, boxes, keypoints)`` (boxes that mostly left the frame are dropped)."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        params = self.sample(rng, image.shape[1], image.shape[0])
        return self.apply(params, image, boxes, keypoints, keypoint_names=keypoint_names)


# --- on the fly (torch Dataset) and offline ----------------------------------------------------------------------


def sample_rng(seed: int, key: str, *extra: int) -> np.random.Generator:
    """A generator that depends only on (seed, sample key, extra ints such as epoch/copy index): augmentation is
    reproducible whatever the order, the number of workers or the machine."""
    h = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, h, *[int(e) for e in extra]])


class AugmentedSamples:
    """A torch-style Dataset over samples: ``ds[i]`` -> dict(image HxWx3 uint8, boxes, keypoints, label, sample).
    The draw for item ``i`` depends on (seed, sample, epoch): call ``set_epoch(e)`` each epoch. ``augmenter=None``
    returns the images unchanged (validation)."""

    def __init__(self, samples: list[Sample], augmenter: Augmenter | None = None, seed: int = 0):
        from huia.data.images import load_image

        self._load = load_image
        self.samples = list(samples)
        self.augmenter = augmenter
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        s = self.samples[i]
        image = s.meta["image"] if s.meta.get("image") is not None else self._load(s.image_path)
        boxes, kps = s.boxes, s.keypoints
        if self.augmenter is not None:
            from huia.data.split import sample_key

            rng = sample_rng(self.seed, sample_key(s), self.epoch)
            image, boxes, kps = self.augmenter(image, boxes, kps, rng, keypoint_names=s.keypoint_names)
        return {"image": image, "boxes": boxes, "keypoints": kps, "label": s.label, "sample": s}


def augment_sample(sample: Sample, augmenter: Augmenter, rng: np.random.Generator, index: int) -> Sample:
    """One augmented copy of a sample, pixels in ``meta["image"]`` (written by the dataset writers)."""
    from huia.data.images import load_image

    image = load_image(sample.image_path)
    params = augmenter.sample(rng, image.shape[1], image.shape[0])
    img, boxes, kps = augmenter.apply(params, image, sample.boxes, sample.keypoints,
                                      keypoint_names=sample.keypoint_names)
    p = Path(sample.image_path)
    meta = {k: v for k, v in sample.meta.items() if k in ("json", "source")}
    if sample.meta.get("origin"):
        meta["origin"] = {**sample.meta["origin"], "copy": index}
    meta.update({"image": img, "out_name": f"{p.stem}_aug{index:02d}.jpg", "augmented_from": p.name,
                 "augment": params.to_json(), "jpeg_quality": 95})
    return Sample(image_path=p.with_name(f"{p.stem}_aug{index:02d}.jpg"), label=sample.label, keypoints=kps,
                  keypoint_names=sample.keypoint_names, boxes=boxes, width=img.shape[1], height=img.shape[0],
                  meta=meta)


def _rel(path: str | Path, root: Path) -> str:
    p = Path(path).resolve()
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()


def augment_dataset(src: str | Path, dst: str | Path, times: int, *, seed: int = 0,
                    augmenter: Augmenter | None = None, fmt: str | None = None, strict: bool = True,
                    show_progress: bool = True) -> dict:
    """Offline xN: write every original (byte copy) plus ``times`` augmented copies of it to ``dst``, in the
    source's format (class folders / capture format with moved keypoints, or VOC/CSV/COCO with moved boxes), and
    ``dst/provenance.json`` naming each written file's source (path under ``src`` + SHA-1), which splitting and
    ``classify eval`` use to keep a copy and its original together. Returns counts. Deterministic: copy ``k`` of a
    sample depends only on (seed, sample, k)."""
    from huia.data import data_format, open_writer, read_dataset
    from huia.data.base import dataset_class_names
    from huia.data.provenance import dataset_root, file_sha1, write_manifest
    from huia.data.split import sample_key
    from huia.train.common import progress

    if times < 1:
        raise HuiaError(f"--times must be >= 1, got {times}")
    dst = Path(dst)
    if dst.exists() and any(dst.iterdir()):
        raise HuiaError("output folder exists and is not empty (refusing to mix or overwrite)", dst)
    samples, problems, fmt = read_dataset(src, fmt)
    if problems and strict:
        raise HuiaError(f"{len(problems)} problem(s) in the dataset, first: {problems[0]}", src)
    augmenter = augmenter or Augmenter.preset("detect" if data_format(fmt).boxes else "classify")
    root = dataset_root(src).resolve()
    # each image is written as soon as it is made (one image's pixels in memory, whatever --times is)
    writer = open_writer(dst, fmt, dataset_class_names(samples) if fmt != "folders" else None)
    origins: list[dict] = []
    n_boxes = 0
    with warnings.catch_warnings(record=True) as caught:  # truncated images: reported once each, below
        warnings.simplefilter("always", TruncatedImageWarning)
        for s in progress(samples, desc="augment", disable=None if show_progress else True):
            # provenance: an original is its own source (unless SRC itself records an earlier source)
            origin = s.meta.get("origin") or {"source": _rel(s.image_path, root),
                                               "source_sha1": file_sha1(s.image_path)}
            s.meta["origin"] = {"source": origin["source"], "source_sha1": origin["source_sha1"], "copy": 0}
            for k in range(times + 1):  # the original (a byte copy), then its copies
                out = s if k == 0 else augment_sample(s, augmenter, sample_rng(seed, sample_key(s), k), k)
                writer.add(out)
                origins.append(out.meta["origin"])
                n_boxes += len(out.boxes) if out.boxes is not None else 0
    notes = sorted({str(w.message) for w in caught if issubclass(w.category, TruncatedImageWarning)})
    for n in notes:
        print(f"huia: warning: {n}", file=sys.stderr)
    writer.close()
    write_manifest(dst, writer.paths, origins, source=str(src), times=times, seed=seed)
    return {"format": fmt, "originals": len(samples), "written": len(writer.paths), "problems": problems,
            "boxes": n_boxes, "warnings": notes}
