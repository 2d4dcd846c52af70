"""`huia models list` states the pixel range each bundled model is fed (users of `huia tfjs run` need it): the
registry's figure is checked against what huia's own code really feeds each model, watched at the graph's input."""

from __future__ import annotations

import numpy as np
import pytest

from huia.models import KNOWN
from huia.tfjs.graph import GraphModel


@pytest.fixture()
def fed(monkeypatch):
    """model name -> (min, max) of every float input the graph executor received."""
    seen: dict[str, list[float]] = {}
    forward = GraphModel.forward

    def watching(self, inputs, outputs=None):
        name = self.path.stem if self.path is not None else "?"
        for v in (inputs.values() if isinstance(inputs, dict) else [inputs]):
            a = np.asarray(v.detach() if hasattr(v, "detach") else v, dtype=np.float64)
            lo, hi = seen.get(name, [np.inf, -np.inf])
            seen[name] = [min(lo, a.min()), max(hi, a.max())]
        return forward(self, inputs, outputs)

    monkeypatch.setattr(GraphModel, "forward", watching)
    return seen


def test_registry_says_what_each_model_is_fed(fed, shared_data, node_modules):
    from huia.classify.models import Backbone, get_backbone_spec
    from huia.data.images import load_image
    from huia.pose import estimate

    photo = load_image(shared_data / "pose-video" / "pose.jpg")
    for model in ("posenet", "movenet-lightning", "blazepose"):
        estimate(photo, model=model)
    hands = load_image(shared_data / "pose-video" / "hands.jpg")
    import torch
    from PIL import Image

    x = np.asarray(Image.fromarray(hands).resize((224, 224)), np.float32)[None]
    Backbone(get_backbone_spec("handlandmark-full"))(torch.from_numpy(x))
    from huia.detect.model import DETECTIONS, INPUT, adapt_centernet, load_base_artifacts, preprocess
    from huia.tfjs.graph import load_graph_model

    coco = load_graph_model(adapt_centernet(load_base_artifacts(), input_size=320, class_channels=list(range(80))))
    coco({INPUT: preprocess(photo, 320)}, outputs=[DETECTIONS])
    checked = {k: v for k, v in fed.items() if k in KNOWN}
    assert {"posenet", "movenet-lightning", "blazepose-detector", "blazepose-full", "handlandmark-full",
            "centernet"} <= set(checked), fed
    for name, (lo, hi) in checked.items():
        rlo, rhi = KNOWN[name].input_range
        span = rhi - rlo
        # inside the stated range, and covering most of it (a 0..1 input would not pass as 0..255)
        assert rlo - 1e-3 * span <= lo and hi <= rhi + 1e-3 * span, (name, lo, hi, (rlo, rhi))
        assert hi - lo > 0.6 * span, (name, lo, hi, (rlo, rhi))
