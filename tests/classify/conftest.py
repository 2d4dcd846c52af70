"""Small real data sets for the classifier tests, built in tmp dirs from ../shared (never committed)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory) -> Path:
    """An isolated feature cache shared by this session's classifier tests (features are content-addressed)."""
    import os

    d = tmp_path_factory.mktemp("huia-cache")
    old = os.environ.get("HUIA_CACHE_DIR")
    os.environ["HUIA_CACHE_DIR"] = str(d)
    yield d
    if old is None:
        os.environ.pop("HUIA_CACHE_DIR", None)
    else:
        os.environ["HUIA_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def digits_small(shared_data, tmp_path_factory) -> Path:
    """3 sign-digit classes x 10 photos (sorted, so the same files every run)."""
    root = tmp_path_factory.mktemp("digits")
    for c in ("0", "1", "2"):
        (root / c).mkdir()
        files = sorted(p for p in (shared_data / "sign-digits" / c).iterdir() if p.suffix.lower() == ".jpg")[:10]
        for f in files:
            shutil.copy(f, root / c / f.name)
    return root


@pytest.fixture(scope="session")
def pose_dataset(shared_data, tmp_path_factory) -> Path:
    """Labelled capture-format pose data from pose_1.mp4 + its reference keypoints: train/ and test/ split in time."""
    from huia.classify.posedata import build_pose_dataset

    root = tmp_path_factory.mktemp("posedata")
    build_pose_dataset(root, shared_data / "pose-video" / "pose_1.mp4", shared_data / "pose-video" / "pose_1.json")
    return root
