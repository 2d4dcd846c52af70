"""`import huia` as a library user meets it: one front door, every name resolves, nothing heavy on import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import huia


@pytest.mark.parametrize("name", huia.__all__)
def test_every_public_name_resolves(name):
    assert getattr(huia, name) is not None and name in dir(huia)


def test_import_is_light_and_unknown_names_fail():
    code = "import sys, huia; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        huia.nope  # noqa: B018


def test_front_door_example(shared_data, node_modules):
    poses = huia.estimate(shared_data / "pose-video" / "pose.jpg", model="movenet-lightning")
    assert isinstance(poses[0], huia.Pose) and poses[0]["left_wrist"].score > 0.3
    with pytest.raises(huia.HuiaError, match="no such file|not found"):
        huia.estimate(shared_data / "nope.jpg")
