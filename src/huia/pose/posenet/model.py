"""PoseNet MobileNetV1 estimator with a runtime-selectable output stride (8, 16 or 32).

The bundled graph (human-models posenet.json) is MobileNetV1 at output stride 16. As the PoseNet article explains,
other strides come from the same weights by changing the striding of the convolutions: MobileNetV1's 14 layers
downsample by [2,1,2,1,2,1,2,1,1,1,1,1,2,1]; once the running stride reaches the target, each further stride-2
layer runs at stride 1 and every later depthwise convolution becomes atrous (dilation = the stride skipped so far)
so its filters keep their field of view. We apply that rule to the loaded artifacts (Conv2D/DepthwiseConv2D
`strides` / `dilations` attributes) before building the GraphModel; the weights are untouched.

The rule is applied *relative to the graph as loaded*: a layer's new dilation is its current one times
rate(target) / rate(current stride). The bundled graph runs its last layer undilated at stride 16 (the plain rule
would give it dilation 2); keeping its geometry as the baseline matters: on pose_1.mp4 against the MoveNet
reference, stride 8 measures 11.5 px mean error this way and 16.8 px with absolute rates (stride 16: 11.1 px).
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache

import numpy as np

from huia.errors import HuiaError
from huia.pose.calculators.image import pad_to_aspect, resize_bilinear
from huia.pose.posenet._checks import check_scale_factor, check_stride
from huia.pose.posenet.decode_multi import decode_multiple_poses
from huia.pose.posenet.decode_single import decode_single_pose
from huia.pose.spec import pose_model_spec
from huia.pose.types import Pose

MOBILENET_V1_STRIDES = [2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
# shared with web/js/pose/posenet.js (web/spec/pose_models.json "posenet")
_SPEC = pose_model_spec()["posenet"]
BUNDLED_STRIDE: int = _SPEC["bundled_output_stride"]
DEFAULT_OUTPUT_STRIDE: int = _SPEC["output_stride"]
MIN_MULTI_POSE_SCORE: float = _SPEC["min_multi_pose_score"]
DEFAULT_INPUT_RESOLUTION: int = _SPEC["input_resolution"]  # the bundled graph's size (any k * stride + 1 works)
OUTPUTS: dict[str, str] = dict(_SPEC["outputs"])
_LAYER = re.compile(r"MobilenetV1/MobilenetV1/Conv2d_(\d+)(_depthwise)?/")


def layer_strides_and_rates(output_stride: int) -> list[tuple[int, int]]:
    """(stride, dilation rate) per MobileNetV1 layer for a target output stride (PoseNet's toOutputStridedLayers)."""
    check_stride(output_stride)
    current, rate, out = 1, 1, []
    for s in MOBILENET_V1_STRIDES:
        if current == output_stride:
            out.append((1, rate))
            rate *= s
        else:
            out.append((s, 1))
            current *= s
    return out


def _int_list(values) -> dict:
    return {"list": {"i": [str(int(v)) for v in values]}}


def _layer_nodes(topo: dict) -> dict[int, dict]:
    """Layer index -> its spatial (3x3 / first) convolution node; pointwise 1x1s keep stride and rate 1."""
    found = {}
    for node in topo.get("node", []):
        m = _LAYER.match(node.get("name", ""))
        if not m or node.get("op") not in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative",
                                           "FusedDepthwiseConv2dNative"):
            continue
        layer = int(m.group(1))
        if layer == 0 or m.group(2) is not None:
            found[layer] = node
    return found


def _attr_ints(node: dict, key: str) -> list[int]:
    vals = (((node.get("attr") or {}).get(key) or {}).get("list") or {}).get("i") or ["1", "1", "1", "1"]
    return [int(v) for v in vals]


def convert_output_stride(artifacts, output_stride: int):
    """A copy of PoseNet MobileNetV1 artifacts whose convolutions give `output_stride` (atrous below 32)."""
    check_stride(output_stride)
    topo = copy.deepcopy(artifacts.model_topology)
    layers = _layer_nodes(topo)
    if set(layers) != set(range(len(MOBILENET_V1_STRIDES))):
        raise HuiaError("not a PoseNet MobileNetV1 graph (could not find all 14 convolution layers)",
                        getattr(artifacts, "path", None))
    cur_strides = [_attr_ints(layers[i], "strides")[1] for i in range(len(layers))]
    cur_rates = [_attr_ints(layers[i], "dilations")[1] for i in range(len(layers))]
    base_stride = int(np.prod(cur_strides))
    base_plan = layer_strides_and_rates(base_stride)
    if [s for s, _ in base_plan] != cur_strides:
        raise HuiaError(f"unexpected PoseNet layer strides {cur_strides}", getattr(artifacts, "path", None))
    plan = layer_strides_and_rates(output_stride)
    for i, node in layers.items():
        stride, rate = plan[i]
        rate = max(1, cur_rates[i] * rate // base_plan[i][1])
        attr = node.setdefault("attr", {})
        attr["strides"] = _int_list([1, stride, stride, 1])
        attr["dilations"] = _int_list([1, rate, rate, 1])
    art = copy.copy(artifacts)
    # any k * stride + 1 input size works: free the spatial dims of the input, drop the fixed output sizes
    for node in topo.get("node", []):
        if node.get("op") == "Placeholder":
            dims = (((node.get("attr") or {}).get("shape") or {}).get("shape") or {}).get("dim")
            if dims and len(dims) == 4:
                dims[1]["size"] = dims[2]["size"] = "-1"
    sig = copy.deepcopy(artifacts.signature or {})
    for spec in (sig.get("inputs") or {}).values():
        dims = (spec.get("tensorShape") or {}).get("dim")
        if dims and len(dims) == 4:
            dims[1]["size"] = dims[2]["size"] = "-1"
    for spec in (sig.get("outputs") or {}).values():
        spec.pop("tensorShape", None)
    art.model_topology = topo
    art.signature = sig or None
    return art


@lru_cache(maxsize=4)
def load_posenet_graph(output_stride: int = BUNDLED_STRIDE):
    """The bundled PoseNet as a GraphModel at the requested output stride (cached)."""
    from huia.models import get_model
    from huia.tfjs.artifacts import load_artifacts
    from huia.tfjs.graph import GraphModel

    art = load_artifacts(get_model("posenet").path)
    return GraphModel(convert_output_stride(art, output_stride))


def valid_resolution(size: float, output_stride: int) -> int:
    """Largest k * output_stride + 1 <= size (and at least output_stride + 1)."""
    return max(int(np.floor((size - 1) / output_stride)) * output_stride + 1, output_stride + 1)


class PoseNet:
    """PoseNet estimator. estimate(image) -> poses in image pixels.

    input_resolution (int or (h, w)): the image is padded to that aspect and resized, as posenet 2.x does
    (default 385, the bundled graph's size). image_scale_factor (0.2..1): posenet 1.x's knob instead: each side is
    scaled by the factor (rounded to a valid size) without padding. flip_horizontal: returned x = width - 1 - x
    (PoseNet's flipHorizontal, for a mirrored webcam view). min_pose_score: poses scoring below it are dropped
    (default: the spec's min_multi_pose_score for multi-person decoding, 0 for single-person). Video frames (t given) of a single-pose
    estimator are smoothed with the one-euro keypoint filter of web/spec/signals.json unless smoothing=False.
    """

    def __init__(self, multi: bool = False, output_stride: int = DEFAULT_OUTPUT_STRIDE, input_resolution=None,
                 image_scale_factor: float | None = None, flip_horizontal: bool = False,
                 max_poses: int = _SPEC["max_poses"], score_threshold: float = _SPEC["score_threshold"],
                 nms_radius: float = _SPEC["nms_radius"], min_pose_score: float | None = None,
                 smoothing: bool = True, model=None):
        self.multi = multi
        self.output_stride = check_stride(int(output_stride))
        self.image_scale_factor = None if image_scale_factor is None else check_scale_factor(image_scale_factor)
        if input_resolution is None:
            input_resolution = DEFAULT_INPUT_RESOLUTION
        if isinstance(input_resolution, (int, float)):
            input_resolution = (input_resolution, input_resolution)
        self.input_resolution = tuple(valid_resolution(v, self.output_stride) for v in input_resolution)
        self.flip_horizontal = flip_horizontal
        if max_poses <= 0:
            raise HuiaError(f"max_poses must be > 0, got {max_poses}")
        self.max_poses, self.score_threshold, self.nms_radius = int(max_poses), float(score_threshold), nms_radius
        # multi-person: the decoder returns up to max_poses poses whatever their instance score (its roots only
        # need score_threshold); like the PoseNet demos, drop the weak leftovers (the demo's default)
        self.min_pose_score = (MIN_MULTI_POSE_SCORE if multi else 0.0) if min_pose_score is None else min_pose_score
        self.model = model if model is not None else load_posenet_graph(self.output_stride)
        self.smoothing = smoothing
        self._smoother = None

    def reset(self) -> None:
        self._smoother = None

    def run_model(self, model_input: np.ndarray) -> dict[str, np.ndarray]:
        """[h, w, 3] float32 in -1..1 -> heatmap scores (sigmoid), offsets, displacements (each [H, W, C])."""
        out = self.model(model_input[None].astype(np.float32), outputs=list(OUTPUTS.values()))
        maps = {k: np.asarray(out[v])[0] for k, v in OUTPUTS.items()}
        maps["heatmap"] = (1.0 / (1.0 + np.exp(-maps["heatmap"].astype(np.float32)))).astype(np.float32)
        return maps

    def prepare(self, image: np.ndarray):
        """(model input, scale_y, scale_x, pad_top, pad_left) mapping model pixels back to the image."""
        h, w = image.shape[:2]
        if self.image_scale_factor is not None:
            rh = valid_resolution(h * self.image_scale_factor, self.output_stride)
            rw = valid_resolution(w * self.image_scale_factor, self.output_stride)
            x = resize_bilinear(image, (rh, rw))
            return x / 127.5 - 1.0, h / rh, w / rw, 0, 0
        th, tw = self.input_resolution
        top, bottom, left, right = pad_to_aspect(h, w, th, tw)
        padded = np.zeros((h + top + bottom, w + left + right, 3), np.float32)
        padded[top:top + h, left:left + w] = image
        x = resize_bilinear(padded, (th, tw))
        return x / 127.5 - 1.0, (h + top + bottom) / th, (w + left + right) / tw, top, left

    def estimate(self, image, t: float | None = None) -> list[Pose]:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) == 0:
            raise HuiaError(f"expected an H x W x 3 RGB image, got shape {tuple(img.shape)}")
        x, sy, sx, top, left = self.prepare(img)
        maps = self.run_model(x.astype(np.float32))
        if self.multi:
            poses = decode_multiple_poses(maps["heatmap"], maps["offsets"], maps["fwd"], maps["bwd"],
                                          self.output_stride, self.max_poses, self.score_threshold, self.nms_radius)
        else:
            poses = [decode_single_pose(maps["heatmap"], maps["offsets"], self.output_stride)]
        w = img.shape[1]
        poses = [p.scaled(sx, sy, -left, -top) for p in poses if p.score >= self.min_pose_score]
        if self.flip_horizontal:
            poses = [p.flipped(w) for p in poses]
        if self.smoothing and t is not None and not self.multi and poses:
            from huia.pose.calculators.filters import KeypointSmoother

            if self._smoother is None:
                self._smoother = KeypointSmoother()
            poses = [self._smoother(poses[0], t)]
        return poses
