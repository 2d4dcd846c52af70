"""Reading and writing images the same way everywhere (training, evaluation, review, the studio's uploads).

Decisions, made once here:

* Images come back as ``HxWx3`` RGB ``uint8`` numpy arrays, whatever is on disk (grey, palette, RGBA, 16-bit).
* EXIF orientation is applied, because that is what a person (and the browser) sees; the sign-digits set has
  phone photos stored sideways with an orientation tag.
* A **truncated JPEG** (e.g. ``kangaroo/images/00090.jpg``, whose last 20 bytes are missing) is *loaded* with the
  rows that decode, and a :class:`TruncatedImageWarning` naming the file is issued. Dropping it would silently lose
  an annotated sample whose boxes are still valid (the missing bytes are the last few rows of the bottom MCU line);
  the warning makes the damage visible. Pass ``strict=True`` to turn it into a :class:`HuiaError` instead.
* A missing, empty or non-image file raises :class:`HuiaError` naming it.
"""

from __future__ import annotations

import io
import threading
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from huia.errors import HuiaError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff")

# PIL's switch for truncated files is a module global; flip it only around the retry and only under a lock.
_TRUNCATED_LOCK = threading.Lock()


class TruncatedImageWarning(UserWarning):
    """An image file ended early; what decoded was used."""


def is_image_file(path: str | Path) -> bool:
    p = Path(path)
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def folder_images(folder: str | Path) -> list[Path]:
    """Every image in ``folder`` and its sub-folders, in path order, hidden names (``.quarantine/``) left out:
    the one rule of every command that takes a folder of images (detect/classify predict, pose)."""
    folder = Path(folder)
    return sorted(p for p in folder.rglob("*")
                  if p.is_file() and is_image_file(p)
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        arr = np.clip(arr / max(arr.max(), 1.0) * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(arr[:, :, None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))  # transparent -> white, as a browser shows it
        im = Image.alpha_composite(bg, im)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def load_image(path: str | Path, *, strict: bool = False) -> np.ndarray:
    """Load ``path`` as an ``HxWx3`` RGB uint8 array (EXIF orientation applied).

    Truncated JPEG: the decodable part is returned with a :class:`TruncatedImageWarning` naming the file (missing
    rows are grey), or a :class:`HuiaError` if ``strict``. Missing / unreadable file: :class:`HuiaError`.
    """
    p = Path(path)
    if not p.is_file():
        raise HuiaError("image file not found", p)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise HuiaError(f"cannot read image: {exc.strerror or exc}", p) from exc
    return decode_image(data, name=p, strict=strict)


def decode_image(data: bytes, *, name: str | Path = "<bytes>", strict: bool = False) -> np.ndarray:
    """Decode encoded image bytes (an upload, a re-encoded JPEG) with the same rules as :func:`load_image`."""
    if not data:
        raise HuiaError("image file is empty", name)
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return _to_rgb_array(im)
    except UnidentifiedImageError as exc:
        raise HuiaError("not a readable image (unknown or corrupt format)", name) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        msg = str(exc)
        if "truncated" not in msg.lower():
            raise HuiaError(f"cannot decode image: {msg}", name) from exc
        if strict:
            raise HuiaError(f"truncated image ({msg})", name) from exc
    # Truncated: decode what is there.
    with _TRUNCATED_LOCK:
        old = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = True
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                share = decoded_share(np.asarray(im.convert("RGB")))
                progressive = bool(im.info.get("progressive") or im.info.get("progression"))
                arr = _to_rgb_array(im)
        except Exception as exc:  # noqa: BLE001 - nothing decodable at all
            raise HuiaError(f"truncated image, nothing decodable ({exc})", name) from exc
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = old
    if share >= 0.995:  # a progressive JPEG's later scans sharpen the whole picture: cut, it is all there, blurrier
        how_much = "every row, with less detail: a progressive JPEG" if progressive else "all of its rows"
    else:
        how_much = f"about {share:.0%} of it, the rest filled grey"
    warnings.warn(f"{name}: truncated image file, using the part that decodes ({how_much})", TruncatedImageWarning,
                  stacklevel=3)
    return arr


TRUNCATED_FILL = 128  # what libjpeg writes for the blocks after the data ends (zero coefficients: mid grey)


def decoded_share(rgb: np.ndarray) -> float:
    """Share of a truncated baseline JPEG that holds decoded pixels, in raster (decoding) order: everything after
    the last pixel that is not the mid-grey fill was never in the file. The user hears "about 17 %", not just
    "truncated" (kangaroo 00090 is missing bytes but no rows; a file cut to 6 kB keeps its top sixth). Exact to
    one block row (16 pixels): the last partly decoded row of blocks counts as decoded."""
    flat = rgb.reshape(-1, rgb.shape[-1])
    real = np.flatnonzero(np.any(flat != TRUNCATED_FILL, axis=1))
    return float((real[-1] + 1) / len(flat)) if len(real) else 0.0


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` as :func:`load_image` would return it (EXIF rotation applied), reading the header only."""
    p = Path(path)
    if not p.is_file():
        raise HuiaError("image file not found", p)
    try:
        with Image.open(p) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(0x0112)
            except Exception:  # noqa: BLE001 - broken EXIF: the pixels are what they are
                orientation = None
    except UnidentifiedImageError as exc:
        raise HuiaError("not a readable image (unknown or corrupt format)", p) from exc
    except OSError as exc:
        raise HuiaError(f"cannot read image: {exc}", p) from exc
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return int(w), int(h)


def check_image(path: str | Path) -> tuple[str | None, str | None]:
    """Fully decode ``path``; returns ``(error, warning)`` messages (each None when fine). Used by dataset checks."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            load_image(path)
        except HuiaError as exc:
            return str(exc), None
    trunc = [str(w.message) for w in caught if issubclass(w.category, TruncatedImageWarning)]
    return None, (trunc[0] if trunc else None)


def save_image(image: np.ndarray, path: str | Path, *, quality: int = 95) -> Path:
    """Write an RGB uint8 array; format from the suffix. Written to a temp name then renamed, so a crash never
    leaves a half-written file under the real name."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    im = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP"}.get(p.suffix.lower(), "PNG")
    kwargs = {"quality": int(quality)} if fmt in ("JPEG", "WEBP") else {}
    im.save(tmp, format=fmt, **kwargs)
    tmp.replace(p)
    return p
