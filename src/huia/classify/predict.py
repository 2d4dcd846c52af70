"""Load a trained classifier run and predict: `huia classify predict RUN IMAGE|DIR --json`."""

from __future__ import annotations

import json
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
    if not cfg_path.is_file():
        raise HuiaError("not a classifier run (no config.json)", run_dir)
    if not model_path.is_file():
        raise HuiaError("run has no trained model (model.pt missing: training unfinished?)", run_dir)
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise HuiaError(f"malformed config.json ({exc.msg})", cfg_path) from None
    if config.get("task") != "classify":
        raise HuiaError(f"config.json task is {config.get('task')!r}, not 'classify'", cfg_path)
    state = torch.load(model_path, weights_only=False, map_location="cpu")
    cfg = ModelConfig(**state["config"])
    model = create_model(cfg, trainable="backbone" in state)
    model.head.load_state_dict(state["head"])
    if "backbone" in state:
        model.backbone.load_state_dict(state["backbone"])
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    model.eval()
    return Run(run_dir, config, model, list(state["labels"]))


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


def collect_images(target: str | Path) -> list[Sample]:
    """IMAGE, or every image under DIR (recursively; a keypoints JSON beside an image is used)."""
    from huia.data.folders import parse_keypoints_json
    from huia.data.images import is_image_file

    target = Path(target)
    if target.is_file():
        files = [target]
    elif target.is_dir():
        files = sorted(p for p in target.rglob("*") if p.is_file() and is_image_file(p))
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
            except json.JSONDecodeError as exc:
                raise HuiaError(f"malformed JSON ({exc.msg})", side) from None
        samples.append(s)
    return samples


def predict_paths(run_dir: str | Path, target: str | Path, top: int = 3) -> list[dict]:
    run = load_run(run_dir)
    samples = collect_images(target)
    probs = predict_proba(run, samples)
    out = []
    for s, p in zip(samples, probs):
        order = np.argsort(-p)[:top]
        best = int(order[0])
        out.append({"file": str(s.image_path), "label": run.labels[best], "score": round(float(p[best]), 4),
                    "top": [{"label": run.labels[int(i)], "score": round(float(p[i]), 4)} for i in order]})
    return out
