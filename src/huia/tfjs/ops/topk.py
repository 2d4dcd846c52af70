"""TopKV2 with TF's tie order, and non-max suppression."""

from __future__ import annotations

import torch

from huia.tfjs.ops import BuildContext, Op, const_list, register


def topk_stable(x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top k along the last dim; equal values come out lowest index first (TF / TF.js order; torch.topk leaves
    ties unspecified, which matters for heatmaps full of exact zeros)."""
    n = x.shape[-1]
    k = min(k, n)
    rows = x.reshape(-1, n)
    vals, idxs = [], []
    for row in rows:
        v, _ = torch.topk(row, k, sorted=True)
        kth = v[-1]
        above = torch.nonzero(row > kth).reshape(-1)
        if above.numel():
            order = torch.sort(row[above], descending=True, stable=True).indices
            above = above[order]
        ties = torch.nonzero(row == kth).reshape(-1)[: k - above.numel()]
        idx = torch.cat([above, ties])
        if idx.numel() < k:  # NaNs: fall back to torch's order
            idx = torch.topk(row, k, sorted=True).indices
        idxs.append(idx)
        vals.append(row[idx])
    shape = tuple(x.shape[:-1]) + (k,)
    return torch.stack(vals).reshape(shape), torch.stack(idxs).to(torch.int32).reshape(shape)


@register("TopKV2", "TopK")
def _topk(ctx: BuildContext) -> Op:
    if ctx.node.op == "TopK":
        k = int(ctx.node.attr("k", 1))
        return Op(lambda x: topk_stable(x, k), [ctx.input(0)], n_out=2, multi=True)
    if ctx.is_const(1):
        k = const_list(ctx, 1)[0]
        return Op(lambda x: topk_stable(x, k), [ctx.input(0)], n_out=2, multi=True)
    return Op(lambda x, kk: topk_stable(x, int(kk)), [ctx.input(0), ctx.input(1)], n_out=2, multi=True)


def _iou(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """TF box format [y1, x1, y2, x2], corners in any order."""
    def norm(b):
        y1, y2 = torch.minimum(b[..., 0], b[..., 2]), torch.maximum(b[..., 0], b[..., 2])
        x1, x2 = torch.minimum(b[..., 1], b[..., 3]), torch.maximum(b[..., 1], b[..., 3])
        return y1, x1, y2, x2
    ay1, ax1, ay2, ax2 = norm(box)
    by1, bx1, by2, bx2 = norm(boxes)
    ih = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    iw = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0)
    inter = ih * iw
    union = (ay2 - ay1) * (ax2 - ax1) + (by2 - by1) * (bx2 - bx1) - inter
    return torch.where(union > 0, inter / union, torch.zeros_like(inter))


def nms(boxes, scores, max_out: int, iou_thr: float, score_thr: float):
    """Greedy NMS as TF: candidates by descending score (ties: lower index first), suppress IoU > threshold."""
    order = torch.sort(scores, descending=True, stable=True).indices
    order = order[scores[order] > score_thr]
    keep: list[int] = []
    kept_scores: list[float] = []
    for i in order.tolist():
        if len(keep) >= max_out:
            break
        if keep:
            if bool((_iou(boxes[i], boxes[torch.tensor(keep)]) > iou_thr).any()):
                continue
        keep.append(i)
        kept_scores.append(float(scores[i]))
    return torch.tensor(keep, dtype=torch.int32), torch.tensor(kept_scores, dtype=torch.float32)


@register("NonMaxSuppressionV2", "NonMaxSuppressionV3", "NonMaxSuppressionV4", "NonMaxSuppressionV5")
def _nms(ctx: BuildContext) -> Op:
    op = ctx.node.op
    pad = bool(ctx.node.attr("pad_to_max_output_size", False))
    if op == "NonMaxSuppressionV5" and ctx.is_const(5) and float(ctx.const(5)) > 0:
        raise ctx.error("soft-NMS (soft_nms_sigma > 0) is not supported")
    n_in = ctx.num_inputs

    def fn(boxes, scores, max_out, iou, *rest):
        score_thr = float(rest[0]) if rest and op != "NonMaxSuppressionV2" else float("-inf")
        m = int(max_out)
        keep, kept = nms(boxes, scores, m, float(iou), score_thr)
        valid = torch.tensor(keep.numel(), dtype=torch.int32)
        if pad and keep.numel() < m:
            keep = torch.cat([keep, torch.zeros(m - keep.numel(), dtype=torch.int32)])
            kept = torch.cat([kept, torch.zeros(m - kept.numel())])
        if op == "NonMaxSuppressionV5":
            return keep, kept, valid
        if op == "NonMaxSuppressionV4":
            return keep, valid
        return keep
    n_out = {"NonMaxSuppressionV5": 3, "NonMaxSuppressionV4": 2}.get(op, 1)
    return Op(fn, [ctx.input(i) for i in range(min(n_in, 5))], n_out=n_out)
