"""Multi-pose PoseNet decoding: PersonLab's fast greedy decoding.

Same semantics as @tensorflow-models/posenet 2.2.2 `decodeMultiplePoses`:

1. root candidates = every (y, x, part) whose score is >= score_threshold and that no neighbour in the 3x3 window
   (local-maximum radius 1) beats strictly;
2. candidates are visited in decreasing score; a candidate is skipped when its image position lies within
   nms_radius (squared distance <= nms_radius**2) of the same part of an already decoded pose;
3. a kept root is grown into a pose by walking the 16-edge part tree (``pose_chain`` in web/spec/keypoints.json):
   first towards the nose with the backward displacements, then to the leaves with the forward ones, each jump
   refined twice with the short-range offsets at the nearest heatmap cell;
4. the pose score is the sum of the scores of its keypoints that are not within nms_radius of the same keypoint of
   an earlier pose, divided by the number of parts.

What is vectorized: candidate extraction (a 3x3 max filter over all parts at once), root positions, and the NMS
test — each accepted pose suppresses all later candidates in one numpy operation, so the greedy loop only ever
touches the <= max_pose_detections roots that become poses. The tree walk itself is 32 dependent scalar steps per
pose and runs on Python floats (float64, like JavaScript numbers) for exact agreement with the reference.

Ties: when some candidates have exactly equal scores (saturated sigmoids, plateaus), the visiting order of the
reference's binary max-heap is reproduced by replaying its pushes and pops (rare, so the fast path is a sort).
"""

from __future__ import annotations

import math

import numpy as np

from huia.errors import HuiaError
from huia.pose.posenet._checks import as_map, check_stride
from huia.pose.spec import COCO_NAMES, keypoint_spec, pose_model_spec
from huia.pose.types import Keypoint, Pose

# shared with web/js/pose/posenet.js (web/spec/pose_models.json "posenet")
_SPEC = pose_model_spec()["posenet"]
LOCAL_MAXIMUM_RADIUS: int = _SPEC["local_maximum_radius"]
OFFSET_REFINE_STEPS: int = _SPEC["offset_refine_steps"]


def _js_round(v: float) -> int:
    """JavaScript Math.round: nearest integer, halves towards +infinity."""
    f = math.floor(v)
    return int(f + 1) if v - f >= 0.5 else int(f)


def local_maximum_candidates(scores: np.ndarray, score_threshold: float, radius: int = LOCAL_MAXIMUM_RADIUS):
    """(ys, xs, parts, values) of the root candidates, sorted by decreasing score (ties row-major)."""
    h, w, _ = scores.shape
    padded = np.pad(scores, ((radius, radius), (radius, radius), (0, 0)), constant_values=-np.inf)
    neigh_max = scores.copy()
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            if dy == radius and dx == radius:
                continue
            np.maximum(neigh_max, padded[dy:dy + h, dx:dx + w], out=neigh_max)
    # Compare in float64: the reference compares float32 scores with a double threshold.
    keep = (scores >= neigh_max) & (scores.astype(np.float64) >= float(score_threshold))
    ys, xs, parts = np.nonzero(keep)  # row-major (y, x, part): the reference's enqueue order
    values = scores[ys, xs, parts]
    if len(np.unique(values)) == len(values):
        order = np.argsort(-values, kind="stable")
    else:
        order = js_max_heap_order(values.tolist())
    return ys[order], xs[order], parts[order], values[order]


def js_max_heap_order(values: list[float]) -> np.ndarray:
    """Pop order of the reference decoder's MaxHeap (posenet multi_pose/max_heap.js) after pushing `values` in
    order: only differs from a sort for ties, which a binary heap breaks by position, not by insertion order."""
    pq: list[int] = []
    v = values

    def less(i, j):
        return v[pq[i]] < v[pq[j]]

    for idx in range(len(v)):
        pq.append(idx)
        k = len(pq) - 1
        while k > 0 and less(k // 2, k):
            pq[k], pq[k // 2] = pq[k // 2], pq[k]
            k //= 2
    out = []
    n = len(pq) - 1  # index of the last element, as in the reference
    while n >= 0:
        out.append(pq[0])
        pq[0], pq[n] = pq[n], pq[0]
        n -= 1
        k = 0
        while 2 * k <= n:
            j = 2 * k
            if j < n and less(j, j + 1):
                j += 1
            if not less(k, j):
                break
            pq[k], pq[j] = pq[j], pq[k]
            k = j
    return np.array(out, dtype=np.int64)


class _Walker:
    """The dependent part of the decoding (tree walk for one root), on Python floats."""

    def __init__(self, scores, offsets, disp_fwd, disp_bwd, stride):
        self.scores, self.offsets, self.fwd, self.bwd = scores, offsets, disp_fwd, disp_bwd
        self.h, self.w, self.k = scores.shape
        self.stride = stride
        self.num_edges = disp_fwd.shape[2] // 2
        chain = keypoint_spec().pose_chain
        self.parents = [int(p) for p in chain[:, 0]]
        self.children = [int(c) for c in chain[:, 1]]

    def _near(self, y: float, x: float) -> tuple[int, int]:
        s = self.stride
        iy = min(max(_js_round(y / s), 0), self.h - 1)
        ix = min(max(_js_round(x / s), 0), self.w - 1)
        return iy, ix

    def _traverse(self, edge: int, src_y: float, src_x: float, target: int, disp) -> tuple[float, float, float]:
        iy, ix = self._near(src_y, src_x)
        ty = src_y + disp.item(iy, ix, edge)
        tx = src_x + disp.item(iy, ix, self.num_edges + edge)
        for _ in range(OFFSET_REFINE_STEPS):
            iy, ix = self._near(ty, tx)
            ty = iy * self.stride + self.offsets.item(iy, ix, target)
            tx = ix * self.stride + self.offsets.item(iy, ix, target + self.k)
        iy, ix = self._near(ty, tx)
        return ty, tx, self.scores.item(iy, ix, target)

    def decode(self, root_part: int, root_score: float, root_y: float, root_x: float) -> np.ndarray:
        """[K, 3] (y, x, score) of the pose grown from this root."""
        k = self.k
        ys = [0.0] * k
        xs = [0.0] * k
        ss = [0.0] * k
        known = [False] * k
        ys[root_part], xs[root_part], ss[root_part], known[root_part] = root_y, root_x, root_score, True
        for edge in range(len(self.parents) - 1, -1, -1):  # towards the root of the tree (backward)
            src, tgt = self.children[edge], self.parents[edge]
            if known[src] and not known[tgt]:
                ys[tgt], xs[tgt], ss[tgt] = self._traverse(edge, ys[src], xs[src], tgt, self.bwd)
                known[tgt] = True
        for edge in range(len(self.parents)):  # towards the leaves (forward)
            src, tgt = self.parents[edge], self.children[edge]
            if known[src] and not known[tgt]:
                ys[tgt], xs[tgt], ss[tgt] = self._traverse(edge, ys[src], xs[src], tgt, self.fwd)
                known[tgt] = True
        return np.array([ys, xs, ss], dtype=np.float64).T


def decode_multiple_poses(heatmap_scores, offsets, displacements_fwd, displacements_bwd, output_stride: int,
                          max_pose_detections: int = _SPEC["max_poses"],
                          score_threshold: float = _SPEC["score_threshold"],
                          nms_radius: float = _SPEC["nms_radius"]) -> list[Pose]:
    """heatmap_scores [H, W, K] (sigmoid applied), offsets [H, W, 2K], displacements [H, W, 2E] (E = K - 1 edges,
    E y-components then E x-components). Returns up to max_pose_detections poses in model-input pixels, in the
    order they were found (decreasing root score)."""
    stride = check_stride(output_stride)
    scores = as_map("heatmap_scores", heatmap_scores)
    h, w, k = scores.shape
    num_edges = len(keypoint_spec().pose_chain)
    if k != num_edges + 1:
        raise HuiaError(f"heatmap_scores: expected {num_edges + 1} parts for the PoseNet part tree, got {k}")
    offs = as_map("offsets", offsets, channels=2 * k, hw=(h, w))
    fwd = as_map("displacements_fwd", displacements_fwd, channels=2 * num_edges, hw=(h, w))
    bwd = as_map("displacements_bwd", displacements_bwd, channels=2 * num_edges, hw=(h, w))
    if max_pose_detections <= 0:
        raise HuiaError(f"max_pose_detections must be > 0, got {max_pose_detections}")
    if nms_radius <= 0:
        raise HuiaError(f"nms_radius must be > 0, got {nms_radius}")

    cy, cx, cpart, cscore = local_maximum_candidates(scores, score_threshold)
    if len(cy) == 0:
        return []
    # Root positions of every candidate in image (model input) pixels, float64 like JavaScript numbers.
    root_y = cy * float(stride) + offs[cy, cx, cpart].astype(np.float64)
    root_x = cx * float(stride) + offs[cy, cx, cpart + k].astype(np.float64)
    sq_nms = float(nms_radius) * float(nms_radius)
    alive = np.ones(len(cy), dtype=bool)
    walker = _Walker(scores, offs, fwd, bwd, stride)
    found: list[np.ndarray] = []  # [K, 3] (y, x, score)
    pose_scores: list[float] = []
    i = 0
    n = len(cy)
    while len(found) < max_pose_detections:
        # next candidate not suppressed by a previous pose
        rest = np.flatnonzero(alive[i:])
        if len(rest) == 0:
            break
        i += int(rest[0])
        part = int(cpart[i])
        kp = walker.decode(part, float(cscore[i]), float(root_y[i]), float(root_x[i]))
        if found:
            prev = np.stack(found)  # [P, K, 3]
            d2 = (prev[:, :, 0] - kp[None, :, 0]) ** 2 + (prev[:, :, 1] - kp[None, :, 1]) ** 2
            overlapped = (d2 <= sq_nms).any(axis=0)
            score = float(kp[~overlapped, 2].sum()) / k
        else:
            score = float(kp[:, 2].sum()) / k
        found.append(kp)
        pose_scores.append(score)
        i += 1
        if i >= n:
            break
        # part-based NMS: this pose suppresses later roots near its keypoint of the same part
        tail = slice(i, n)
        ty = kp[cpart[tail], 0]
        tx = kp[cpart[tail], 1]
        alive[tail] &= (root_y[tail] - ty) ** 2 + (root_x[tail] - tx) ** 2 > sq_nms
    names = COCO_NAMES
    poses = []
    for kp, s in zip(found, pose_scores):
        poses.append(Pose([Keypoint(names[j], kp[j, 1], kp[j, 0], kp[j, 2]) for j in range(k)], s))
    return poses
