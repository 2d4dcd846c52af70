"""RunDir, checkpoints with RNG state (resume == uninterrupted), seeding, log.csv."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from huia.errors import HuiaError
from huia.train.common import RunDir, progress, seed_everything


def _train(run: RunDir, epochs: int, stop_after: int | None = None, resume: bool = False):
    """A tiny training loop that draws from every RNG each epoch (dropout, numpy, python) like real trainers."""
    seed_everything(3)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    start = 0
    if resume:
        ck = run.load_checkpoint(model, opt)
        start = ck["epoch"] + 1
    for epoch in range(start, epochs):
        x = torch.randn(16, 4) + float(np.random.rand()) + random.random()
        loss = ((model(x) - 1) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        run.log(epoch=epoch, loss=loss.item())
        run.save_checkpoint(model, opt, epoch=epoch)
        if stop_after is not None and epoch == stop_after:
            return model
    return model


def test_resume_reproduces_uninterrupted_run(tmp_path):
    a = RunDir(tmp_path / "a")
    full = _train(a, 6)
    b = RunDir(tmp_path / "b")
    _train(b, 6, stop_after=2)
    b.log(epoch=3, loss=123.0)  # logged after the last checkpoint, then "crashed"
    resumed = _train(b, 6, resume=True)
    for p, q in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(p, q)
    assert a.read_log() == b.read_log()
    assert [r["epoch"] for r in b.read_log()] == list(range(6))


def test_log_new_columns_and_types(tmp_path):
    run = RunDir(tmp_path)
    run.log(step=1, loss=0.5)
    run.log(step=2, loss=np.float32(0.25), val_accuracy=0.9)
    rows = run.read_log()
    assert rows == [{"step": 1, "loss": 0.5, "val_accuracy": None}, {"step": 2, "loss": 0.25, "val_accuracy": 0.9}]
    assert run.plots_dir.is_dir()


def test_config_and_metrics(tmp_path):
    run = RunDir(tmp_path)
    run.save_config({"task": "detect", "seed": 1, "data": tmp_path})
    assert run.load_config()["data"] == str(tmp_path)
    run.check_config({"task": "detect", "seed": 1, "data": str(tmp_path)})
    with pytest.raises(HuiaError, match="seed"):
        run.check_config({"task": "detect", "seed": 2, "data": str(tmp_path)})
    run.save_metrics({"ap": 0.5})
    run.save_metrics({"ap50": np.float64(0.9)})
    assert run.load_metrics() == {"ap": 0.5, "ap50": 0.9}
    with pytest.raises(HuiaError, match="no config.json"):
        RunDir(tmp_path / "empty").load_config()


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    run = RunDir(tmp_path)
    run.checkpoint_path.write_bytes(b"not a checkpoint")
    with pytest.raises(HuiaError, match="checkpoint.pt"):
        run.load_checkpoint()
    assert RunDir(tmp_path / "x").load_checkpoint() is None


def test_seed_everything_repeats():
    seed_everything(5)
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(5)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == a


def test_progress_counts():
    assert sum(progress(range(10), desc="x")) == 45


class _Payload:
    """What a booby-trapped checkpoint holds: unpickling it runs code (here: creates a file)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_checkpoint_is_read_as_data_never_unpickled(tmp_path):
    """A run folder someone shared must not run their code when resumed (the hostile-input audit made a model.pt
    write a file this way): torch.load(weights_only=True), and one line saying why it was refused."""
    import torch

    run = RunDir(tmp_path / "run")
    marker = tmp_path / "PWNED"
    torch.save({"epoch": 0, "step": 1, "extra": {"x": _Payload(marker)}}, run.checkpoint_path)
    with pytest.raises(HuiaError) as err:
        run.load_checkpoint()
    assert not marker.exists()
    assert "cannot read checkpoint" in str(err.value) and "\n" not in str(err.value)


def test_a_checkpoint_of_the_previous_huia_still_resumes(tmp_path):
    """Before checkpoints were read as data, the numpy random state was stored as a numpy array: such a checkpoint
    (an interrupted run) must still resume, restoring that state (the regression audit's finding 1)."""
    run = RunDir(tmp_path / "run")
    np.random.seed(7)
    old = {"epoch": 2, "step": 5, "extra": {}, "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                                                         "torch": torch.get_rng_state()}}
    want = np.random.rand(3)
    torch.save(old, run.checkpoint_path)
    np.random.seed(99)
    assert run.load_checkpoint()["step"] == 5
    np.testing.assert_array_equal(np.random.rand(3), want)
    run.checkpoint_path.write_bytes(b"junk")
    with pytest.raises(HuiaError, match="not a readable checkpoint.*delete it to start over") as err:
        run.load_checkpoint()
    assert "\x1b" not in str(err.value)
