"""`huia data review DIR --report report.html [--quarantine]`: find the samples that hurt training.

The Huia article's author went through 1000 captures by hand and kept 381: blank frames, poses he could not
recognise, wrong labels. This flags the same things in seconds:

- ``blank``: (near-)uniform images — low pixel spread;
- ``duplicate`` / ``near_duplicate``: identical bytes or pixels, or a 256-bit difference hash within a few bits
  and a near-equal thumbnail (the first file of a group is kept, the others are flagged). Two captures that both
  carry keypoints must ALSO hold the same pose: with a fixed webcam and one person filling a small part of the
  frame, different poses sit 2-3 hash bits apart, so pixels alone would call a whole session duplicates;
- ``no_pose`` / ``low_pose``: capture-format samples whose keypoints are missing or mostly low-confidence;
- ``mislabeled``: the label disagrees with most of the sample's nearest neighbours in a feature space (the
  hand-landmark backbone's features for images, normalized keypoints when every sample has them).

The HTML report embeds thumbnails; ``--quarantine [KINDS]`` moves flagged files (with their keypoints JSON) to
``DIR/.quarantine/<reason>/<label>/`` — never deletes, and class-folder readers skip that hidden folder;
``--restore`` moves them back.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import io
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from huia.errors import HuiaError

QUARANTINE = ".quarantine"


@dataclass
class Flag:
    path: Path
    label: str | None
    kind: str  # blank | duplicate | near_duplicate | no_pose | low_pose | mislabeled | unreadable
    detail: str
    related: list[Path] = field(default_factory=list)
    score: float = 0.0

    def to_json(self) -> dict:
        return {"path": str(self.path), "label": self.label, "kind": self.kind, "detail": self.detail,
                "related": [str(p) for p in self.related], "score": round(float(self.score), 4)}


@dataclass
class ReviewResult:
    root: Path
    samples: list
    flags: list[Flag]
    problems: list[str]
    feature_space: str | None = None
    mislabel_note: str | None = None  # why the mislabel check did not run (None when it ran)

    def by_kind(self) -> dict[str, list[Flag]]:
        out: dict[str, list[Flag]] = {}
        for f in self.flags:
            out.setdefault(f.kind, []).append(f)
        return out

    def flagged_paths(self) -> set[Path]:
        return {f.path for f in self.flags}

    def to_json(self) -> dict:
        return {"root": str(self.root), "samples": len(self.samples), "problems": self.problems,
                "feature_space": self.feature_space, "mislabel_note": self.mislabel_note,
                "counts": {k: len(v) for k, v in self.by_kind().items()},
                "flags": [f.to_json() for f in self.flags]}


# -------------------------------------------------------------------------------------------------------------
# Measures


def _gray_small(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(img).convert("L").resize(size, Image.BILINEAR), np.float32)


def blank_score(img: np.ndarray) -> float:
    """Pixel spread (std of a 64x64 grey thumbnail, 0..~128). Blank frames, lens caps and flat walls are < ~6."""
    return float(_gray_small(img, (64, 64)).std())


def dhash(img: np.ndarray, bits: int = 16) -> np.ndarray:
    """Difference hash: bits*bits booleans, robust to resizing, JPEG re-encoding and small brightness changes.
    16x16 rather than the classic 8x8: photos of one person against one background (sign digits) sit 3-5 of 64
    bits apart at 8x8, but 19+ of 256 at 16x16, while a re-encoded copy stays within ~8."""
    g = _gray_small(img, (bits + 1, bits))
    return (g[:, 1:] > g[:, :-1]).reshape(-1)


def thumb_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of 32x32 grey thumbnails: the second test a near-duplicate candidate must pass."""
    x, y = _gray_small(a, (32, 32)).ravel(), _gray_small(b, (32, 32)).ravel()
    x, y = x - x.mean(), y - y.mean()
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-9))


def pose_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest keypoint displacement between two poses, in units of the body's box (the normalisation of
    huia.classify.dataset.keypoint_features, the pose classifiers' input, with the shared spec's min score): 0 for
    the same pose anywhere in the frame at any size, ~0.01 for MoveNet's jitter on one still person, 0.1+ when a
    limb moved. The largest, not the mean: raising one arm moves 2-3 of 17 keypoints. A keypoint seen in one pose
    and not the other makes them different (inf); so do poses with fewer than 2 confident keypoints."""
    from huia.classify.dataset import keypoint_features
    from huia.pose.spec import keypoint_spec

    ms = keypoint_spec().feature_min_score
    fa = keypoint_features(a, ms).reshape(-1, 3)
    fb = keypoint_features(b, ms).reshape(-1, 3)
    if fa.shape != fb.shape:
        return float("inf")
    va, vb = fa[:, 2] > 0, fb[:, 2] > 0
    if not va.any() or (va != vb).any():
        return float("inf")
    return float(np.linalg.norm(fa[va, :2] - fb[va, :2], axis=1).max())


def knn_disagreement(feats: np.ndarray, labels: list[str], k: int = 5) -> list[tuple[float, str, list[int]]]:
    """For each sample: (share of its k nearest neighbours (cosine, standardized features) that agree on ONE other
    label, that label, neighbour indices)."""
    f = np.asarray(feats, np.float64)
    f = (f - f.mean(0)) / (f.std(0) + 1e-6)
    f /= np.linalg.norm(f, axis=1, keepdims=True) + 1e-12
    sim = f @ f.T
    np.fill_diagonal(sim, -np.inf)
    k = max(1, min(k, len(f) - 1))
    nn_idx = np.argsort(-sim, axis=1)[:, :k]
    out = []
    for i, nbrs in enumerate(nn_idx):
        votes: dict[str, int] = {}
        for j in nbrs:
            votes[labels[j]] = votes.get(labels[j], 0) + 1
        other = max((lab for lab in votes if lab != labels[i]), key=lambda lab: votes[lab], default=None)
        share = votes.get(other, 0) / k if other is not None else 0.0
        out.append((share, other, [int(j) for j in nbrs]))
    return out


def _features(samples, images, space: str) -> tuple[np.ndarray, str]:
    if space == "auto":
        space = "keypoints" if all(s.keypoints is not None for s in samples) else "handlandmark-full"
    if space == "keypoints":
        from huia.classify.dataset import keypoint_features

        return np.stack([keypoint_features(s.keypoints) for s in samples]), space
    if space == "pixels":
        return np.stack([_gray_small(im, (24, 24)).reshape(-1) for im in images]), space
    import torch

    from huia.classify.dataset import prepare_image
    from huia.classify.models import Backbone, get_backbone_spec
    from huia.classify.train import limit_threads

    limit_threads()
    spec = get_backbone_spec(space)
    bb = Backbone(spec, use_landmarks=False)
    out = []
    with torch.no_grad():
        for s in range(0, len(images), 16):
            x = torch.from_numpy(np.stack([prepare_image(im, spec.input_size) for im in images[s:s + 16]]))
            out.append(bb(x).numpy())
    return np.concatenate(out), space


# -------------------------------------------------------------------------------------------------------------


def _unreadable_files(root: Path, seen: set[Path], follow_links: bool = True) -> list[Flag]:
    """Image files in class folders that the reader left out because they do not decode (empty, garbage): flagged
    so that the text output lists them and --quarantine moves them (their reading problem stays in problems)."""
    from huia.data.folders import IGNORED_NAMES
    from huia.data.images import image_size, is_image_file

    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                    and (follow_links or not p.is_symlink())):
        for f in sorted(d.iterdir()):
            if (f in seen or f.name in IGNORED_NAMES or not f.is_file() or not is_image_file(f)
                    or (not follow_links and f.is_symlink())):
                continue
            try:
                image_size(f)
            except HuiaError as exc:
                out.append(Flag(f, d.name, "unreadable", str(exc)))
    return out


def review_dataset(root: str | Path, *, blank_threshold: float = 6.0, near_dup_bits: int = 12,
                   near_dup_corr: float = 0.97, near_dup_pose: float = 0.03,
                   pose_min_score: float = 0.3, pose_min_visible: float = 0.5, features: str = "auto",
                   k: int = 5, mislabel_share: float = 0.6, pose_model: str | None = None,
                   quiet: bool = True, follow_links: bool = True) -> ReviewResult:
    from huia.data.folders import read_class_folders
    from huia.data.images import load_image

    root = Path(root)
    samples, problems = read_class_folders(root, follow_links=follow_links)
    flags: list[Flag] = []
    images, kept = [], []
    from huia.train.common import progress

    for s in progress(samples, desc="review", unit="img", disable=True if quiet else None):
        try:
            images.append(load_image(s.image_path))
            kept.append(s)
        except HuiaError as exc:
            flags.append(Flag(s.image_path, s.label, "unreadable", str(exc)))
    samples = kept
    flags.extend(_unreadable_files(root, {Path(s.image_path) for s in samples} | {f.path for f in flags},
                                   follow_links))
    # blanks
    blank = set()
    for i, (s, im) in enumerate(zip(samples, images)):
        sc = blank_score(im)
        if sc < blank_threshold:
            blank.add(i)
            flags.append(Flag(s.image_path, s.label, "blank", f"near-uniform image (pixel spread {sc:.1f})",
                              score=sc))
    # duplicates: exact (same pixels) first, then near (dHash)
    seen: dict[str, int] = {}
    dup = set()
    for i, (s, im) in enumerate(zip(samples, images)):
        if i in blank:
            continue
        h = hashlib.sha1(np.ascontiguousarray(im).tobytes() + str(im.shape).encode()).hexdigest()
        if h in seen:
            j = seen[h]
            dup.add(i)
            same = " (different label!)" if samples[j].label != s.label else ""
            flags.append(Flag(s.image_path, s.label, "duplicate", f"identical to {samples[j].image_path.name}{same}",
                              [samples[j].image_path]))
        else:
            seen[h] = i
    cand = [i for i in range(len(samples)) if i not in blank and i not in dup]
    if cand:
        H = np.stack([dhash(images[i]) for i in cand]).astype(np.uint8)
        dist = (H[:, None, :] != H[None, :, :]).sum(2)
        has_kps = [samples[i].keypoints is not None and len(samples[i].keypoints) > 0 for i in cand]
        for a in range(len(cand)):
            close = []
            for b in range(a):
                if dist[a, b] > near_dup_bits or cand[b] in dup:
                    continue
                pd = None
                if has_kps[a] and has_kps[b]:  # captures: the pose decides, pixels barely change
                    pd = pose_distance(samples[cand[a]].keypoints, samples[cand[b]].keypoints)
                    if pd > near_dup_pose:
                        continue
                if thumb_correlation(images[cand[a]], images[cand[b]]) >= near_dup_corr:
                    close.append((b, pd))
            if close:
                b, pd = close[0]
                i, j = cand[a], cand[b]
                dup.add(i)
                same = " (different label!)" if samples[j].label != samples[i].label else ""
                pose = f", same pose (keypoints within {pd:.3f} of the body size)" if pd is not None else ""
                flags.append(Flag(samples[i].image_path, samples[i].label, "near_duplicate",
                                  f"{int(dist[a, b])}/{H.shape[1]} hash bits from "
                                  f"{samples[j].image_path.name}{pose}{same}",
                                  [samples[j].image_path], score=float(dist[a, b])))
    # pose quality (capture format; with ``pose_model`` also plain photos, through the pose estimator)
    if pose_model:
        from huia.pose import estimate

        for i, (s, im) in enumerate(zip(samples, images)):
            if "sidecar" in s.meta or i in blank:
                continue
            poses = estimate(im, model=pose_model)
            s.keypoints = poses[0].to_array().astype(np.float32) if poses else None
            s.meta["estimated_pose"] = pose_model
    has_sidecar = [s for s in samples if "sidecar" in s.meta]
    for i, s in enumerate(samples):
        if ("sidecar" not in s.meta and "estimated_pose" not in s.meta) or i in blank:
            continue
        if s.keypoints is None or not len(s.keypoints):
            where = "found by " + s.meta["estimated_pose"] if "estimated_pose" in s.meta else "in the capture JSON"
            flags.append(Flag(s.image_path, s.label, "no_pose", f"no keypoints {where}"))
            continue
        sc = np.asarray(s.keypoints)[:, 2]
        vis = float((sc >= pose_min_score).mean())
        if vis < pose_min_visible:
            flags.append(Flag(s.image_path, s.label, "low_pose",
                              f"only {vis:.0%} of keypoints above score {pose_min_score} (mean {sc.mean():.2f})",
                              score=vis))
    # likely mislabeled
    space, note = None, None
    pool = [i for i in range(len(samples)) if i not in blank and i not in dup]
    labels_present = {samples[i].label for i in pool}
    use_kps = features == "keypoints" or (features == "auto" and has_sidecar and len(has_sidecar) == len(samples))
    if use_kps:  # captures without a pose cannot be placed in keypoint space
        pool = [i for i in pool if samples[i].keypoints is not None and len(samples[i].keypoints)]
        labels_present = {samples[i].label for i in pool}
    if features == "none":
        note = "not run (--features none)"
    elif len(pool) <= k + 1:
        note = (f"not run: {len(pool)} usable sample(s) left after blanks, duplicates"
                + (" and pose-less captures" if use_kps else "") + f", need more than {k + 1} (the {k} neighbours compared, plus one)")
    elif len(labels_present) < 2:
        note = f"not run: one class only ({', '.join(sorted(map(str, labels_present)))})"
    else:
        sub = [samples[i] for i in pool]
        feats, space = _features(sub, [images[i] for i in pool], "keypoints" if use_kps else features)
        labs = [s.label for s in sub]
        for j, (share, other, nbrs) in enumerate(knn_disagreement(feats, labs, k)):
            if other is not None and share >= mislabel_share:
                s = sub[j]
                flags.append(Flag(s.image_path, s.label, "mislabeled",
                                  f"{share:.0%} of its {len(nbrs)} nearest neighbours are {other!r}",
                                  [sub[n].image_path for n in nbrs], score=share))
    return ReviewResult(root, samples, flags, problems, space, note)


# -------------------------------------------------------------------------------------------------------------
# Report and quarantine


def _thumb(path: Path, size: int = 96) -> str:
    try:
        im = Image.open(path).convert("RGB")
        im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=80)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    except Exception:  # noqa: BLE001 - an unreadable file gets no thumbnail, the report still lists it
        return ""


def write_report(result: ReviewResult, out: str | Path) -> Path:
    out = Path(out)
    kinds = result.by_kind()
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>huia data review</title><style>",
             "body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa;color:#222}"
             "table{border-collapse:collapse}td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;"
             "vertical-align:middle}img{border-radius:4px;margin-right:4px}.k{font-weight:600}"
             ".summary span{display:inline-block;margin-right:1.2em}",
             "</style></head><body>",
             f"<h1>Data review: {e(str(result.root))}</h1>",
             f"<p class='summary'><span>{len(result.samples)} samples</span>"
             f"<span>{len(result.flagged_paths())} flagged</span>"
             + "".join(f"<span>{e(k)}: {len(v)}</span>" for k, v in kinds.items())
             + (f"<span>feature space: {e(result.feature_space)}</span>" if result.feature_space else
                f"<span>mislabel check {e(result.mislabel_note or '')}</span>") + "</p>"]
    if result.problems:
        parts.append("<h2>Reading problems</h2><ul>" + "".join(f"<li>{e(p)}</li>" for p in result.problems)
                     + "</ul>")
    for kind, flags in kinds.items():
        parts.append(f"<h2 id='{e(kind)}'>{e(kind)} ({len(flags)})</h2><table><tr><th>image</th><th>file</th>"
                     "<th>label</th><th>why</th><th>related</th></tr>")
        for f in flags:
            rel = "".join(f"<img src='{_thumb(p, 48)}' title='{e(str(p))}' width='48'>" for p in f.related[:5])
            try:
                name = str(f.path.relative_to(result.root))
            except ValueError:
                name = str(f.path)
            parts.append(f"<tr><td><img src='{_thumb(f.path)}'></td><td>{e(name)}</td><td class='k'>"
                         f"{e(str(f.label))}</td><td>{e(f.detail)}</td><td>{rel}</td></tr>")
        parts.append("</table>")
    if not result.flags:
        parts.append("<p>Nothing flagged.</p>")
    parts.append("</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts), encoding="utf-8")
    return out


KINDS = ("blank", "duplicate", "near_duplicate", "no_pose", "low_pose", "mislabeled", "unreadable")
# What a bare --quarantine moves: near duplicates stay. A capture timer's near-identical frames are valid samples
# (and `data split` keeps an original with its copies), so moving them would empty small classes for nothing.
DEFAULT_QUARANTINE = tuple(k for k in KINDS if k != "near_duplicate")


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """--quarantine's value: None (bare flag) = DEFAULT_QUARANTINE, 'all', or a comma list of flag kinds."""
    if text is None:
        return DEFAULT_QUARANTINE
    if text.strip() == "all":
        return KINDS
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise HuiaError(f"--quarantine: unknown flag kind {', '.join(map(repr, bad)) or repr(text)} "
                        f"(choose 'all' or a comma list of {', '.join(KINDS)})")
    return kinds


def quarantine(result: ReviewResult, kinds: tuple[str, ...] | None = None) -> list[tuple[Path, Path]]:
    """Move flagged images of ``kinds`` (default :data:`DEFAULT_QUARANTINE`) with their keypoints JSON to
    ROOT/.quarantine/<kind>/<label>/. Never overwrites, never deletes; returns (from, to) pairs. A manifest.jsonl
    there records why, so :func:`restore` can undo the moves."""
    kinds = DEFAULT_QUARANTINE if kinds is None else kinds
    moved = []
    qroot = result.root / QUARANTINE
    done: set[Path] = set()
    for f in result.flags:
        if f.kind not in kinds or f.path in done or not f.path.exists():
            continue
        dest_dir = qroot / f.kind / (f.label or "_")
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / f.path.name
        n = 1
        while dest.exists():
            dest = dest_dir / f"{f.path.stem}_{n}{f.path.suffix}"
            n += 1
        shutil.move(str(f.path), str(dest))
        moved.append((f.path, dest))
        side = f.path.with_suffix(".json")
        if side.is_file():
            shutil.move(str(side), str(dest.with_suffix(".json")))
        with (qroot / "manifest.jsonl").open("a") as m:
            # "from"/"to" relative to the data set: restore works from any folder, and after the data set moved
            m.write(json.dumps({**f.to_json(), "from": _rel(f.path, result.root), "to": _rel(dest, result.root)})
                    + "\n")
        done.add(f.path)
    return moved


def _rel(p: Path, root: Path) -> str:
    try:
        return Path(p).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(p)


def _record_paths(rec: dict, root: Path) -> tuple[Path, Path]:
    """(quarantined file, where it came from) of a manifest record. New records are relative to the data set.
    Older ones held the paths as typed then (relative to that shell's folder, or absolute): when those do not lead
    to the file, it is found again from the paths' tails, which follow the data set's own layout
    (``.quarantine/<kind>/<label>/<file>`` and ``<label>/<file>``)."""
    src, dst = Path(rec["to"]), Path(rec["from"])
    if src.parts[:1] == (QUARANTINE,):
        return root / src, root / dst
    if src.is_absolute() and src.exists():
        return src, dst
    if QUARANTINE in src.parts:
        src = root / Path(*src.parts[src.parts.index(QUARANTINE):])
    return src, root / Path(*dst.parts[-2:])


def restore(root: str | Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Undo quarantines: move every file recorded in ROOT/.quarantine/manifest.jsonl back to where it came from
    (with its keypoints JSON). A file whose old place is taken again, or that is gone from the quarantine, stays
    recorded and is reported; nothing is overwritten or deleted. Returns ((from, to) moved back, problems)."""
    root = Path(root)
    qroot = root / QUARANTINE
    manifest = qroot / "manifest.jsonl"
    if not manifest.is_file():
        raise HuiaError("nothing to restore (no .quarantine/manifest.jsonl)", root)
    back, problems, keep = [], [], []
    for n, line in enumerate(manifest.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            src, dst = _record_paths(json.loads(line), root)
        except (ValueError, KeyError, TypeError):
            problems.append(f"{manifest}:{n}: not a quarantine record, left as is")
            keep.append(line)
            continue
        # a record may only move files between the quarantine and the data set it belongs to
        if not (_inside(src, qroot) and _inside(dst, root)) or _inside(dst, qroot):
            problems.append(f"{manifest}:{n}: {src} -> {dst} leaves the data set, left as is")
            keep.append(line)
            continue
        if not src.is_file():
            problems.append(f"{src}: no longer in the quarantine, record dropped")
            continue
        side_src, side_dst = src.with_suffix(".json"), dst.with_suffix(".json")
        if dst.exists() or (side_src.is_file() and side_dst.exists()):
            problems.append(f"{dst}: exists again, {src} stays in the quarantine")
            keep.append(line)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), str(dst))
        if side_src.is_file():
            shutil.move(str(side_src), str(side_dst))
        back.append((src, dst))
    tmp = manifest.with_name(manifest.name + ".tmp")
    tmp.write_text("".join(k + "\n" for k in keep))
    tmp.replace(manifest)
    return back, problems


def _inside(p: Path, folder: Path) -> bool:
    try:
        p.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


# -------------------------------------------------------------------------------------------------------------
# CLI (registered by huia.data.cli)


def _cmd_review(args) -> int:
    if args.restore and args.quarantine is not False:
        raise HuiaError("--restore and --quarantine go the opposite ways; use one of them")
    if args.restore:
        back, problems = restore(args.dir)
        for prob in problems:
            print(f"huia: problem: {prob}", file=sys.stderr)
        if args.json:
            print(json.dumps({"restored": [[str(a), str(b)] for a, b in back], "problems": problems}))
        else:
            print(f"moved {len(back)} sample(s) back from {Path(args.dir) / QUARANTINE} (with their keypoints "
                  "JSON where they had one)")
        return 1 if problems else 0
    kinds = parse_kinds(args.quarantine) if args.quarantine is not False else ()
    if args.report:  # before the review: a path that cannot take the report must not cost the user the review
        rep = Path(args.report)
        try:
            rep.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HuiaError(f"cannot write the report there: {exc.strerror or exc}", rep.parent) from None
        if rep.is_dir():
            raise HuiaError("is a folder; give the report a file name (e.g. review.html)", rep)
    result = review_dataset(args.dir, blank_threshold=args.blank_threshold, near_dup_bits=args.near_dup_bits,
                            near_dup_pose=args.near_dup_pose,
                            features=args.features, k=args.k, pose_model=args.pose, quiet=args.json)
    if args.report:
        try:
            write_report(result, args.report)
        except OSError as exc:  # a folder in the way, a file where a folder should be, no permission
            raise HuiaError(f"cannot write the report: {exc.strerror or exc}", args.report) from None
    moved = quarantine(result, kinds) if kinds else []
    if args.json:
        doc = result.to_json()
        doc["quarantined"] = [[str(a), str(b)] for a, b in moved]
        print(json.dumps(doc))
    else:
        for prob in result.problems:
            print(f"huia: problem: {prob}", file=sys.stderr)
        counts = ", ".join(f"{k} {len(v)}" for k, v in result.by_kind().items()) or "nothing"
        probs = f"; {len(result.problems)} reading problem(s) listed above" if result.problems else ""
        print(f"{args.dir}: {len(result.samples)} samples; flagged: {counts}{probs}")
        space = f"in {result.feature_space} space" if result.feature_space else result.mislabel_note
        print(f"mislabel check: {space}")
        if args.report:
            print(f"report: {args.report}")
        if moved:
            print(f"moved {len(moved)} sample(s) to {Path(args.dir) / QUARANTINE} (with their keypoints JSON where "
                  "they had one)")
    # flags are judgments (exit 0); a file that does not decode is an error, as in `data check`, unless
    # --quarantine just moved it out of the data set
    return 1 if result.problems and "unreadable" not in kinds else 0


def register_review(sub) -> None:
    p = sub.add_parser("review", help="flag blank, duplicate, pose-less and likely mislabeled samples",
                       description="Flags blank/near-blank images, exact and near duplicates, captures with no or "
                                   "low-confidence pose, and samples whose label disagrees with their nearest "
                                   "neighbours in feature space; files that do not decode are listed as "
                                   "problems and flagged 'unreadable'. Writes an HTML report with thumbnails; "
                                   "--quarantine moves flagged files to DIR/.quarantine/ (never deletes; --restore moves them back). Exit code 1 when "
                                   "files do not decode (and were not quarantined), else 0: flags are for you to "
                                   "judge.")
    p.add_argument("dir", metavar="DIR", help="dataset folder: DIR/<class>/<image>[.json]")
    p.add_argument("--report", help="write an HTML report here")
    p.add_argument("--quarantine", nargs="?", const=None, default=False, metavar="KINDS",
                   help="move flagged files to DIR/.quarantine/<kind>/, recorded in DIR/.quarantine/manifest.jsonl. "
                        f"Bare: every kind but near_duplicate ({', '.join(DEFAULT_QUARANTINE)}); 'all'; or a comma "
                        "list of kinds")
    p.add_argument("--restore", action="store_true",
                   help="move every quarantined file back where it came from (what the manifest records); a file "
                        "whose place is taken again stays, reported")
    p.add_argument("--features", default="auto",
                   help="feature space for mislabel detection: auto (keypoints if every sample has them, else "
                        "handlandmark-full), handlandmark-full, posenet-mobilenet, keypoints, pixels, none "
                        "(default auto)")
    p.add_argument("--pose", default=None, metavar="MODEL",
                   help="also run a pose estimator (movenet-lightning, movenet-thunder, posenet, blazepose) on "
                        "photos without a keypoints JSON and flag those with no or low-confidence pose")
    p.add_argument("--k", type=int, default=5, help="neighbours consulted per sample (default 5)")
    p.add_argument("--blank-threshold", type=float, default=6.0,
                   help="pixel spread (standard deviation of a 64x64 grey thumbnail, 0..~128) below which a frame "
                        "is blank (default 6.0)")
    p.add_argument("--near-dup-bits", type=int, default=12,
                   help="near duplicates: at most this many of the 256 bits of a 16x16 difference hash of the grey "
                        "image differ (and 32x32 thumbnails correlate >= 0.97); a re-saved or resized copy sits "
                        "within ~8 and photos of one hand on one background 19+, but a fixed webcam's frames of "
                        "different poses only 2-3 (hence --near-dup-pose). 0 = only (near-)pixel-identical "
                        "copies (default 12)")
    p.add_argument("--near-dup-pose", type=float, default=0.03,
                   help="when both images have keypoints (studio captures), they are near duplicates only if no "
                        "keypoint moved more than this fraction of the body's size as well: a fixed webcam makes "
                        "different poses look alike in pixels; MoveNet jitter on one frame is ~0.01-0.025 "
                        "(default 0.03)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=_cmd_review)


def register(sub) -> None:  # standalone use when huia.data.cli is absent
    register_review(sub)


if __name__ == "__main__":  # pragma: no cover
    ap = argparse.ArgumentParser(prog="huia data")
    register_review(ap.add_subparsers(dest="cmd"))
    a = ap.parse_args()
    sys.exit(a.func(a))
