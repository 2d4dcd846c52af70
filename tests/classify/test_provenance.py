"""Augmented copies never leak into held-out evaluation (CLI audit finding 2): `classify train` on an augmented set
records each trained file's source, and `classify eval` skips the originals of trained copies."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from huia.cli import main
from huia.data.images import save_image


def _stem(rel: str) -> str:
    return re.sub(r"_aug\d+$", "", Path(rel).stem)


@pytest.fixture(scope="module")
def aug_run(tmp_path_factory, feature_cache):
    root = tmp_path_factory.mktemp("prov")
    rng = np.random.default_rng(3)
    src = root / "captures"
    for k, c in enumerate("abc"):
        (src / c).mkdir(parents=True)
        for i in range(5):
            img = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
            img[:, :, k] += 150  # a colour per class
            save_image(img, src / c / f"shot{i}.jpg")
    assert main(["data", "augment", str(src), str(root / "aug"), "--times", "2"]) == 0
    run = root / "run"
    assert main(["classify", "train", "--data", str(root / "aug"), "--out", str(run), "--shots", "3", "--views", "1",
                 "--epochs", "5", "--seed", "0"]) == 0
    return root, src, run


@pytest.mark.slow
def test_train_records_sources(aug_run):
    root, src, run = aug_run
    cfg = json.loads((run / "config.json").read_text())
    prov = json.loads((root / "aug" / "provenance.json").read_text())["files"]
    # --shots 3 counts source images: 3 originals per class, each with its 2 augmented copies (not 3 copies of one)
    assert len(cfg["trained_on"]) == 27
    per_class = {}
    for t in cfg["trained_on"]:
        per_class.setdefault(t["label"], set()).add(_stem(t["rel"]))
    assert {c: len(g) for c, g in per_class.items()} == {"a": 3, "b": 3, "c": 3}
    for t in cfg["trained_on"]:
        assert t["source_sha1"] == prov[t["rel"]]["source_sha1"]
    # early stopping never watches a copy of a file it fits on
    val = {(Path(r).parent.name, _stem(r)) for r in cfg["validation"]}
    fit = {(t["label"], _stem(t["rel"])) for t in cfg["trained_on"] if t["rel"] not in cfg["validation"]}
    assert val and fit and not val & fit
    # the held-out count it reports is what `classify eval` on this data set will count (siblings excluded)
    m = json.loads((run / "metrics.json").read_text())
    trained_groups = {(t["label"], _stem(t["rel"])) for t in cfg["trained_on"]}
    assert m["held_out_samples"] == 3 * (15 - len(trained_groups)) == cfg["held_out_count"]
    assert m["held_out_samples"] == 45 - 27 and m["held_out_sharing_source"] == 0


def test_validation_split_groups_copies(tmp_path):
    from huia.classify import dataset as D

    src = tmp_path / "src"
    rng = np.random.default_rng(0)
    for c in "ab":
        (src / c).mkdir(parents=True)
        for i in range(6):
            save_image(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), src / c / f"p{i}.jpg")
    assert main(["data", "augment", str(src), str(tmp_path / "aug"), "--times", "3"]) == 0
    ds = D.load_dataset(tmp_path / "aug", quiet=True)
    for seed in range(4):
        fit, val = D.split_validation(ds.samples, ds.labels, 0.2, seed)
        assert len(fit) + len(val) == 48 and len(val) % 4 == 0 and val
        assert not {(s.label, _stem(s.image_path.name)) for s in fit} & {(s.label, _stem(s.image_path.name))
                                                                         for s in val}
    # without copies: exactly the per-sample split it always was
    plain = D.load_dataset(src, quiet=True)
    fit, val = D.split_validation(plain.samples, plain.labels, 0.2, 5)
    rng = np.random.default_rng(5 + 7919)
    expect = []
    for label in plain.labels:
        group = [s for s in plain.samples if s.label == label]
        expect += [group[i] for i in rng.permutation(len(group))[:1]]
    assert [s.image_path for s in val] == [s.image_path for s in expect]


@pytest.mark.slow
def test_eval_on_originals_skips_sources_of_trained_copies(aug_run, capsys):
    root, src, run = aug_run
    cfg = json.loads((run / "config.json").read_text())
    trained_groups = {(t["label"], _stem(t["rel"])) for t in cfg["trained_on"]}
    assert main(["classify", "eval", str(run), "--data", str(src), "--json"]) == 0
    out = capsys.readouterr()
    rep = json.loads(out.out.strip().splitlines()[-1])
    from huia.classify import dataset as D
    from huia.classify.evaluate import held_out_with_reasons

    ds = D.load_dataset(src, labels=cfg["labels"], quiet=True)
    keep, reasons = held_out_with_reasons(cfg, ds)
    assert keep and not {(s.label, s.image_path.stem) for s in keep} & trained_groups
    leaky = sum(1 for c in "abc" for i in range(5) if (c, f"shot{i}") in trained_groups)
    assert leaky == 9  # 3 shots per class, each an original (copied into the augmented set) and its copies
    assert reasons == {"trained_on": 9, "same_source": 0}
    assert rep["samples"] == 15 - leaky and rep["skipped_trained_on"] == leaky
    assert rep["accuracy_ci_method"] == "wilson"  # originals only: independent samples
    # on the augmented set the held-out copies come with their originals: the interval resamples source images
    assert main(["classify", "eval", str(run), "--data", str(root / "aug"), "--json"]) == 0
    aug = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert aug["samples"] == 18 and aug["accuracy_ci_method"] == "bootstrap over 6 source images"
    # a run that trained on the copies only (no original among them) still never evaluates their originals
    copies_only = dict(cfg, trained_on=[t for t in cfg["trained_on"] if "_aug" in t["rel"]])
    keep2, reasons2 = held_out_with_reasons(copies_only, ds)
    assert reasons2 == {"trained_on": 0, "same_source": 9} and len(keep2) == 6


@pytest.mark.slow
def test_eval_on_the_augmented_set_skips_siblings_and_renamed_copies(aug_run, tmp_path):
    from huia.classify import dataset as D
    from huia.classify.evaluate import held_out_with_reasons

    cfg, data = _run_config_and_aug_copy(aug_run, tmp_path)
    first = cfg["trained_on"][0]
    shutil.copy(first["path"], data / first["label"] / "renamed.jpg")  # a copy under another name
    ds = D.load_dataset(data, labels=cfg["labels"], quiet=True)
    keep, reasons = held_out_with_reasons(cfg, ds)
    trained_groups = {(t["label"], _stem(t["rel"])) for t in cfg["trained_on"]}
    assert all((s.label, _stem(s.image_path.name)) not in trained_groups for s in keep)
    assert all(s.image_path.name != "renamed.jpg" for s in keep)
    assert reasons["trained_on"] == 28  # 27 trained files + the renamed copy
    assert len(keep) + sum(reasons.values()) == 46
    assert len(keep) == 3 * len({(c, f"shot{i}") for c in "abc" for i in range(5)} - trained_groups)


@pytest.mark.slow
def test_naming_alone_groups_without_a_manifest(aug_run, tmp_path):
    from huia.classify import dataset as D
    from huia.classify.evaluate import held_out_with_reasons

    cfg, data = _run_config_and_aug_copy(aug_run, tmp_path)
    (data / "provenance.json").unlink()
    ds = D.load_dataset(data, labels=cfg["labels"], quiet=True)
    keep, _ = held_out_with_reasons(cfg, ds)
    trained_groups = {(t["label"], _stem(t["rel"])) for t in cfg["trained_on"]}
    assert keep and all((s.label, _stem(s.image_path.name)) not in trained_groups for s in keep)


def _run_config_and_aug_copy(aug_run, tmp_path):
    """(the run's config.json, a copy of its augmented data set to edit)."""
    root, _, run = aug_run
    data = tmp_path / "aug"
    shutil.copytree(root / "aug", data)
    return json.loads((run / "config.json").read_text()), data
