"""Readers/writers: every bad file is reported (never silently dropped), round trips are lossless, the truncated
kangaroo JPEG loads with a warning, splits are deterministic and stratified, and the CLI exits non-zero."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from huia.cli import main
from huia.data import detect_format, load_dataset, read_dataset, write_dataset
from huia.data.coco import read_coco
from huia.data.csv_format import read_csv
from huia.data.folders import read_class_folders
from huia.data.images import TruncatedImageWarning, image_size, load_image, save_image
from huia.data.labelmap import parse_labelmap, read_labelmap, write_labelmap
from huia.data.split import sample_per_class, split_samples
from huia.data.voc import read_voc_dir, voc_xml
from huia.errors import HuiaError
from huia.types import Detections, Sample


def make_voc(root: Path, n: int = 6, classes=("cat", "dog"), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "annots").mkdir()
    for i in range(n):
        w, h = int(rng.integers(40, 80)), int(rng.integers(30, 60))
        save_image(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), root / "images" / f"{i:03d}.jpg")
        k = 1 + i % 2
        x0 = rng.integers(0, w // 2, k)
        y0 = rng.integers(0, h // 2, k)
        boxes = np.stack([x0, y0, x0 + rng.integers(3, w // 2, k), y0 + rng.integers(3, h // 2, k)], 1)
        det = Detections(boxes, None, [(i + j) % len(classes) for j in range(k)], list(classes))
        s = Sample(root / "images" / f"{i:03d}.jpg", boxes=det, width=w, height=h)
        (root / "annots" / f"{i:03d}.xml").write_text(voc_xml(s, f"{i:03d}.jpg"))
    return root


@pytest.fixture()
def voc(tmp_path) -> Path:
    return make_voc(tmp_path / "voc")


def _set_xml(root: Path, i: int, tag: str, value: str):
    """Replace the first <tag>...</tag> value of annots/<i>.xml (the file stays well-formed)."""
    import re

    p = root / "annots" / f"{i:03d}.xml"
    text, n = re.subn(rf"<{tag}>[^<]*</{tag}>", f"<{tag}>{value}</{tag}>", p.read_text(), count=1)
    assert n == 1
    p.write_text(text)


def test_voc_reads_clean(voc):
    samples, problems = read_voc_dir(voc)
    assert problems == [] and len(samples) == 6
    assert samples[0].boxes.class_names == ["cat", "dog"]
    assert detect_format(voc) == "voc"


@pytest.mark.parametrize("case", ["malformed", "outside", "inverted", "missing_image", "unreadable_image",
                                  "unknown_class", "size_mismatch", "non_numeric", "orphan_image"])
def test_each_bad_file_is_reported(voc, case):
    if case == "malformed":
        (voc / "annots" / "002.xml").write_text("<annotation><object><name>cat</name>")
    elif case == "outside":
        _set_xml(voc, 2, "xmax", "9999")
    elif case == "inverted":
        _set_xml(voc, 2, "xmax", "0")
    elif case == "missing_image":
        (voc / "images" / "002.jpg").unlink()
    elif case == "unreadable_image":
        (voc / "images" / "002.jpg").write_bytes(b"this is not a jpeg")
    elif case == "unknown_class":
        write_labelmap(voc, ["cat", "dog"])
        _set_xml(voc, 2, "name", "zebra")
    elif case == "size_mismatch":
        _set_xml(voc, 2, "width", "1")
    elif case == "non_numeric":
        _set_xml(voc, 2, "ymin", "abc")
    elif case == "orphan_image":
        (voc / "annots" / "002.xml").unlink()
    samples, problems = read_voc_dir(voc)
    assert len(problems) >= 1
    assert all("002" in p for p in problems), problems
    expect = {"malformed": "malformed XML", "outside": "outside the", "inverted": "inverted", "missing_image":
              "not found", "unreadable_image": "not a readable image", "unknown_class": "unknown class 'zebra'",
              "size_mismatch": "declared size 1x", "non_numeric": "non-numeric", "orphan_image": "no annotation"}
    assert any(expect[case] in p for p in problems), problems
    assert len(samples) == 5 and all("002" not in s.image_path.name for s in samples)
    with pytest.raises(HuiaError, match="problem"):
        load_dataset(voc)
    # the CLI lists the file and exits non-zero, writing nothing
    out = voc.parent / "out"
    assert main(["data", "convert", str(voc), str(out), "--to", "coco"]) == 2
    assert not out.exists()


def test_cli_problem_report_names_files(voc, capsys):
    (voc / "annots" / "001.xml").write_text("<annotation")
    _set_xml(voc, 3, "xmax", "9999")
    assert main(["data", "check", str(voc)]) == 1
    err = capsys.readouterr().err
    assert "001.xml: malformed XML" in err and "003.xml: box" in err and "outside" in err
    # --skip-bad writes the valid ones and still exits non-zero
    out = voc.parent / "out"
    assert main(["data", "convert", str(voc), str(out), "--to", "csv", "--skip-bad"]) == 1
    samples, problems, fmt = read_dataset(out)
    assert fmt == "csv" and problems == [] and len(samples) == 4


@pytest.mark.parametrize("chain", [("csv", "coco", "voc"), ("coco", "csv"), ("voc",)])
def test_round_trip_is_lossless(voc, tmp_path, chain):
    samples, _ = read_voc_dir(voc)
    src = voc
    for i, fmt in enumerate(chain):
        dst = tmp_path / f"step{i}"
        assert main(["data", "convert", str(src), str(dst), "--to", fmt]) == 0
        assert read_labelmap(dst) == ["cat", "dog"]
        src = dst
    back, problems, _ = read_dataset(src)
    assert problems == []
    assert [s.image_path.name for s in back] == [s.image_path.name for s in samples]
    for a, b in zip(samples, back):
        assert np.array_equal(a.boxes.xyxy, b.boxes.xyxy) and a.boxes.labels == b.boxes.labels
        assert (a.width, a.height) == (b.width, b.height)
        assert a.image_path.read_bytes() == b.image_path.read_bytes()


def test_refuses_to_overwrite(voc, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    assert main(["data", "convert", str(voc), str(out), "--to", "coco"]) == 2
    assert (out / "keep.txt").read_text() == "precious"


def test_csv_article_format_and_negative_images(tmp_path):
    d = tmp_path / "csv"
    (d / "images").mkdir(parents=True)
    for name, (w, h) in {"a.jpg": (50, 40), "b.jpg": (60, 30), "neg.jpg": (20, 20)}.items():
        save_image(np.zeros((h, w, 3), np.uint8), d / "images" / name)
    (d / "train_labels.csv").write_text(
        "filename,width,height,class,xmin,ymin,xmax,ymax,source\n"
        "a.jpg,50,40,kangaroo,1,2,30,39,kaggle\n"
        "a.jpg,50,40,kangaroo,10,5,50,40,kaggle\n"
        "b.jpg,60,30,kangaroo,0,0,10,10,kaggle\n"
        "neg.jpg,20,20,,,,,,kaggle\n")
    samples, problems = read_csv(d / "train_labels.csv")
    assert problems == [] and [len(s.boxes) for s in samples] == [2, 1, 0]
    assert samples[0].meta["source"] == "kaggle"
    out = tmp_path / "out"
    write_dataset(samples, out, "csv")
    again, problems = read_csv(out / "labels.csv")
    assert problems == [] and [len(s.boxes) for s in again] == [2, 1, 0]
    # a bad row marks its file, names the line
    (d / "train_labels.csv").write_text(
        "filename,width,height,class,xmin,ymin,xmax,ymax,source\n"
        "a.jpg,50,40,kangaroo,1,2,30,39,kaggle\n"
        "a.jpg,50,40,kangaroo,x,5,50,40,kaggle\n"
        "b.jpg,60,30,kangaroo,0,0,10,10,kaggle\n"
        "c.jpg,60,30,kangaroo,0,0,10,10,kaggle\n")
    samples, problems = read_csv(d / "train_labels.csv")
    assert [s.image_path.name for s in samples] == ["b.jpg"]
    assert any("line 3" in p and "a.jpg" in p for p in problems)
    assert any("c.jpg" in p and "not found" in p for p in problems)
    (d / "bad.csv").write_text("name,x\nfoo,1\n")
    with pytest.raises(HuiaError, match="lacks column"):
        read_csv(d / "bad.csv")


def test_kaggle_layout_two_csvs_is_one_line_and_case_twins_count_as_warnings(tmp_path, capsys):
    """The article's Kaggle folder (images/ + train_labels.csv + test_labels.csv) is ambiguous: `data check` said
    'folders, images=135' (a one-class classification set named 'images'); it now names both files. Class names
    differing only by case are a warning that the summary counts."""
    d = tmp_path / "kaggle"
    (d / "images").mkdir(parents=True)
    for name in ("a.jpg", "b.jpg"):
        save_image(np.zeros((40, 50, 3), np.uint8), d / "images" / name)
    head = "filename,width,height,class,xmin,ymin,xmax,ymax,source\n"
    (d / "train_labels.csv").write_text(head + "a.jpg,50,40,Kangaroo,1,2,30,39,k\nb.jpg,50,40,kangaroo,1,2,30,39,k\n")
    (d / "test_labels.csv").write_text(head + "b.jpg,50,40,kangaroo,1,2,30,39,k\n")
    assert main(["data", "check", str(d)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"huia: error: {d}: 2 annotation CSV files here (test_labels.csv, train_labels.csv); pass one "
                   f"of them, e.g. {d / 'test_labels.csv'}"]
    assert main(["data", "check", str(d / "train_labels.csv")]) == 0
    out = capsys.readouterr()
    assert "differ only by case" in out.err and "0 problem(s), 1 warning(s)" in out.out


def test_coco_problems(tmp_path):
    d = tmp_path / "coco"
    (d / "images").mkdir(parents=True)
    save_image(np.zeros((40, 50, 3), np.uint8), d / "images" / "a.jpg")
    save_image(np.zeros((40, 50, 3), np.uint8), d / "images" / "b.jpg")
    data = {"images": [{"id": 7, "file_name": "a.jpg", "width": 50, "height": 40},
                       {"id": 9, "file_name": "b.jpg", "width": 50, "height": 40}],
            "categories": [{"id": 3, "name": "x"}, {"id": 11, "name": "y"}],
            "annotations": [{"id": 1, "image_id": 7, "category_id": 11, "bbox": [1, 2, 10, 10], "iscrowd": 0},
                            {"id": 2, "image_id": 9, "category_id": 5, "bbox": [1, 2, 10, 10]},
                            {"id": 3, "image_id": 99, "category_id": 3, "bbox": [1, 2, 10, 10]}]}
    (d / "annotations.json").write_text(json.dumps(data))
    samples, problems = read_coco(d / "annotations.json")
    assert len(samples) == 1 and samples[0].boxes.labels == ["y"] and samples[0].boxes.class_names == ["x", "y"]
    assert any("unknown category id 5" in p for p in problems)
    assert any("unknown image id 99" in p for p in problems)
    (d / "annotations.json").write_text("{not json")
    with pytest.raises(HuiaError, match="malformed JSON"):
        read_coco(d)


@pytest.mark.parametrize("width, height, problem", [
    ("50", "40", None), (" 50 ", "40.0", None), (50.0, 40, None),  # numbers written as strings are numbers
    ("51", "40", "declared size 51x40 but image a.jpg is 50x40"),
    ("abc", 40, "width is not a number ('abc')"), (50, None, None), (50, [40], "height is not a number ([40])"),
    (True, 40, "width is not a number (True)"), ("nan", 40, "width is not a number ('nan')"),
    (50.5, 40, "width is not a whole number of pixels (50.5)"),
])
def test_coco_declared_size_types(tmp_path, width, height, problem):
    d = tmp_path / "coco"
    save_image(np.zeros((40, 50, 3), np.uint8), d / "images" / "a.jpg")
    im = {"id": 1, "file_name": "a.jpg", "width": width, "height": height}
    data = {"images": [im], "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10]}]}
    (d / "annotations.json").write_text(json.dumps(data))
    samples, problems = read_coco(d)
    if problem is None:
        assert problems == [] and (samples[0].width, samples[0].height) == (50, 40)
    else:
        assert samples == [] and len(problems) == 1 and problems[0].endswith(f"(image 1: a.jpg): {problem}")


def test_class_folders_and_capture_format(tmp_path):
    root = tmp_path / "caps"
    for label in ("wave", "clap"):
        for i in range(3):
            save_image(np.full((20, 30, 3), i * 40, np.uint8), root / label / f"{i}.jpg")
    (root / "wave" / "0.json").write_text(json.dumps(
        {"id": "0", "label": "wave", "width": 30, "height": 20, "model": "movenet-lightning", "score": 0.8,
         "keypoints": [{"name": "nose", "x": 10, "y": 5, "score": 0.9}, {"name": "left_eye", "x": 9, "y": 4,
                                                                          "score": 0.7}]}))
    (root / "wave" / "1.json").write_text(json.dumps({"label": "wave", "keypoints": None}))
    (root / "LICENSE").write_text("top-level files are ignored")
    (root / ".trash").mkdir()
    samples, problems = read_class_folders(root)
    assert problems == [] and len(samples) == 6 and detect_format(root) == "folders"
    s = next(s for s in samples if s.label == "wave" and s.image_path.name == "0.jpg")
    assert s.keypoint_names == ["nose", "left_eye"] and s.keypoints.shape == (2, 3)
    assert s.keypoints[0].tolist() == pytest.approx([10, 5, 0.9])
    # bad sidecars / stray files are reported
    (root / "clap" / "1.json").write_text(json.dumps({"label": "wave", "keypoints": []}))
    (root / "clap" / "2.json").write_text("{broken")
    (root / "clap" / "notes.txt").write_text("?")
    (root / "clap" / "9.json").write_text("{}")
    samples, problems = read_class_folders(root)
    assert len(samples) == 4
    text = "\n".join(problems)
    assert "1.json: label 'wave' disagrees" in text and "2.json: malformed JSON" in text
    assert "notes.txt: not an image" in text and "9.json: keypoints JSON without an image" in text


def test_truncated_kangaroo_jpeg_loads_with_a_warning(shared_data):
    path = shared_data / "kangaroo" / "images" / "00090.jpg"
    with pytest.warns(TruncatedImageWarning, match="00090.jpg"):
        img = load_image(path)
    assert img.shape == (393, 590, 3) and img.dtype == np.uint8
    assert image_size(path) == (590, 393)
    assert img[:300].std() > 10  # real picture content decoded, not a blank
    with pytest.raises(HuiaError, match="00090.jpg.*truncated"):
        load_image(path, strict=True)
    # and the data set keeps it as a sample: the check warns, the sample is there
    samples, problems = read_voc_dir(shared_data / "kangaroo")
    assert problems == [] and any(s.image_path.name == "00090.jpg" for s in samples)


def test_truncated_jpeg_synthetic(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "t.jpg"
    save_image(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), p)
    p.write_bytes(p.read_bytes()[:-200])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = load_image(p)
    assert img.shape == (64, 64, 3) and any("t.jpg" in str(w.message) for w in caught)
    with pytest.raises(HuiaError, match="not found"):
        load_image(tmp_path / "missing.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(HuiaError, match="empty"):
        load_image(tmp_path / "empty.jpg")


@pytest.mark.parametrize("keep", [0.15, 0.5, 0.8])
def test_truncated_jpeg_says_how_much_decoded(shared_data, tmp_path, keep):
    """The warning's share is checked against the full file's decode: the truncated image equals it (same decoder)
    over the reported share of rows, give or take one 16-row block row, and is the grey fill after it."""
    import re

    full_path = shared_data / "kangaroo" / "images" / "00001.jpg"
    data = full_path.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: int(len(data) * keep)])
    full = load_image(full_path)
    with pytest.warns(TruncatedImageWarning) as caught:
        part = load_image(cut)
    share = float(re.search(r"about (\d+)% of it", str(caught[0].message)).group(1)) / 100
    h = full.shape[0]
    same = np.abs(part.astype(int) - full.astype(int)).max(axis=(1, 2)) <= 2
    rows_same = int(np.argmin(same)) if not same.all() else h  # first row that differs
    assert abs(share * h - rows_same) <= 16 + 0.01 * h, (share, rows_same, h)
    assert (part[rows_same + 16:] == 128).all()  # beyond it: never in the file


def test_00090_is_missing_bytes_but_no_rows(shared_data):
    with pytest.warns(TruncatedImageWarning, match="00090.jpg: truncated image file, using the part that decodes "
                                                   r"\(all of its rows\)"):
        load_image(shared_data / "kangaroo" / "images" / "00090.jpg")


def test_load_image_modes(tmp_path):
    from PIL import Image

    Image.new("L", (5, 4), 100).save(tmp_path / "g.png")
    Image.new("RGBA", (5, 4), (255, 0, 0, 0)).save(tmp_path / "a.png")
    assert load_image(tmp_path / "g.png").shape == (4, 5, 3)
    assert (load_image(tmp_path / "a.png") == 255).all()  # transparent -> white
    im = Image.new("RGB", (6, 3), (1, 2, 3))
    exif = im.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: shown as 3x6
    im.save(tmp_path / "r.jpg", exif=exif)
    assert load_image(tmp_path / "r.jpg").shape == (6, 3, 3) and image_size(tmp_path / "r.jpg") == (3, 6)


def test_labelmap_format():
    text = 'item {\n  name: "kangaroo"\n  id: 1\n}\nitem { id: 2 name: \'wallaby\' }\n'
    assert parse_labelmap(text) == ["kangaroo", "wallaby"]
    with pytest.raises(HuiaError, match="without gaps"):
        parse_labelmap('item { name: "a" id: 2 }')


LABELMAP_NAMES = ["back\\slash", 'quo"te', "curly}brace", "{open", "k\u00e4ng\u00fcr\u00fc", "\u9ce5", "it's",
                  "# not a comment", 'a\\"b', "tab\tand\nnewline", "trailing\\"]


def test_labelmap_round_trip_of_awkward_names(tmp_path):
    names = LABELMAP_NAMES + ["plain"]
    write_labelmap(tmp_path, names)
    assert read_labelmap(tmp_path) == names
    # each name alone too (a lone '}' or trailing backslash must not swallow the next item)
    for n in LABELMAP_NAMES:
        assert read_labelmap(write_labelmap(tmp_path / "one.pbtxt", [n, "next"])) == [n, "next"]


def test_labelmap_reads_protobuf_text_format():
    """What TF's own tools write: comments, display_name, nested messages and enums huia ignores, adjacent string
    literals, ``<...>`` messages, and non-ASCII escaped as octal UTF-8 bytes (protobuf's default writer)."""
    text = """# a comment with "quote" and {brace
item {  # trailing comment }
  name: "/m/01"  display_name: 'k\\303\\244ng'
  id: 1
  keypoints { id: 0 label: "nose" }
  frequency: FREQUENT
  keypoint_edges: [1, 2]
}
item < name: "wall" "aby"; id: 2 >
item { id: 3, display_name: "\\xc3\\xa9t\\u00e9" }
"""
    assert parse_labelmap(text) == ["/m/01", "wallaby", "\u00e9t\u00e9"]


@pytest.mark.parametrize("text, message", [
    ('item { name: "a id: 1 }', "line 1: unterminated string"),
    ('item { name: "a" id: 1', "missing '}'"),
    ('item {\n name "a" id: 1 }', "line 2: field 'name' needs"),
    ('item { name: "\\q" id: 1 }', "unknown escape"),
    ('item { name: "\\377" id: 1 }', "not UTF-8"),
    ('item { name: "a" }', "without a name and an integer id"),
    ('item { name: "a" id: 1 } item { name: "a" id: 2 }', "repeated class name"),
])
def test_labelmap_errors_are_one_line(text, message):
    with pytest.raises(HuiaError, match=message) as exc:
        parse_labelmap(text, "lm.pbtxt")
    assert "\n" not in str(exc.value) and str(exc.value).startswith("lm.pbtxt: ")


def test_non_utf8_labelmap_is_a_one_line_error(voc, capsys):
    (voc / "labelmap.pbtxt").write_bytes(b'item { name: "k\xff" id: 1 }')
    with pytest.raises(HuiaError, match="not UTF-8 text.*0xff"):
        read_labelmap(voc)
    assert main(["data", "check", str(voc)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("huia: error: ") and "labelmap.pbtxt" in err and "\n" not in err


@pytest.mark.parametrize("to", ["csv", "coco", "voc"])
def test_huia_accepts_its_own_awkward_class_names(tmp_path, to):
    """``data convert`` then ``data check``: class names with a backslash, quote, brace or accent survive the
    labelmap written beside the annotations (they used to come back with doubled backslashes)."""
    names = ["cat\\tabby", 'say "hi"', "}", "k\u00e4nguru"]
    src = make_voc(tmp_path / "src", n=4, classes=names)
    write_labelmap(src, names)
    assert main(["data", "check", str(src)]) == 0
    out = tmp_path / "out"
    assert main(["data", "convert", str(src), str(out), "--to", to]) == 0
    assert main(["data", "check", str(out)]) == 0
    samples, problems, _ = read_dataset(out)
    assert problems == [] and samples[0].boxes.class_names == names


def _cls_samples(counts):
    return [Sample(Path(f"/x/{label}/{i}.jpg"), label=label) for label, n in counts.items() for i in range(n)]


def test_split_deterministic_stratified_order_independent():
    samples = _cls_samples({"a": 50, "b": 20, "c": 7, "d": 1})
    tr, te = split_samples(samples, 0.8, seed=3)
    assert len(tr) + len(te) == 78 and len(tr) == round(78 * 0.8)
    count = lambda xs, lab: sum(s.label == lab for s in xs)  # noqa: E731
    assert count(tr, "a") == 40 and count(tr, "b") == 16 and count(tr, "d") == 1
    # same on shuffled input, different paths (another machine), different for another seed
    moved = [Sample(Path("/elsewhere") / s.label / s.image_path.name, label=s.label) for s in samples[::-1]]
    tr2, _ = split_samples(moved, 0.8, seed=3)
    key = lambda xs: sorted(f"{s.label}/{s.image_path.name}" for s in xs)  # noqa: E731
    assert key(tr2) == key(tr)
    tr3, _ = split_samples(samples, 0.8, seed=4)
    assert key(tr3) != key(tr)
    # adding a sample never moves the others
    tr4, _ = split_samples(samples + _cls_samples({"e": 1}), 0.8, seed=3)
    assert set(key(tr)) <= set(key(tr4))


def test_split_pinned_values():
    # pins the hash order so a change to the algorithm (which would silently change every split) fails here
    tr, te = split_samples(_cls_samples({"a": 10}), 0.8, seed=0)
    import hashlib
    ranked = sorted(range(10), key=lambda i: hashlib.sha256(f"0:a/{i}.jpg".encode()).hexdigest())
    assert sorted(s.image_path.name for s in te) == sorted(f"{i}.jpg" for i in ranked[8:])


def _captures(label, times_ms, aug=()):
    """Studio capture names: <ms, 13 digits>-<8 hex>; ``aug``: indexes that also get an _aug00 copy."""
    out = [Sample(Path(f"/d/{label}/{t:013d}-{i:08x}.jpg"), label=label) for i, t in enumerate(times_ms)]
    out += [Sample(Path(f"/d/{label}/{times_ms[i]:013d}-{i:08x}_aug00.jpg"), label=label) for i in aug]
    return out


def test_time_split_holds_out_each_class_latest_captures():
    t0 = 1_700_000_000_000
    a = _captures("a", [t0 + 1000 * k for k in range(10)][::-1], aug=[0, 9])  # listed newest first, two copies
    b = _captures("b", [t0 + 500 * k + 7 for k in range(5)])
    tr, te = split_samples(a + b, 0.8, seed=3, by="time")
    for label, n_test in (("a", 2), ("b", 1)):
        t_tr = [int(s.image_path.name[:13]) for s in tr if s.label == label]
        t_te = [int(s.image_path.name[:13]) for s in te if s.label == label]
        assert max(t_tr) < min(t_te) and len(set(t_te)) == n_test
    # a copy goes with its original: the newest capture (index 0) and its copy are both held out
    assert {s.image_path.name for s in te if s.label == "a"} >= {f"{t0 + 9000:013d}-00000000.jpg",
                                                                 f"{t0 + 9000:013d}-00000000_aug00.jpg"}
    # the seed plays no part; as many captures (original + copies count once) train as in the hashed split
    assert split_samples(a + b, 0.8, seed=4, by="time") == (tr, te)
    h_tr, _ = split_samples(a + b, 0.8, seed=3)
    assert len({s.image_path.name[:22] for s in h_tr}) == len({s.image_path.name[:22] for s in tr}) == 12


def test_time_split_refuses_files_without_a_capture_time():
    t0 = 1_700_000_000_000
    mixed = _captures("a", [t0, t0 + 1, t0 + 2]) + _cls_samples({"a": 2})
    with pytest.raises(HuiaError, match=r"time split needs studio captures.*2 of 5 samples have none, e\.g\. "
                                        r"0\.jpg; split by hash instead"):
        split_samples(mixed, 0.8, by="time")
    with pytest.raises(HuiaError, match="unknown split order 'random'"):
        split_samples(mixed, 0.8, by="random")


def test_time_split_cli_names_the_folder(tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "photos"
    for label in ("a", "b"):
        (src / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(src / label / f"{i}.jpg")
    assert main(["data", "split", str(src), "--out", str(tmp_path / "out"), "--by", "time"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"huia: error: {src}: a time split needs studio captures") and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_shots():
    samples = _cls_samples({"a": 10, "b": 8})
    chosen, rest = sample_per_class(samples, 5, seed=1)
    assert sum(s.label == "a" for s in chosen) == 5 and len(rest) == 8
    with pytest.raises(HuiaError, match="cannot take 8 shots"):
        sample_per_class(samples, 8)


def test_split_cli_voc_and_folders(voc, tmp_path):
    out = tmp_path / "split"
    assert main(["data", "split", str(voc), "--train", "0.5", "--seed", "1", "--out", str(out)]) == 0
    tr, p1 = read_voc_dir(out / "train")
    te, p2 = read_voc_dir(out / "test")
    assert p1 == p2 == [] and len(tr) + len(te) == 6
    assert read_labelmap(out / "train") == ["cat", "dog"]
    info = json.loads((out / "split.json").read_text())
    assert sorted(info["train"] + info["test"]) == sorted(f"/{i:03d}.jpg" for i in range(6))
    folders = tmp_path / "f"
    for label in ("x", "y"):
        for i in range(5):
            save_image(np.zeros((8, 8, 3), np.uint8), folders / label / f"{i}.png")
    (folders / "x" / "0.json").write_text('{"keypoints": [[1, 2, 0.5]]}')
    assert main(["data", "split", str(folders), "--out", str(tmp_path / "fs"), "--seed", "2"]) == 0
    tr, _ = read_class_folders(tmp_path / "fs" / "train")
    te, _ = read_class_folders(tmp_path / "fs" / "test")
    assert len(tr) == 8 and len(te) == 2 and {s.label for s in te} == {"x", "y"}
    moved = [s for s in tr + te if s.keypoints is not None]
    assert len(moved) == 1 and moved[0].keypoints.tolist() == [[1, 2, 0.5]]


def test_kangaroo_split_and_convert(shared_data, tmp_path):
    src = shared_data / "kangaroo"
    samples = load_dataset(src)
    assert len(samples) == 135
    tr, te = split_samples(samples, 0.8, seed=0)
    assert (len(tr), len(te)) == (108, 27)
    out = tmp_path / "k"
    assert main(["data", "convert", str(src), str(out), "--to", "csv", "--no-verify"]) == 0
    text = (out / "labels.csv").read_text().splitlines()
    assert text[0] == "filename,width,height,class,xmin,ymin,xmax,ymax,source"
    assert "00001.jpg,450,319,kangaroo,233,89,386,262," in text
    assert (out / "labelmap.pbtxt").read_text() == 'item {\n  name: "kangaroo"\n  id: 1\n}\n'
    shutil.rmtree(out)


def test_same_split_whatever_the_format(voc, tmp_path):
    samples, _ = read_voc_dir(voc)
    assert main(["data", "convert", str(voc), str(tmp_path / "c"), "--to", "coco"]) == 0
    coco_samples, _, _ = read_dataset(tmp_path / "c")
    names = lambda xs: sorted(s.image_path.name for s in xs)  # noqa: E731
    for seed in range(3):
        assert names(split_samples(samples, 0.5, seed)[0]) == names(split_samples(coco_samples, 0.5, seed)[0])


def test_kangaroo_check_warns_about_the_truncated_jpeg(shared_data, capsys):
    assert main(["data", "check", str(shared_data / "kangaroo"), "--json"]) == 0
    cap = capsys.readouterr()
    report = json.loads(cap.out)
    assert report["samples"] == 135 and report["problems"] == [] and report["classes"] == {"kangaroo": 213}
    assert len(report["warnings"]) == 1 and "00090.jpg" in report["warnings"][0]
    assert "huia: warning:" in cap.err and "00090.jpg" in cap.err


def test_unknown_class_is_reported_once_per_file(voc):
    import re

    write_labelmap(voc, ["cat", "dog"])
    p = voc / "annots" / "002.xml"
    text = p.read_text()
    obj = re.search(r"<object>.*?</object>", text, re.S).group(0)
    text = text.replace(obj, obj + obj + obj)  # three boxes ...
    p.write_text(re.sub(r"<name>[^<]*</name>", "<name>zebra</name>", text))  # ... of one unknown class
    _, problems = read_voc_dir(voc)
    assert sum("unknown class 'zebra'" in q for q in problems) == 1, problems


def test_every_format_row_resolves_and_round_trips(tmp_path):
    """The data-format table is what detection, reading and writing use: each row's parts exist, and a sample
    written by its writer is detected as that format and read back."""
    from huia.data import FORMATS, data_format, detect_format, open_writer, read_dataset
    from huia.types import Detections

    img = tmp_path / "src.jpg"
    save_image(np.full((20, 30, 3), 120, np.uint8), img)
    for name in FORMATS:
        f = data_format(name)
        assert callable(f.part("find")) and callable(f.part("read")) and callable(f.part("writer"))
        boxes = Detections(np.array([[2, 3, 20, 15]]), None, np.array([0]), ["cat"]) if f.boxes else None
        with open_writer(tmp_path / name, name, ["cat"]) as w:
            w.add(Sample(image_path=img, label="cat", boxes=boxes, width=30, height=20))
        assert detect_format(tmp_path / name) == name
        samples, problems, fmt = read_dataset(tmp_path / name)
        assert fmt == name and not problems and len(samples) == 1
        if f.boxes:
            np.testing.assert_allclose(samples[0].boxes.xyxy, [[2, 3, 20, 15]])
        else:
            assert samples[0].label == "cat"
    with pytest.raises(HuiaError, match="unknown dataset format 'yolo'"):
        data_format("yolo")
