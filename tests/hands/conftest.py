"""Shared fixtures of the hand tests: the asl video, its MediaPipe reference, and one full-model tracking run over
the whole video (cached for the module that asks for it: the run takes a few seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="session")
def asl(shared_data):
    """(video path, reference [325, 21, 3]): MediaPipe Hands full's landmarks (x, y, z in pixels) for every frame
    of tfjs-models' hand-pose-detection test video; every frame has one hand."""
    folder = shared_data / "pose-video"
    ref = np.array(json.loads((folder / "asl_hand.full.json").read_text()), dtype=np.float64)
    return folder / "asl_hand.25fps.mp4", ref


@pytest.fixture(scope="session")
def hands_jpg(shared_data):
    from huia.pose.estimate import load_rgb

    return load_rgb(shared_data / "pose-video" / "hands.jpg")
