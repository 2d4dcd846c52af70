"""Drawing hands on pictures (overlays). Only drawing lives here; colours and the skeleton come from
web/spec/hands.json "landmarks" so the browser draws the same hands."""

from __future__ import annotations

import cv2
import numpy as np

from huia.hands.rect import project, rect_affine
from huia.hands.spec import hand_layout
from huia.hands.types import Hands

_SHIFT = 4  # cv2 sub-pixel drawing: coordinates in 1/16 px


def draw_hands(image: np.ndarray, hands: Hands, *, thickness: int | None = None, regions: bool = False,
               labels: bool = True) -> np.ndarray:
    """A copy of an RGB image with each hand's skeleton (finger colours), joints, its handedness label and, with
    regions=True, the rotated region the landmark model saw. Thickness scales with the image by default."""
    out = np.ascontiguousarray(image, dtype=np.uint8).copy()
    if thickness is None:
        thickness = max(2, int(round(max(out.shape[:2]) / 240)))
    layout = hand_layout()
    radius = max(2, int(round(thickness * 1.2)))
    for i in range(len(hands)):
        kp = hands.keypoints[i, :, :2].astype(np.float64)
        if not np.isfinite(kp).all():
            continue
        pts = np.round(kp * (1 << _SHIFT)).astype(np.int64)
        if regions and np.isfinite(hands.rects[i]).all():
            corners = project(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float), rect_affine(hands.rects[i], 1, 1))
            cv2.polylines(out, [np.round(corners * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)], True,
                          (255, 215, 0), max(1, thickness // 2), cv2.LINE_AA, _SHIFT)
        for (a, b), color in zip(layout.edges, layout.edge_colors):
            cv2.line(out, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]),
                     tuple(int(c) for c in color), int(thickness), cv2.LINE_AA, _SHIFT)
        for p in pts:
            cv2.circle(out, tuple(int(v) for v in p), radius << _SHIFT, layout.joint_color, -1, cv2.LINE_AA, _SHIFT)
        if labels:
            (x0, y0), (_, y1) = kp.min(axis=0), kp.max(axis=0)
            text = f"{hands.labels[i]} {float(hands.scores[i]):.2f}"
            scale = max(0.4, thickness / 4)
            (_, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
            # above the hand, or below it when the hand touches the top of the picture
            y = y0 - 2 * thickness if y0 - 2 * thickness - th >= 0 else min(out.shape[0] - 2, y1 + th + 2 * thickness)
            org = (int(max(0, x0)), int(y))
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out
