"""COCO box evaluation re-implemented in numpy, equal to pycocotools' COCOeval (iouType="bbox") to 1e-6.

Why not import pycocotools: it is a C extension with a build step and prints to stdout; huia needs the numbers
(and the precision array for PR curves) as data. pycocotools stays a *test* dependency: tests/eval checks equality
on random and adversarial cases.

The definitions copied exactly from COCOeval:

* IoU thresholds ``linspace(.5, .95, 10)``, recall thresholds ``linspace(0, 1, 101)``, maxDets 1/10/100, area
  ranges all / small (< 32²) / medium / large (> 96²) on the box area ``w*h`` for ground truth too (COCO's own
  files carry segmentation areas; box-only data sets such as VOC have none, and converters set ``w*h``).
* Per image and class: detections sorted by score (stable, ties keep input order) and cut to 100; ground truths
  sorted with ignored ones (crowd or out of area range) last; each detection in turn takes the unmatched
  non-ignored ground truth with the highest IoU >= threshold (ties -> the later one), else an ignored one; a
  detection matched to an ignored ground truth, or unmatched and outside the area range, is ignored. Crowd ground
  truths may match many detections and use IoU = intersection / detection area.
* Per class: all images' detections (each image cut to maxDet) merged and sorted by score (stable, image order),
  cumulative TP/FP, precision made monotone, sampled at the 101 recall thresholds (``searchsorted`` left, 0 past
  the last recall). Classes without ground truth are -1 and left out of the means; a mean over nothing is -1.

:func:`bootstrap_intervals` adds what COCOeval does not have: how far the figures could move with another draw of
held-out images (percentile bootstrap over images, each resample accumulated exactly as above).
"""

from __future__ import annotations

import numpy as np

from huia.types import Detections

IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
MAX_DETS = (1, 10, 100)
AREA_RNGS = {"all": (0.0, 1e5 ** 2), "small": (0.0, 32.0 ** 2), "medium": (32.0 ** 2, 96.0 ** 2),
             "large": (96.0 ** 2, 1e5 ** 2)}


def _xywh(xyxy: np.ndarray) -> np.ndarray:
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def box_iou_xywh(d: np.ndarray, g: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """[D, G] IoU in pycocotools' maskApi bbIou arithmetic (xywh doubles; crowd -> intersection / det area)."""
    if len(d) == 0 or len(g) == 0:
        return np.zeros((len(d), len(g)))
    da = d[:, 2] * d[:, 3]
    ga = g[:, 2] * g[:, 3]
    w = np.minimum(d[:, None, 0] + d[:, None, 2], g[None, :, 0] + g[None, :, 2]) - np.maximum(d[:, None, 0], g[None, :, 0])
    h = np.minimum(d[:, None, 1] + d[:, None, 3], g[None, :, 1] + g[None, :, 3]) - np.maximum(d[:, None, 1], g[None, :, 1])
    inter = w * h
    union = np.where(crowd[None, :].astype(bool), da[:, None], da[:, None] + ga[None, :] - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / union
    return np.where((w <= 0) | (h <= 0), 0.0, iou)


def _match(ious: np.ndarray, gt_ig: np.ndarray, crowd: np.ndarray, thrs: np.ndarray):
    """Greedy COCOeval matching for one image/class (dets already score-sorted, gts ignore-sorted).
    Returns dt_matched [T, D] bool, dt_ig_by_gt [T, D] bool, gt_matched [T, G] bool.

    Same loop as COCOeval.evaluateImg, but each detection only visits the ground truths it overlaps with IoU >=
    the lowest threshold (the others can never match; skipping them cannot change the ignore-region break either,
    because that break fires again at the next ignored candidate). Plain Python on lists: the lists are short."""
    T, (D, G) = len(thrs), ious.shape
    dtm = np.zeros((T, D), bool)
    dt_ig = np.zeros((T, D), bool)
    gtm = np.zeros((T, G), bool)
    if D == 0 or G == 0:
        return dtm, dt_ig, gtm
    thr_list = [min(float(t), 1 - 1e-10) for t in thrs]
    lowest = min(thr_list)
    ig = gt_ig.astype(bool).tolist()
    cr = crowd.astype(bool).tolist()
    taken = [[False] * G for _ in range(T)]
    rows, cols = np.nonzero(ious >= lowest)  # row-major: each row's candidates in gt order
    vals = ious[rows, cols].tolist()
    cands: dict[int, list[tuple[int, float]]] = {}
    for d, g, v in zip(rows.tolist(), cols.tolist(), vals):
        cands.setdefault(d, []).append((g, v))
    for d, cand in cands.items():  # dict keeps insertion order = score order
        for t, thr in enumerate(thr_list):
            best, m = thr, -1
            tk = taken[t]
            for g, v in cand:
                if tk[g] and not cr[g]:
                    continue
                if m > -1 and not ig[m] and ig[g]:
                    break
                if v < best:
                    continue
                best, m = v, g
            if m == -1:
                continue
            dtm[t, d] = True
            dt_ig[t, d] = ig[m]
            tk[m] = True
    for t in range(T):
        gtm[t] = taken[t]
    return dtm, dt_ig, gtm


def _evaluate_image(g: Detections, dt: Detections, crowd_all, K: int, areas, maxdet: int) -> list:
    """COCOeval.evaluateImg for one image: per class k, None (no ground truth, no detection) or, per area range,
    (scores [D], dtm [T, D], dt_ig [T, D], gt_ig [G])."""
    crowd_all = np.zeros(len(g), bool) if crowd_all is None else np.asarray(crowd_all, bool).reshape(-1)
    g_xywh, d_xywh = _xywh(g.xyxy), _xywh(dt.xyxy)
    g_area = g_xywh[:, 2] * g_xywh[:, 3]
    d_area = d_xywh[:, 2] * d_xywh[:, 3]
    d_scores = dt.scores.astype(np.float64)
    out: list = [None] * K
    for k in range(K):
        gi = np.flatnonzero(g.class_ids == k)
        di = np.flatnonzero(dt.class_ids == k)
        if len(gi) == 0 and len(di) == 0:
            continue
        di = di[np.argsort(-d_scores[di], kind="mergesort")][:maxdet]
        crowd = crowd_all[gi]
        ious_full = box_iou_xywh(d_xywh[di], g_xywh[gi], crowd)
        per_area = []
        for lo, hi in areas:
            ig = crowd | (g_area[gi] < lo) | (g_area[gi] > hi)
            order = np.argsort(ig.astype(np.int64), kind="mergesort")
            gt_ig = ig[order]
            dtm, dt_ig, _ = _match(ious_full[:, order], gt_ig, crowd[order], IOU_THRS)
            out_of_range = (d_area[di] < lo) | (d_area[di] > hi)
            dt_ig = dt_ig | (~dtm & out_of_range[None, :])
            per_area.append((d_scores[di], dtm, dt_ig, gt_ig))
        out[k] = per_area
    return out


def _accumulate(per_image: list, images, K: int, area_idx):
    """COCOeval.accumulate over ``images`` (indexes into ``per_image``, in this order). Returns precision
    [T, R, K, A, M], scores [T, R, K, A, M], recall [T, K, A, M] with A the number of areas in ``per_image`` (areas
    not in ``area_idx`` stay -1)."""
    T, R, M = len(IOU_THRS), len(REC_THRS), len(MAX_DETS)
    A = len(AREA_RNGS)
    precision = -np.ones((T, R, K, A, M))
    scores_out = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    for k in range(K):
        for a in area_idx:
            E = [per_image[i][k][a] for i in images if per_image[i][k] is not None]
            if not E:
                continue
            gt_ig = np.concatenate([e[3] for e in E])
            npig = int(np.count_nonzero(gt_ig == 0))
            if npig == 0:
                continue
            # each image's detections are score-sorted and cut to 100: its first md are those of rank < md
            sc_all = np.concatenate([e[0] for e in E])
            rank = np.concatenate([np.arange(len(e[0])) for e in E])
            tps_all = np.concatenate([e[1] & ~e[2] for e in E], axis=1)
            fps_all = np.concatenate([~e[1] & ~e[2] for e in E], axis=1)
            for m, md in enumerate(MAX_DETS):
                keep = rank < md
                q, ss, rc = _precision_curve(sc_all[keep], tps_all[:, keep], fps_all[:, keep], npig)
                precision[:, :, k, a, m], scores_out[:, :, k, a, m], recall[:, k, a, m] = q, ss, rc
    return precision, scores_out, recall


def _precision_curve(sc: np.ndarray, tps: np.ndarray, fps: np.ndarray, npig: int):
    """One class and area, detections of all images in image order: sorted by score (stable), cumulative TP/FP,
    precision made monotone and sampled at the recall thresholds. Returns precision [T, R], scores [T, R] and the
    final recall [T]."""
    T, R = tps.shape[0], len(REC_THRS)
    inds = np.argsort(-sc, kind="mergesort")
    sc_sorted = sc[inds]
    tp_sum = np.cumsum(tps[:, inds], axis=1).astype(float)
    fp_sum = np.cumsum(fps[:, inds], axis=1).astype(float)
    nd = tp_sum.shape[1]
    q_out, ss_out, rc_out = np.zeros((T, R)), np.zeros((T, R)), np.zeros(T)
    for t in range(T):
        tp, fp = tp_sum[t], fp_sum[t]
        rc = tp / npig
        pr = tp / (fp + tp + np.spacing(1))
        rc_out[t] = rc[-1] if nd else 0
        if nd:
            pr = np.maximum.accumulate(pr[::-1])[::-1]
        pi = np.searchsorted(rc, REC_THRS, side="left")
        valid = pi < nd
        # COCOeval fills q until the first recall threshold past the end, then stops (zeros after)
        nvalid = int(np.argmin(valid)) if not valid.all() else R
        q_out[t, :nvalid] = pr[pi[:nvalid]]
        ss_out[t, :nvalid] = sc_sorted[pi[:nvalid]]
    return q_out, ss_out, rc_out


def _mean(x: np.ndarray) -> float:
    x = x[x > -1]
    return float(np.mean(x)) if x.size else -1.0


def _headline(precision: np.ndarray, recall: np.ndarray) -> dict:
    """COCOeval.summarize()'s 12 numbers from accumulated precision [T, R, K, A, M] and recall [T, K, A, M]."""
    a_idx = {n: i for i, n in enumerate(AREA_RNGS)}
    t50, t75 = np.where(IOU_THRS == 0.5)[0], np.where(IOU_THRS == 0.75)[0]
    m100 = MAX_DETS.index(100)
    return {
        "ap": _mean(precision[:, :, :, a_idx["all"], m100]),
        "ap50": _mean(precision[t50][:, :, :, a_idx["all"], m100]),
        "ap75": _mean(precision[t75][:, :, :, a_idx["all"], m100]),
        "ap_small": _mean(precision[:, :, :, a_idx["small"], m100]),
        "ap_medium": _mean(precision[:, :, :, a_idx["medium"], m100]),
        "ap_large": _mean(precision[:, :, :, a_idx["large"], m100]),
        "ar1": _mean(recall[:, :, a_idx["all"], MAX_DETS.index(1)]),
        "ar10": _mean(recall[:, :, a_idx["all"], MAX_DETS.index(10)]),
        "ar100": _mean(recall[:, :, a_idx["all"], m100]),
        "ar_small": _mean(recall[:, :, a_idx["small"], m100]),
        "ar_medium": _mean(recall[:, :, a_idx["medium"], m100]),
        "ar_large": _mean(recall[:, :, a_idx["large"], m100]),
    }


def coco_evaluate(gts: list[Detections], dets: list[Detections], *, num_classes: int | None = None,
                  gt_crowd: list[np.ndarray] | None = None, class_names: list[str] | None = None) -> dict:
    """COCO bbox metrics of ``dets`` against ``gts`` (one Detections per image, same order, pixels xyxy).

    Returns ``ap, ap50, ap75, ap_small, ap_medium, ap_large, ar1, ar10, ar100, ar_small, ar_medium, ar_large``
    (floats, -1 where COCO gives -1), ``per_class_ap`` {name: AP@[.5:.95] or -1}, ``precision`` [T, R, K] and
    ``scores`` [T, R, K] (area all, maxDets 100; -1 for classes without ground truth), ``recall`` [T, K],
    ``iou_thresholds`` [T], ``recall_thresholds`` [R], ``class_names``.
    ``num_classes`` defaults to the longest ``class_names`` / largest class id seen (every class counts, as every
    category in the COCO ground-truth file does). ``gt_crowd``: optional per-image bool arrays (iscrowd).
    """
    if len(gts) != len(dets):
        raise ValueError(f"coco_evaluate: {len(gts)} ground-truth images but {len(dets)} detection images")
    names = list(class_names or [])
    if not names:
        for d in list(gts) + list(dets):
            if len(d.class_names) > len(names):
                names = list(d.class_names)
    K = max([num_classes or 0, len(names)] + [int(d.class_ids.max()) + 1 for d in list(gts) + list(dets) if len(d)])
    areas = list(AREA_RNGS.values())
    maxdet = MAX_DETS[-1]

    per_image = [_evaluate_image(g, dt, None if gt_crowd is None else gt_crowd[i], K, areas, maxdet)
                 for i, (g, dt) in enumerate(zip(gts, dets))]
    precision, scores_out, recall = _accumulate(per_image, range(len(per_image)), K, range(len(areas)))

    res = _headline(precision, recall)
    full_names = names + [str(i) for i in range(len(names), K)]
    a_all, m100 = list(AREA_RNGS).index("all"), MAX_DETS.index(100)
    res["per_class_ap"] = {full_names[k]: _mean(precision[:, :, k, a_all, m100]) for k in range(K)}
    res["precision"] = precision[:, :, :, a_all, m100]
    res["scores"] = scores_out[:, :, :, a_all, m100]
    res["recall"] = recall[:, :, a_all, m100]
    res["iou_thresholds"] = IOU_THRS.copy()
    res["recall_thresholds"] = REC_THRS.copy()
    res["class_names"] = full_names
    res["_precision_full"] = precision  # [T, R, K, A, M] as COCOeval.eval["precision"] (tests compare all of it)
    res["_per_image"] = per_image  # the matching, image by image: bootstrap_intervals resamples it without redoing it
    return res


HEADLINE_KEYS = ("ap", "ap50", "ap75", "ar1", "ar10", "ar100")


class _Resampler:
    """The per-image matching (area all) of a :func:`coco_evaluate` result concatenated once per class, so that a
    resample only gathers index ranges: one sort and cumsum per class, no Python loop over images. Gives exactly
    what COCOeval gives on the resampled images as separate images (tested against pycocotools)."""

    def __init__(self, result: dict):
        per_image = result["_per_image"]
        self.n = len(per_image)
        self.K = len(per_image[0]) if per_image else 0
        a = list(AREA_RNGS).index("all")
        T = len(IOU_THRS)
        self.classes = []
        for k in range(self.K):
            E = [p[k][a] if p[k] is not None else (np.zeros(0), np.zeros((T, 0), bool), np.zeros((T, 0), bool),
                                                   np.zeros(0, bool)) for p in per_image]
            lengths = np.array([len(e[0]) for e in E], np.int64)
            self.classes.append(dict(
                sc=np.concatenate([e[0] for e in E]), rank=np.concatenate([np.arange(len(e[0])) for e in E]),
                tps=np.concatenate([e[1] & ~e[2] for e in E], axis=1),
                fps=np.concatenate([~e[1] & ~e[2] for e in E], axis=1),
                start=np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64), length=lengths,
                npig=np.array([int(np.count_nonzero(e[3] == 0)) for e in E], np.int64)))

    def metrics(self, images) -> dict:
        idx = np.asarray(images, np.int64).reshape(-1)
        T, R, K = len(IOU_THRS), len(REC_THRS), self.K
        precision = -np.ones((T, R, K))
        recall = {md: -np.ones((T, K)) for md in MAX_DETS}
        for k, c in enumerate(self.classes):
            npig = int(c["npig"][idx].sum())
            if npig == 0:
                continue
            lens = c["length"][idx]
            total = int(lens.sum())
            # the detections of images idx[0], idx[1], ... in that order (repeats included)
            first = np.repeat(c["start"][idx] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
            sel = first + np.arange(total)
            tps, fps, rank = c["tps"][:, sel], c["fps"][:, sel], c["rank"][sel]
            for md in MAX_DETS[:-1]:
                recall[md][:, k] = tps[:, rank < md].sum(axis=1) / npig
            precision[:, :, k], _, recall[MAX_DETS[-1]][:, k] = _precision_curve(c["sc"][sel], tps, fps, npig)
        t50, t75 = np.where(IOU_THRS == 0.5)[0], np.where(IOU_THRS == 0.75)[0]
        return {"ap": _mean(precision), "ap50": _mean(precision[t50]), "ap75": _mean(precision[t75]),
                "ar1": _mean(recall[1]), "ar10": _mean(recall[10]), "ar100": _mean(recall[100])}


def resample_metrics(result: dict, images) -> dict:
    """The headline metrics (area all) of a :func:`coco_evaluate` result re-accumulated over ``images``: indexes of
    its images, in order, repeats allowed -- what COCOeval gives on that multiset of images as separate images."""
    return _Resampler(result).metrics(images)


MIN_BOOTSTRAP_UNITS = 5  # below this many source images an interval says nothing (1 image: zero width)


def bootstrap_intervals(result: dict, *, n: int = 1000, level: float = 0.95, seed: int = 0,
                        groups: list[list[int]] | None = None) -> dict:
    """Percentile-bootstrap intervals of the headline metrics of a :func:`coco_evaluate` result.

    Why: a held-out split of a small data set is itself a sample. On the 27 held-out kangaroo images, which images
    were drawn moves AP50 by several points, more than most recipe changes; a figure without its interval invites
    reading noise as progress. Whole images are resampled with replacement (boxes in one image are not
    independent), each resample re-accumulated exactly as COCOeval would on that multiset of images (the per-image
    matching is reused, not redone).

    ``groups`` (default: ``result["_groups"]`` when the caller set it, else one image each): images that are not
    independent -- an original and its augmented copies -- are drawn together, as one unit; treating 27 photos and
    their 27 copies as 54 images would make the interval look ~1.4x tighter than the data allow. With fewer than
    :data:`MIN_BOOTSTRAP_UNITS` units there is no interval (``too_few`` says how many there were).
    Returns ``{key: [lo, hi]}`` for :data:`HEADLINE_KEYS`, plus ``resamples`` (how many had ground truth; the others
    are left out), ``units`` and ``level``."""
    per_image = result["_per_image"]
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if groups is None:
        groups = result.get("_groups") or [[i] for i in range(len(per_image))]
    units = [np.asarray(g, np.int64) for g in groups if len(g)]
    out: dict = {"level": level, "resamples": 0, "units": len(units)}
    if len(units) < MIN_BOOTSTRAP_UNITS:
        out["too_few"] = len(units)
        return out
    if n <= 0:
        return out
    singletons = all(len(u) == 1 for u in units)
    flat = np.concatenate(units)
    rng = np.random.default_rng(seed)
    draws = {k: [] for k in HEADLINE_KEYS}
    resampler = _Resampler(result)
    for _ in range(n):
        pick = rng.integers(0, len(units), len(units))
        images = flat[pick] if singletons else np.concatenate([units[i] for i in pick])
        h = resampler.metrics(images)
        if h["ap"] == -1.0:  # no ground truth drawn: COCO has no AP for it
            continue
        for k in HEADLINE_KEYS:
            draws[k].append(h[k])
    out["resamples"] = len(draws["ap"])
    if out["resamples"]:
        tail = 100.0 * (1.0 - level) / 2.0
        for k in HEADLINE_KEYS:
            lo, hi = np.percentile(np.asarray(draws[k]), [tail, 100.0 - tail])
            out[k] = [round(float(lo), 6), round(float(hi), 6)]
    return out


def summary(result: dict) -> dict:
    """Only the JSON-able headline numbers (what `huia detect eval --json` prints)."""
    return {k: round(float(result[k]), 6) for k in HEADLINE_KEYS}


def format_summary(result: dict) -> str:
    """The 12 lines COCOeval.summarize() prints, from a coco_evaluate result."""
    rows = [("Average Precision", "AP", "0.50:0.95", "all", 100, "ap"),
            ("Average Precision", "AP", "0.50", "all", 100, "ap50"),
            ("Average Precision", "AP", "0.75", "all", 100, "ap75"),
            ("Average Precision", "AP", "0.50:0.95", "small", 100, "ap_small"),
            ("Average Precision", "AP", "0.50:0.95", "medium", 100, "ap_medium"),
            ("Average Precision", "AP", "0.50:0.95", "large", 100, "ap_large"),
            ("Average Recall", "AR", "0.50:0.95", "all", 1, "ar1"),
            ("Average Recall", "AR", "0.50:0.95", "all", 10, "ar10"),
            ("Average Recall", "AR", "0.50:0.95", "all", 100, "ar100"),
            ("Average Recall", "AR", "0.50:0.95", "small", 100, "ar_small"),
            ("Average Recall", "AR", "0.50:0.95", "medium", 100, "ar_medium"),
            ("Average Recall", "AR", "0.50:0.95", "large", 100, "ar_large")]
    text = "\n".join(f" {title:<18} ({short}) @[ IoU={iou:<9} | area={area:>6} | maxDets={md:>3} ] = {result[key]:0.3f}"
                      for title, short, iou, area, md, key in rows)
    empty = [area for _, _, _, area, _, key in rows if result[key] == -1.0 and area != "all"]
    if empty:
        # COCO's -1 means "nothing to measure", not a score: say so instead of leaving a negative AP unexplained
        text += (f"\n (-1.000 = no ground-truth box in that size range here: {', '.join(sorted(set(empty)))}; "
                 "small < 32x32, medium 32x32 to 96x96, large > 96x96 pixels of box area)")
    return text


def format_with_intervals(result: dict, ci: dict, keys=("ap", "ap50", "ap75", "ar100")) -> str:
    """One line, e.g. ``AP 0.561 [0.47, 0.65]  AP50 0.843 [0.74, 0.93] ...`` (interval: see bootstrap_intervals)."""
    names = {"ap": "AP", "ap50": "AP50", "ap75": "AP75", "ar1": "AR1", "ar10": "AR10", "ar100": "AR100"}
    return "  ".join(f"{names[k]} {result[k]:.3f}" + (f" [{ci[k][0]:.2f}, {ci[k][1]:.2f}]" if k in ci else "")
                     for k in keys)


def describe_intervals(ci: dict, images: int) -> str:
    """What the brackets of :func:`format_with_intervals` are, or why there are none."""
    if ci.get("too_few") is not None:
        return f"no intervals: {ci['too_few']} source image(s) are too few (at least {MIN_BOOTSTRAP_UNITS})"
    units = ci.get("units", images)
    what = f"{images} held-out images" if units == images else \
        f"{images} held-out images = {units} source images with their augmented copies, resampled together"
    return f"{100 * ci['level']:.0f} % bootstrap intervals over the {what} ({ci['resamples']} resamples)"


# --- the operating point: what a user sees at one score threshold --------------------------------------------------

OPERATING_IOUS = (0.5, 0.75)


def match_detections(gt: Detections, dt: Detections, iou_thresholds=OPERATING_IOUS) -> tuple[np.ndarray, np.ndarray]:
    """COCO's greedy matching of one image (area all, no crowd): per class, detections in score order (stable, cut
    to 100) each take the unmatched ground truth of highest IoU >= the threshold. Returns ``dt_tp`` [T, N] (which
    detection, in ``dt``'s own order, is a true positive at each IoU threshold) and ``gt_found`` [T, G].

    Greedy by score means a detection's fate depends only on higher-scored ones, so cutting the detections at a
    score threshold afterwards gives exactly the matching COCO would make on the cut list (what the browser keeps)."""
    thrs = np.asarray(iou_thresholds, np.float64).reshape(-1)
    T = len(thrs)
    dt_tp = np.zeros((T, len(dt)), bool)
    gt_found = np.zeros((T, len(gt)), bool)
    if len(dt) == 0 or len(gt) == 0:
        return dt_tp, gt_found
    g_xywh, d_xywh = _xywh(gt.xyxy), _xywh(dt.xyxy)
    scores = np.ones(len(dt)) if dt.scores is None else np.asarray(dt.scores, np.float64)
    for k in np.intersect1d(np.asarray(gt.class_ids), np.asarray(dt.class_ids)):
        gi = np.flatnonzero(gt.class_ids == k)
        di = np.flatnonzero(dt.class_ids == k)
        di = di[np.argsort(-scores[di], kind="mergesort")][:MAX_DETS[-1]]
        no = np.zeros(len(gi), bool)
        dtm, _, gtm = _match(box_iou_xywh(d_xywh[di], g_xywh[gi], no), no, no, thrs)
        dt_tp[:, di] = dtm
        gt_found[:, gi] = gtm
    return dt_tp, gt_found


def _rates(tp: int, fp: int, fn: int) -> dict:
    return {"tp": int(tp), "fp": int(fp), "fn": int(fn),
            "precision": round(tp / (tp + fp), 6) if tp + fp else None,  # no detection kept: undefined, not 0
            "recall": round(tp / (tp + fn), 6) if tp + fn else None}


def iou_key(iou: float) -> str:
    """``0.5 -> "iou50"``, ``0.75 -> "iou75"`` (the JSON keys of :func:`threshold_counts`)."""
    return f"iou{int(round(100 * iou))}"


def threshold_counts(gts: list[Detections], dets: list[Detections], score_threshold: float, *,
                     iou_thresholds=OPERATING_IOUS, class_names: list[str] | None = None) -> dict:
    """TP / FP / FN, precision and recall over all images when only detections scoring >= ``score_threshold`` are
    kept (what the Detector page shows at that threshold), at each IoU threshold, overall and per class.

    A kept detection is a TP if COCO's greedy matching (:func:`match_detections`) pairs it with a ground truth of its
    class, else an FP; each ground truth not paired with a kept detection is an FN. Precision with no kept detection
    and recall with no ground truth are None. Returns ``{"score_threshold", "iou50": {tp, fp, fn, precision,
    recall}, "iou75": ..., "per_class": {name: {"iou50": ..., ...}}}``."""
    thrs = np.asarray(iou_thresholds, np.float64).reshape(-1)
    names = list(class_names or [])
    for d in list(gts) + list(dets):
        if len(d.class_names) > len(names):
            names = list(d.class_names)
    K = max([len(names)] + [int(d.class_ids.max()) + 1 for d in list(gts) + list(dets) if len(d)])
    names = names + [str(i) for i in range(len(names), K)]
    tp = np.zeros((len(thrs), K), np.int64)
    fp = np.zeros((len(thrs), K), np.int64)
    ngt = np.zeros(K, np.int64)
    for g, d in zip(gts, dets):
        dt_tp, _ = match_detections(g, d, thrs)
        keep = (np.ones(len(d), bool) if d.scores is None else np.asarray(d.scores) >= score_threshold)
        ids = np.asarray(d.class_ids, np.int64)
        for t in range(len(thrs)):
            np.add.at(tp[t], ids[keep & dt_tp[t]], 1)
            np.add.at(fp[t], ids[keep & ~dt_tp[t]], 1)
        np.add.at(ngt, np.asarray(g.class_ids, np.int64), 1)
    out: dict = {"score_threshold": float(score_threshold)}
    for t, iou in enumerate(thrs):
        out[iou_key(iou)] = _rates(tp[t].sum(), fp[t].sum(), ngt.sum() - tp[t].sum())
    out["per_class"] = {names[k]: {iou_key(iou): _rates(tp[t, k], fp[t, k], ngt[k] - tp[t, k])
                                   for t, iou in enumerate(thrs)} for k in range(K)}
    return out


def operating_curve(gts: list[Detections], dets: list[Detections], thresholds=None, *, iou: float = 0.5) -> list:
    """``[[score threshold, TP, FP, FN], ...]`` over all images and classes at IoU ``iou``, for each threshold
    (default 0.01 ... 0.99): what the Detector page's slider would keep, from one matching (greedy by score, so
    cutting after matching equals :func:`threshold_counts` at every threshold). Small enough for a model's
    metadata: the page shows precision and recall next to its threshold."""
    thresholds = np.round(np.arange(1, 100) / 100.0, 2) if thresholds is None else np.asarray(thresholds, float)
    scores, hits = [], []
    n_gt = 0
    for g, d in zip(gts, dets):
        dt_tp, _ = match_detections(g, d, (iou,))
        scores.append(np.ones(len(d)) if d.scores is None else np.asarray(d.scores, np.float64))
        hits.append(dt_tp[0])
        n_gt += len(g)
    s = np.concatenate(scores) if scores else np.zeros(0)
    h = np.concatenate(hits) if hits else np.zeros(0, bool)
    out = []
    for t in thresholds:
        keep = s >= t
        tp = int((keep & h).sum())
        out.append([float(t), tp, int((keep & ~h).sum()), n_gt - tp])
    return out


def per_class_metrics(result: dict) -> dict:
    """{class name: {ap, ap50, ap75}} of a :func:`coco_evaluate` result: each equal to COCOeval with
    ``params.catIds`` restricted to that class (-1 for a class without ground truth)."""
    prec = result["_precision_full"]
    a_all, m100 = list(AREA_RNGS).index("all"), MAX_DETS.index(100)
    t50, t75 = np.where(IOU_THRS == 0.5)[0], np.where(IOU_THRS == 0.75)[0]
    return {name: {"ap": round(_mean(prec[:, :, k, a_all, m100]), 6),
                   "ap50": round(_mean(prec[t50][:, :, k, a_all, m100]), 6),
                   "ap75": round(_mean(prec[t75][:, :, k, a_all, m100]), 6)}
            for k, name in enumerate(result["class_names"])}


def format_threshold_counts(counts: dict) -> str:
    """Lines like ``at score >= 0.30, IoU 0.50: TP 21  FP 4  FN 6  precision 0.840  recall 0.778``."""
    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    lines = []
    for key in [k for k in counts if k.startswith("iou")]:
        c = counts[key]
        lines.append(f"at score >= {counts['score_threshold']:.2f}, IoU 0.{key[3:]}: TP {c['tp']}  FP {c['fp']}  "
                     f"FN {c['fn']}  precision {f(c['precision'])}  recall {f(c['recall'])}")
    return "\n".join(lines)
