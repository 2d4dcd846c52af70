"""Deterministic, stratified train/test splits and N-shot subsets.

Why hashing instead of shuffling: the order of a sample is ``sha256(f"{seed}:{key}")`` where ``key`` is the
sample's label and file name. That is the same on every machine, Python and numpy version, does not depend on the
order files were listed in, and adding a new image never moves the others between train and test.

Groups: an original and its augmented copies (``huia data augment``) go to the same side, so no test image has a
transformed twin in training; the ratio and the strata count these groups.

Time order (``by="time"``, studio captures only): each class's earliest captures train and its latest are held
out. A capture timer takes frames of one person a second or two apart; a hashed split puts a frame's near-twin from
the same burst on the other side, and the held-out accuracy then measures recognition of training frames.

Stratification: classification samples are grouped by label, detection samples by the set of classes they
contain, so each group is split in the requested ratio (largest-remainder rounding so the total is
``round(N * train)``); a group of one goes to train.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

from huia.errors import HuiaError
from huia.types import Sample


def sample_key(s: Sample) -> str:
    """Machine-independent identity of a sample: label + file name (not the absolute path)."""
    name = s.meta.get("key") or Path(s.image_path).name
    return f"{s.label or ''}/{name}"


# a studio capture's file name starts with its capture time: <ms since 1970, 13 digits>-<8 hex> (server/capture.py)
_CAPTURE_STEM = re.compile(r"^(\d{13})-[0-9a-f]{8}")
SPLIT_ORDERS = ("hash", "time")


def capture_time(s: Sample) -> float | None:
    """Seconds since 1970 at which the studio captured this sample (or the capture an ``_augNN`` copy was made
    from), from its file name; None for files that are not studio captures."""
    from huia.data.provenance import base_stem

    m = _CAPTURE_STEM.match(base_stem(s.image_path))
    return int(m.group(1)) / 1000.0 if m else None


def _unit_times(samples: list[Sample], units: list[list[int]]) -> list[float]:
    times = []
    for g in units:
        ts = [t for t in (capture_time(samples[i]) for i in g) if t is not None]
        if not ts:
            lacking = sum(1 for h in units if all(capture_time(samples[i]) is None for i in h))
            raise HuiaError(f"a time split needs studio captures (file names that start with the capture time, "
                            f"like 1700000000000-1a2b3c4d.jpg): {lacking} of {len(units)} samples have none, e.g. "
                            f"{Path(samples[g[0]].image_path).name}; split by hash instead")
        times.append(min(ts))
    return times


def _rank(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode("utf-8")).hexdigest()


def stratum(s: Sample) -> str:
    if s.label is not None:
        return f"label:{s.label}"
    if s.boxes is not None:
        return "boxes:" + ",".join(sorted(set(s.boxes.labels)))
    return "none"


def sample_groups(samples: list[Sample]) -> list[list[int]]:
    """Indexes of samples that must land on the same side of a split, in input order: an original and its
    augmented copies (``huia.data.provenance``: the ``provenance.json`` source hash, else ``<stem>_augNN`` named
    after ``<stem>.*`` in the same class). Every other sample is a group of one."""
    from huia.data.provenance import group_key

    by_key: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_key.setdefault(group_key(s), []).append(i)
    return sorted(by_key.values(), key=lambda g: g[0])


def _group_rank_key(samples: list[Sample], keys: list[str], group: list[int]) -> str:
    # a group of one ranks exactly as before grouping existed, so un-augmented data sets split as they always did
    if len(group) == 1:
        return keys[group[0]]
    from huia.data.provenance import group_key

    return group_key(samples[group[0]])


def _group_stratum(samples: list[Sample], group: list[int]) -> str:
    labels = {samples[i].label for i in group}
    if labels != {None}:
        return "label:" + ",".join(sorted(str(x) for x in labels))
    # detection: an augmented copy may have lost a box that left the frame; the union is the original's classes
    names: set[str] = set()
    boxed = False
    for i in group:
        if samples[i].boxes is not None:
            boxed = True
            names.update(samples[i].boxes.labels)
    return "boxes:" + ",".join(sorted(names)) if boxed else "none"


def split_samples(samples: list[Sample], train: float = 0.8, seed: int = 0, *, stratify: bool = True,
                  by: str = "hash") -> tuple[list[Sample], list[Sample]]:
    """Split into ``(train, test)``; each part keeps the input order. Same inputs + seed -> same split anywhere.

    ``by="hash"``: seeded hash order; ``by="time"``: capture order (studio captures; the seed plays no part), the
    latest of each class held out. An original and its augmented copies (:func:`sample_groups`) go wholly to one
    side; ratios and stratification count groups (a data set without copies splits exactly as a per-sample
    split)."""
    if not 0.0 < train < 1.0:
        raise HuiaError(f"train fraction must be between 0 and 1 (exclusive), got {train}")
    if by not in SPLIT_ORDERS:
        raise HuiaError(f"unknown split order {by!r} (choose one of {', '.join(SPLIT_ORDERS)})")
    keys = [sample_key(s) for s in samples]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[:3]
        raise HuiaError(f"two samples share the same label/file name ({', '.join(dup)}): the split would be ambiguous")
    units = sample_groups(samples)
    times = _unit_times(samples, units) if by == "time" else None
    strata: dict[str, list[int]] = {}  # stratum -> unit indexes
    for u, g in enumerate(units):
        strata.setdefault(_group_stratum(samples, g) if stratify else "all", []).append(u)
    total = round(len(units) * train)
    # per-stratum quotas by largest remainder, at least 1 train unit per stratum, at least 1 test if it has 2+
    names = sorted(strata)
    exact = {g: len(strata[g]) * train for g in names}
    quota = {g: min(max(math.floor(exact[g]), 1), max(len(strata[g]) - 1, 1)) for g in names}
    order = sorted(names, key=lambda g: (-(exact[g] - math.floor(exact[g])), g))
    for g in order:
        if sum(quota.values()) >= total:
            break
        if quota[g] < len(strata[g]) - 1:
            quota[g] += 1
    train_idx: set[int] = set()
    for g in names:
        if times is not None:
            ranked = sorted(strata[g], key=lambda u: (times[u], keys[units[u][0]]))
        else:
            ranked = sorted(strata[g], key=lambda u: _rank(seed, _group_rank_key(samples, keys, units[u])))
        for u in ranked[: quota[g]]:
            train_idx.update(units[u])
    return ([s for i, s in enumerate(samples) if i in train_idx],
            [s for i, s in enumerate(samples) if i not in train_idx])


def sample_per_class(samples: list[Sample], n: int, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """``(chosen, rest)``: ``n`` samples per label chosen by the same seeded hash order (N-shot training).
    A class with fewer than ``n + 1`` samples raises, because nothing would be left to evaluate it on."""
    if n < 1:
        raise HuiaError(f"shots must be >= 1, got {n}")
    by_label: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        by_label.setdefault(str(s.label), []).append(i)
    chosen: set[int] = set()
    for label, idx in sorted(by_label.items()):
        if len(idx) <= n:
            raise HuiaError(f"class {label!r} has {len(idx)} samples: cannot take {n} shots and keep any for testing")
        ranked = sorted(idx, key=lambda i: _rank(seed, sample_key(samples[i])))
        chosen.update(ranked[:n])
    return ([s for i, s in enumerate(samples) if i in chosen], [s for i, s in enumerate(samples) if i not in chosen])
