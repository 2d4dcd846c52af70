"""An augmented copy never lands on the other side of a split from its original (CLI audit finding 2): `data
augment` writes provenance.json, and `data split`, `split_samples` and `detect train`'s `load_split` group by it
(or by the `<stem>_augNN` naming when there is no manifest)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from huia.cli import main
from huia.data import read_dataset, split_samples
from huia.data.images import save_image
from huia.data.provenance import file_sha1
from huia.data.split import sample_groups
from huia.types import Sample

from tests.data.test_formats import make_voc


def _stem(name: str) -> str:
    return re.sub(r"_aug\d+$", "", Path(name).stem)


def make_folders(root: Path, classes="abc", n: int = 4, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(n):
            save_image(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), root / c / f"img{i}.jpg")
    return root


def _crossing(train_keys, test_keys) -> set:
    return {(k.rsplit("/", 1)[0], _stem(k)) for k in train_keys} & {(k.rsplit("/", 1)[0], _stem(k)) for k in test_keys}


def test_augment_writes_provenance(tmp_path):
    src = make_folders(tmp_path / "src")
    assert main(["data", "augment", str(src), str(tmp_path / "aug"), "--times", "2"]) == 0
    doc = json.loads((tmp_path / "aug" / "provenance.json").read_text())
    files = doc["files"]
    assert len(files) == 36 and doc["times"] == 2
    for rel, e in files.items():
        orig = src / e["source"]
        assert e["source"] == f"{Path(rel).parent.name}/{_stem(rel)}.jpg"
        assert e["source_sha1"] == file_sha1(orig)
        assert (tmp_path / "aug" / rel).is_file()
    # the copied originals are their own source, byte for byte
    assert file_sha1(tmp_path / "aug" / "a" / "img0.jpg") == files["a/img0.jpg"]["source_sha1"]
    # the manifest does not make the folder look like another format
    samples, problems, fmt = read_dataset(tmp_path / "aug")
    assert fmt == "folders" and not problems and len(samples) == 36
    assert all(s.meta["origin"]["source_sha1"] == files[f"{s.label}/{s.image_path.name}"]["source_sha1"]
               for s in samples)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_split_keeps_each_original_with_its_copies(tmp_path, seed):
    src = make_folders(tmp_path / "src", n=5)
    assert main(["data", "augment", str(src), str(tmp_path / "aug"), "--times", "2"]) == 0
    assert main(["data", "split", str(tmp_path / "aug"), "--out", str(tmp_path / "sp"), "--seed", str(seed)]) == 0
    sp = json.loads((tmp_path / "sp" / "split.json").read_text())
    assert not _crossing(sp["train"], sp["test"])
    # stratified in groups: 5 originals per class -> 4 train, 1 test, each with its 2 copies
    assert len(sp["train"]) == 36 and len(sp["test"]) == 9
    for c in "abc":
        assert sum(k.startswith(f"{c}/") for k in sp["test"]) == 3
    # deterministic
    assert main(["data", "split", str(tmp_path / "aug"), "--out", str(tmp_path / "sp2"), "--seed", str(seed)]) == 0
    assert json.loads((tmp_path / "sp2" / "split.json").read_text())["test"] == sp["test"]
    # the parts carry provenance on, so a later split/eval of a part still groups
    part = json.loads((tmp_path / "sp" / "train" / "provenance.json").read_text())["files"]
    assert len(part) == 36


def test_naming_groups_without_a_manifest():
    # `<stem>_augNN` next to `<stem>.*` in the same class: one group; a same stem in another class is not
    samples = [Sample(Path(f"/d/{c}/{n}"), label=c) for c in "ab"
               for n in ("x.JPG", "x_aug01.jpg", "x_aug02.jpg", "y.jpg", "y_aug01.jpg", "z_aug.jpg")]
    groups = [[samples[i].image_path.relative_to("/d").as_posix() for i in g] for g in sample_groups(samples)]
    assert ["a/x.JPG", "a/x_aug01.jpg", "a/x_aug02.jpg"] in groups and ["b/y.jpg", "b/y_aug01.jpg"] in groups
    assert ["a/z_aug.jpg"] in groups and len(groups) == 6
    for seed in range(5):
        tr, te = split_samples(samples, 0.5, seed)
        key = lambda xs: [f"{s.label}/{s.image_path.name}" for s in xs]  # noqa: E731
        assert not _crossing(key(tr), key(te))


def test_detection_split_and_detect_load_split_group(tmp_path):
    from huia.detect.dataset import load_split

    make_voc(tmp_path / "voc", n=12)
    assert main(["data", "augment", str(tmp_path / "voc"), str(tmp_path / "aug"), "--times", "2"]) == 0
    assert main(["data", "split", str(tmp_path / "aug"), "--out", str(tmp_path / "sp")]) == 0
    sp = json.loads((tmp_path / "sp" / "split.json").read_text())
    assert not _crossing(sp["train"], sp["test"]) and len(sp["test"]) % 3 == 0 and sp["test"]
    for seed in (0, 1):
        tr, te, _ = load_split(tmp_path / "aug", seed=seed)
        assert not _crossing([s.image_path.name for s in tr], [s.image_path.name for s in te])
        assert len(te) % 3 == 0 and te
    # `data split` and `detect train` still agree
    tr, te, _ = load_split(tmp_path / "aug", seed=0)
    assert sorted("/" + s.image_path.name for s in te) == sorted(sp["test"])
    # converting keeps the provenance (a converted set still splits by group)
    assert main(["data", "convert", str(tmp_path / "aug"), str(tmp_path / "coco"), "--to", "coco"]) == 0
    assert len(json.loads((tmp_path / "coco" / "provenance.json").read_text())["files"]) == 36
    samples, problems, fmt = read_dataset(tmp_path / "coco")
    assert fmt == "coco" and not problems and all("origin" in s.meta for s in samples)


def test_seen_hashes_find_originals_of_trained_copies(tmp_path):
    # what a detector's eval on the un-augmented originals should skip (helpers for detect train/eval)
    from huia.data.provenance import originals_by_group, seen_hashes, shares_source

    make_voc(tmp_path / "voc", n=10)
    assert main(["data", "augment", str(tmp_path / "voc"), str(tmp_path / "aug"), "--times", "1"]) == 0
    aug, _, _ = read_dataset(tmp_path / "aug")
    train, test = split_samples(aug, 0.8, 0)
    seen = seen_hashes(train, aug)
    assert not any(shares_source(s, seen, originals_by_group(aug)) for s in test)
    originals, _, _ = read_dataset(tmp_path / "voc")
    trained_stems = {_stem(s.image_path.name) for s in train}
    flagged = {s.image_path.stem for s in originals if shares_source(s, seen, originals_by_group(originals))}
    assert flagged == trained_stems and len(flagged) == 8
    # a copy trained on alone (original not in the training set) still marks its original
    only_copies = [s for s in train if "_aug" in s.image_path.name]
    seen2 = seen_hashes(only_copies, aug)
    assert {s.image_path.stem for s in originals if shares_source(s, seen2, {})} == trained_stems
