"""Load a trained classifier run and predict: `huia classify predict RUN IMAGE|DIR --json`."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from huia.classify.models import ModelConfig, create_model
from huia.errors import HuiaError
from huia.types import Sample


@dataclass
class Run:
    path: Path
    config: dict
    model: torch.nn.Module
    labels: list[str]

    @property
    def task(self) -> str:
        return self.config["classifier"]

    @property
    def input_size(self) -> int | None:
        return self.config.get("input_size")


def load_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    cfg_path, model_path = run_dir / "config.json", run_dir / "model.pt"
    if not run_dir.is_dir():
        raise HuiaError("no such run directory", run_dir)
    if not cfg_path.is_file():
        raise HuiaError("not a classifier run (no config.json)", run_dir)
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise HuiaError(f"malformed config.json ({exc.msg})", cfg_path) from None
    task = config.get("task") if isinstance(config, dict) else None
    if task != "classify":
        # checked before model.pt: a finished detect run has no model.pt, and "training unfinished?" would mislead
        if task == "detect":
            raise HuiaError("this is a detect run; use huia detect eval/predict", run_dir)
        raise HuiaError(f"not a classifier run (config.json task is {task!r}, not 'classify')", cfg_path)
    if not model_path.is_file():
        raise HuiaError("run has no trained model (model.pt missing: training unfinished?)", run_dir)
    state = read_torch_file(model_path, "model.pt", ("config", "labels", "head"))
    try:
        cfg = ModelConfig(**state["config"])
        model = create_model(cfg, trainable="backbone" in state)
        model.head.load_state_dict(state["head"])
        if "backbone" in state:
            model.backbone.load_state_dict(state["backbone"])
            for p in model.backbone.parameters():
                p.requires_grad_(False)
        labels = [str(x) for x in state["labels"]]
    except HuiaError:
        raise
    except (TypeError, ValueError, RuntimeError, KeyError, AttributeError) as exc:
        msg = " ".join(str(exc).split())[:200]
        raise HuiaError(f"model.pt does not match its own config ({type(exc).__name__}: {msg})", model_path) from None
    model.eval()
    return Run(run_dir, config, model, labels)


def read_torch_file(path: Path, what: str, required: tuple[str, ...]) -> dict:
    """torch.load a file huia wrote, or a one-line HuiaError saying it is empty, torn, foreign, holds code (not
    plain data) or misses ``required`` keys (a traceback from pickle says none of that)."""
    from huia.train.common import read_checkpoint_file

    state = read_checkpoint_file(path, what=what, hint="train or export the run again")
    if not isinstance(state, dict):
        raise HuiaError(f"{what} is not a huia classifier file (it holds a {type(state).__name__}, not a dict)", path)
    missing = [k for k in required if k not in state]
    if missing:
        raise HuiaError(f"{what} is not a huia classifier file (missing {', '.join(missing)})", path)
    return state


def run_inputs(run: Run, samples: list[Sample]) -> np.ndarray:
    from huia.classify.train import model_input

    return np.stack([model_input(run.task, s, run.input_size) for s in samples]).astype(np.float32)


@torch.no_grad()
def predict_proba(run: Run, samples: list[Sample], batch: int = 16, desc: str = "predict") -> np.ndarray:
    """[N, C] class probabilities — the same numbers the exported model gives (softmax(head(features)));
    backbone features come from the shared feature cache when this content was seen before."""
    from huia.classify.train import compute_features, limit_threads

    limit_threads()
    if not samples:
        return np.zeros((0, len(run.labels)), np.float32)
    feats, _ = compute_features(run.model, run.task, samples, run.input_size, views=0, batch=batch, desc=desc)
    return torch.softmax(run.model.head(torch.from_numpy(feats)), dim=-1).numpy()


def collect_images(target: str | Path, skipped: list | None = None) -> list[Sample]:
    """IMAGE, or every image under DIR, sub-folders included but hidden ones (.quarantine/) left out; a keypoints
    JSON beside an image is used.

    A malformed keypoints JSON is skipped with a warning when ``skipped`` is a list (the path is appended to it);
    otherwise it is an error."""
    from huia.data.folders import parse_keypoints_json
    from huia.data.images import folder_images

    target = Path(target)
    if target.is_file():
        files = [target]
    elif target.is_dir():
        files = folder_images(target)
        if not files:
            raise HuiaError("no images found", target)
    else:
        raise HuiaError("no such file or directory", target)
    samples = []
    for f in files:
        s = Sample(image_path=f)
        side = f.with_suffix(".json")
        if side.is_file():
            try:
                s.keypoints, s.keypoint_names, _ = parse_keypoints_json(json.loads(side.read_text()), side)
            except (json.JSONDecodeError, HuiaError) as exc:
                err = exc if isinstance(exc, HuiaError) else HuiaError(f"malformed JSON ({exc.msg})", side)
                if skipped is None:
                    raise err from None
                _skip(f, err, skipped)
                continue
        samples.append(s)
    return samples


def _skip(path: Path, exc: HuiaError, skipped: list) -> None:
    named = exc.path is not None and str(exc).startswith(str(exc.path))
    msg = f"{exc} (skipped)" if named else f"{path}: {exc} (skipped)"
    warnings.warn(msg, SkippedFileWarning, stacklevel=3)
    skipped.append(str(path))


class SkippedFileWarning(UserWarning):
    """One input of a batch could not be read; the rest was predicted."""


def predict_samples(run: Run, samples: list[Sample], skipped: list | None = None) -> tuple[list[Sample], np.ndarray]:
    """Probabilities for the readable samples. An unreadable one is dropped with a warning (its path appended to
    ``skipped``) when ``skipped`` is a list; otherwise its HuiaError propagates. Features computed before the bad
    file are in the feature cache, so the retry without it does not recompute them."""
    samples = list(samples)
    while True:
        try:
            return samples, predict_proba(run, samples)
        except HuiaError as exc:
            bad = [i for i, s in enumerate(samples) if exc.path is not None and Path(s.image_path) == exc.path]
            if skipped is None or not bad:
                raise
            _skip(samples[bad[0]].image_path, exc, skipped)
            del samples[bad[0]]


def predict_paths(run_dir: str | Path, target: str | Path, top: int = 3, skipped: list | None = None) -> list[dict]:
    """One dict per image: file (relative to DIR when a folder is given), label, score, top (the ``top`` best
    classes). ``skipped``: see :func:`predict_samples`."""
    if top < 1:
        raise HuiaError(f"--top must be >= 1, got {top}")
    run = load_run(run_dir)
    samples = collect_images(target, skipped)
    samples, probs = predict_samples(run, samples, skipped)
    root = Path(target) if Path(target).is_dir() else None
    out = []
    for s, p in zip(samples, probs):
        order = np.argsort(-p, kind="stable")[:top]
        best = int(order[0])
        name = Path(s.image_path).relative_to(root).as_posix() if root is not None else str(s.image_path)
        out.append({"file": name, "label": run.labels[best], "score": round(float(p[best]), 4),
                    "top": [{"label": run.labels[int(i)], "score": round(float(p[i]), 4)} for i in order]})
    return out
