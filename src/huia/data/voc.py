"""Pascal VOC XML folders (what LabelImg writes; the kangaroo article's format).

Layout read: ``DIR/annots/*.xml`` + ``DIR/images/*`` (the kangaroo set), or VOC's own ``Annotations/`` +
``JPEGImages/``, or XML files next to their images. Layout written: ``DIR/images``, ``DIR/annots``,
``DIR/labelmap.pbtxt``. Coordinates are kept exactly as written in the XML (pixels, no 1-based shift), so a
VOC -> CSV -> COCO -> VOC round trip is lossless.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

from huia.data.base import RawBox, RawImage, copy_image, dataset_class_names, finalize_detection
from huia.data.images import IMAGE_EXTENSIONS, is_image_file, save_image
from huia.data.labelmap import find_labelmap, write_labelmap
from huia.data.writer import DatasetWriter, UniqueNames
from huia.errors import HuiaError
from huia.types import Sample

ANNOT_DIRS = ("annots", "Annotations", "annotations", "labels", "xml")
IMAGE_DIRS = ("images", "JPEGImages", "imgs", "img")


def find_voc_dirs(root: str | Path) -> tuple[Path, Path] | None:
    """``(annotation_dir, image_dir)`` if ``root`` looks like a VOC folder, else None."""
    root = Path(root)
    if not root.is_dir():
        return None
    for a in ANNOT_DIRS:
        ad = root / a
        if ad.is_dir() and any(ad.glob("*.xml")):
            for i in IMAGE_DIRS:
                if (root / i).is_dir():
                    return ad, root / i
            return ad, root
    if any(root.glob("*.xml")) and any(is_image_file(p) for p in root.iterdir()):
        return root, root
    return None


def _text(node, tag):
    child = node.find(tag)
    return None if child is None or child.text is None else child.text.strip()


def parse_voc_xml(xml_path: Path, images_dir: Path) -> RawImage:
    """One XML file -> RawImage (problems recorded on it, never raised)."""
    where = str(xml_path)
    try:
        root = ET.parse(xml_path).getroot()
    except ET.ParseError as exc:
        return RawImage(image_path=images_dir / (xml_path.stem + ".jpg"), where=where,
                        problems=[f"malformed XML ({exc})"])
    except OSError as exc:
        return RawImage(image_path=images_dir / (xml_path.stem + ".jpg"), where=where,
                        problems=[f"cannot read ({exc})"])
    rec = RawImage(image_path=images_dir / (xml_path.stem + ".jpg"), where=where)
    if root.tag != "annotation":
        rec.problems.append(f"root element is <{root.tag}>, expected <annotation>")
        return rec
    filename = _text(root, "filename")
    rec.image_path = _resolve_image(images_dir, filename, xml_path.stem)
    size = root.find("size")
    if size is not None:
        try:
            w, h = int(float(_text(size, "width"))), int(float(_text(size, "height")))
            if w > 0 and h > 0:  # LabelImg writes 0x0 when it could not read the size: fall back to the image
                rec.width, rec.height = w, h
        except (TypeError, ValueError):
            rec.problems.append("<size> has a missing or non-numeric width/height")
    for i, obj in enumerate(root.findall("object")):
        name = _text(obj, "name") or ""
        bb = obj.find("bndbox")
        if bb is None:
            rec.problems.append(f"object {i} ({name!r}) has no <bndbox>")
            continue
        try:
            coords = [float(_text(bb, k)) for k in ("xmin", "ymin", "xmax", "ymax")]
        except (TypeError, ValueError):
            rec.problems.append(f"object {i} ({name!r}) has a missing or non-numeric box coordinate")
            continue
        extra = {}
        for key in ("difficult", "truncated"):
            v = _text(obj, key)
            if v is not None:
                try:
                    extra[key] = int(float(v))
                except ValueError:
                    rec.problems.append(f"object {i} has non-numeric <{key}> {v!r}")
        rec.boxes.append(RawBox(name, *coords, extra=extra))
    rec.meta["filename"] = rec.image_path.name
    return rec


def _resolve_image(images_dir: Path, filename: str | None, stem: str) -> Path:
    if filename:
        p = images_dir / Path(filename).name
        if p.is_file():
            return p
    for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
        p = images_dir / (stem + ext)
        if p.is_file():
            return p
    if filename:
        return images_dir / Path(filename).name
    return images_dir / (stem + ".jpg")


def read_voc_dir(path: str | Path, classes: list[str] | None = None) -> tuple[list[Sample], list[str]]:
    """Read a VOC folder -> ``(samples, problems)``. Classes come from ``classes``, else ``DIR/labelmap.pbtxt``,
    else the sorted names found. Images without an XML file are problems too (nothing is dropped silently)."""
    root = Path(path)
    found = find_voc_dirs(root)
    if found is None:
        raise HuiaError("not a VOC folder (expected annots/*.xml and images/)", root)
    annot_dir, images_dir = found
    if classes is None:
        classes = find_labelmap(root)
    records = [parse_voc_xml(x, images_dir) for x in sorted(annot_dir.glob("*.xml"))]
    samples, problems, _ = finalize_detection(records, classes)
    annotated = {r.image_path.resolve() for r in records}
    for img in sorted(images_dir.iterdir()):
        if is_image_file(img) and img.resolve() not in annotated:
            problems.append(f"{img}: image has no annotation XML in {annot_dir}")
    return samples, problems


def voc_xml(sample: Sample, filename: str, folder: str = "images") -> str:
    """The VOC XML of one sample (LabelImg's element order)."""
    w, h = int(sample.width or 0), int(sample.height or 0)
    lines = ["<annotation>", f"\t<folder>{escape(folder)}</folder>", f"\t<filename>{escape(filename)}</filename>",
             f"\t<path>{escape(filename)}</path>", "\t<source>", "\t\t<database>Unknown</database>", "\t</source>",
             "\t<size>", f"\t\t<width>{w}</width>", f"\t\t<height>{h}</height>", "\t\t<depth>3</depth>", "\t</size>",
             "\t<segmented>0</segmented>"]
    det = sample.boxes
    if det is not None:
        difficult = sample.meta.get("difficult")
        truncated = sample.meta.get("truncated")
        for i, (box, label) in enumerate(zip(det.xyxy, det.labels)):
            d = int(difficult[i]) if difficult is not None and len(difficult) == len(det) else 0
            t = int(truncated[i]) if truncated is not None and len(truncated) == len(det) else 0
            lines += ["\t<object>", f"\t\t<name>{escape(label)}</name>", "\t\t<pose>Unspecified</pose>",
                      f"\t\t<truncated>{t}</truncated>", f"\t\t<difficult>{d}</difficult>", "\t\t<bndbox>"]
            lines += [f"\t\t\t<{k}>{_coord(v)}</{k}>" for k, v in zip(("xmin", "ymin", "xmax", "ymax"), box)]
            lines += ["\t\t</bndbox>", "\t</object>"]
    lines.append("</annotation>")
    return "\n".join(lines) + "\n"


def _coord(v: float) -> str:
    """Integers stay integers (LabelImg style); sub-pixel boxes (augmented) keep 2 decimals."""
    v = float(v)
    return str(int(round(v))) if abs(v - round(v)) < 1e-4 else f"{v:.2f}"


def write_image_file(sample: Sample, dst: Path) -> None:
    """Copy the sample's file byte for byte, or encode its in-memory pixels (``meta["image"]``, augmentation)."""
    if sample.meta.get("image") is not None:
        save_image(sample.meta["image"], dst, quality=int(sample.meta.get("jpeg_quality", 95)))
    else:
        copy_image(Path(sample.image_path), dst)


class VocWriter(DatasetWriter):
    """``out_dir/images`` and ``out_dir/annots`` (one XML per image, written with it), then
    ``out_dir/labelmap.pbtxt``."""

    def __init__(self, out_dir: str | Path, class_names: list[str] | None = None):
        super().__init__(out_dir, class_names)
        (self.out / "images").mkdir(parents=True, exist_ok=True)
        (self.out / "annots").mkdir(parents=True, exist_ok=True)
        self._unique = UniqueNames()

    def _write(self, s: Sample) -> str:
        name = self._unique(s)
        write_image_file(s, self.out / "images" / name)
        (self.out / "annots" / (Path(name).stem + ".xml")).write_text(voc_xml(s, name), encoding="utf-8")
        return f"images/{name}"

    def _finish(self) -> Path:
        names = self.class_names if self.class_names is not None else dataset_class_names(self.samples)
        write_labelmap(self.out / "labelmap.pbtxt", names)
        return self.out


def write_voc(samples: list[Sample], out_dir: str | Path, class_names: list[str] | None = None) -> Path:
    """Write ``out_dir/images``, ``out_dir/annots``, ``out_dir/labelmap.pbtxt``."""
    w = VocWriter(out_dir, class_names)
    for s in samples:
        w.add(s)
    return w.close()
