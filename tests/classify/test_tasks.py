"""Each classifier task is described once (huia.classify.tasks) and everything else asks it: the CLI offers exactly
the registered tasks, each has a model under its name, and a task's input is what its model takes."""

from __future__ import annotations

import numpy as np
import pytest

from huia.classify.models import ModelConfig, create_model, list_models
from huia.classify.tasks import TASKS, get_task
from huia.errors import HuiaError


def test_every_task_has_a_model_and_the_cli_offers_them_all():
    from huia.cli import build_parser

    assert set(TASKS) <= set(list_models())
    parser = build_parser()
    for name in TASKS:
        args = parser.parse_args(["classify", "train", "--data", "d", "--out", "o", "--task", name])
        assert args.task == name
    with pytest.raises(HuiaError, match="unknown classifier task 'video'"):
        get_task("video")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_a_tasks_input_is_what_its_model_takes(name, shared_data, node_modules):
    from huia.types import Sample

    task = get_task(name)
    photo = shared_data / "pose-video" / "pose.jpg"
    from huia.classify.models import get_backbone_spec

    spec = get_backbone_spec(task.default_backbone) if task.has_backbone else None
    size = spec.input_size if spec else None
    x = task.make_input(Sample(image_path=photo), size)
    dim = 0 if task.has_backbone else len(x)
    model = create_model(ModelConfig(arch=name, num_classes=3, backbone=task.default_backbone, feature_dim=dim))
    import torch

    with torch.no_grad():
        p = model(torch.from_numpy(np.asarray(x, np.float32)[None])).numpy()
    assert p.shape == (1, 3) and np.isfinite(p).all()
