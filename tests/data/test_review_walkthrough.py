"""After `data review --quarantine` a class may hold one sample: `data split` must refuse an empty test part
(re-audit finding 1: it wrote "1 train + 0 test images" and exited 0, and training failed two steps later)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from huia.cli import main


def _img(path, seed):
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3)).astype(np.uint8)).save(path)


def test_split_refuses_an_empty_test_part(tmp_path, capsys):
    _img(tmp_path / "src" / "arms_up" / "one.png", 0)
    out = tmp_path / "split"
    assert main(["data", "split", str(tmp_path / "src"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "test part would be empty (1 train + 0 test)" in err and "class counts: arms_up 1" in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_split_counts_originals_not_copies(tmp_path, capsys):
    for cls, seed in (("a", 1), ("b", 2)):  # one photo per class plus augmented copies: still nothing to test on
        _img(tmp_path / "src" / cls / "p.png", seed)
        for k in (1, 2):
            _img(tmp_path / "src" / cls / f"p_aug{k:02d}.png", seed * 10 + k)
    assert main(["data", "split", str(tmp_path / "src"), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "a 3 (1 original(s)), b 3 (1 original(s))" in err, err


def test_split_warns_about_a_class_missing_from_test(tmp_path, capsys):
    _img(tmp_path / "src" / "a" / "x.png", 3)
    for i in range(4):
        _img(tmp_path / "src" / "b" / f"{i}.png", 4 + i)
    assert main(["data", "split", str(tmp_path / "src"), "--out", str(tmp_path / "s"), "--train", "0.5"]) == 0
    cap = capsys.readouterr()
    assert "no test sample for class(es) a" in cap.err and "test images" in cap.out
    assert sorted(p.name for p in (tmp_path / "s" / "test").iterdir()) == ["b"]


def test_split_warns_about_a_single_class(tmp_path, capsys):
    for i in range(4):
        _img(tmp_path / "src" / "arms_up" / f"{i}.png", 20 + i)
    (tmp_path / "src" / "normal").mkdir()  # emptied by a quarantine
    assert main(["data", "split", str(tmp_path / "src"), "--out", str(tmp_path / "s")]) == 0
    assert "one class only (arms_up)" in capsys.readouterr().err
