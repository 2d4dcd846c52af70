"""web/spec/hands.json is the one place of the hand pipeline's numbers (the browser port reads it too):

- the Python pipeline follows a changed spec at run time;
- no distinctive spec number is typed again in src/huia/hands;
- the models are fed the pixel ranges the spec and `huia models list` state, watched at the graph's input.
"""

from __future__ import annotations

import ast
import copy
import json
import math

import numpy as np
import pytest

from huia import paths
from huia.hands import spec as spec_module

# the pipeline's modules (render.py only draws: its font sizes are not model constants)
HANDS_SRC = sorted(p for p in (paths.REPO_ROOT / "src" / "huia" / "hands").glob("*.py") if p.name != "render.py")
# small numbers any arithmetic uses, and the pixel range of uint8 images
COMMON = {0, 0.5, 1, 2, 3, 4, 5, 255}


def _numbers(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            if not k.startswith("_") and k not in ("part_colors", "joint_color", "names", "edges"):
                yield from _numbers(v, path + (k,))
    elif isinstance(node, list):
        for v in node:
            yield from _numbers(v, path)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield float(node), ".".join(path)


def test_no_spec_number_is_typed_in_the_pipeline():
    spec = json.loads((paths.SPEC_DIR / "hands.json").read_text())
    # by absolute value: a typed -0.1 is the constant 0.1 under a minus sign
    distinctive = {abs(v): where for v, where in _numbers(spec) if abs(v) not in COMMON}
    assert {256.0, 224.0, 2.6, 0.4, 2944.0, 0.1} <= set(distinctive)  # the check looks at real values
    found = []
    for file in HANDS_SRC:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
                    and not isinstance(node.value, bool):
                v = abs(float(node.value))
                if v in distinctive:
                    found.append(f"{file.name}:{node.lineno} {node.value} (hands.json {distinctive[v]})")
    assert not found, found


@pytest.fixture()
def perturbed(monkeypatch):
    """hand_spec() returns a copy the test may change."""
    doc = copy.deepcopy(spec_module.hand_spec())
    import huia.hands.landmarks as landmarks
    import huia.hands.palm as palm

    for mod in (spec_module, landmarks, palm):
        monkeypatch.setattr(mod, "hand_spec", lambda: doc)
    return doc


def test_regions_follow_the_spec(perturbed):
    from huia.hands.landmarks import landmarks_to_rect
    from huia.hands.palm import palm_to_rect

    box = np.array([100.0, 100.0, 140.0, 130.0])
    kps = np.array([[120, 130], [0, 0], [120, 100], [0, 0], [0, 0], [0, 0], [0, 0]], float)
    before = palm_to_rect(box, kps)
    perturbed["palm_detector"]["roi"]["scale"] *= 2
    perturbed["palm_detector"]["roi"]["shift_y"] = 0.0
    after = palm_to_rect(box, kps)
    assert after[2] == pytest.approx(2 * before[2]) and after[1] == pytest.approx(115.0)
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 100, (21, 3))
    side, rotation = landmarks_to_rect(pts)[[2, 4]]
    scale = perturbed["landmark_model"]["roi"]["scale"]
    perturbed["landmark_model"]["roi"]["scale"] = 3.0
    assert landmarks_to_rect(pts)[2] == pytest.approx(side / scale * 3.0)
    perturbed["landmark_model"]["roi"]["target_angle_degrees"] -= 90
    turned = landmarks_to_rect(pts)[4]
    assert math.remainder(turned - rotation + math.pi / 2, 2 * math.pi) == pytest.approx(0.0, abs=1e-9)


def test_models_get_the_stated_pixel_ranges(monkeypatch, hands_jpg, node_modules):
    from huia.hands import create_hand_tracker, hand_spec
    from huia.models import KNOWN
    from huia.tfjs.graph import GraphModel

    seen: dict[str, list[float]] = {}
    forward = GraphModel.forward

    def watching(self, inputs, outputs=None):
        for v in (inputs.values() if isinstance(inputs, dict) else [inputs]):
            a = np.asarray(v.detach() if hasattr(v, "detach") else v, dtype=np.float64)
            lo, hi = seen.get(self.path.stem, [np.inf, -np.inf])
            seen[self.path.stem] = [min(lo, a.min()), max(hi, a.max())]
        return forward(self, inputs, outputs)

    monkeypatch.setattr(GraphModel, "forward", watching)
    create_hand_tracker("full").estimate(hands_jpg)
    spec = hand_spec()
    stated = {spec["palm_detector"]["model"]: spec["palm_detector"]["input_range"],
              spec["landmark_model"]["models"]["full"]: spec["landmark_model"]["input_range"]}
    assert set(seen) == set(stated), seen
    for name, (lo, hi) in seen.items():
        rlo, rhi = stated[name]
        assert tuple(KNOWN[name].input_range) == (rlo, rhi)  # `huia models list` says the same
        span = rhi - rlo
        assert rlo - 1e-3 * span <= lo and hi <= rhi + 1e-3 * span, (name, lo, hi)
        assert hi - lo > 0.6 * span, (name, lo, hi)  # a 0..1 picture would not pass as -1..1
