"""Test oracle: pycocotools' COCOeval on huia Detections (a test and benchmark dependency, never the product's)."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from huia.types import Detections


def cocoeval(gts: list[Detections], dets: list[Detections], num_classes: int, *, crowd=None, cat_ids=None):
    """COCOeval ("bbox") of ``dets`` against ``gts`` (image i of each list is one image; class k is category
    k + 1), evaluated, accumulated and summarized; ``crowd[i][j]`` marks ground truth j of image i as a crowd,
    ``cat_ids`` restricts it to those categories."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = [{"id": i + 1, "width": 1000, "height": 1000, "file_name": f"{i}.jpg"} for i in range(len(gts))]
    anns = []
    for i, g in enumerate(gts):
        for j, (b, c) in enumerate(zip(g.xyxy.astype(np.float64), g.class_ids)):
            w, h = b[2] - b[0], b[3] - b[1]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                         "bbox": [b[0], b[1], w, h], "area": w * h,
                         "iscrowd": int(crowd[i][j]) if crowd is not None else 0})
    cats = [{"id": k + 1, "name": str(k)} for k in range(num_classes)]
    res = [{"image_id": i + 1, "category_id": int(c) + 1, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
            "score": float(s)}
           for i, d in enumerate(dets) for b, s, c in zip(d.xyxy.astype(np.float64), d.scores, d.class_ids)]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": anns, "categories": cats}
        gt.createIndex()
        if res:
            dt = gt.loadRes(res)
        else:  # loadRes cannot take an empty list
            dt = COCO()
            dt.dataset = {"images": images, "annotations": [], "categories": cats}
            dt.createIndex()
        ev = COCOeval(gt, dt, "bbox")
        if cat_ids is not None:
            ev.params.catIds = list(cat_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev
