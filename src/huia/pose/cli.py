"""`huia pose PATH`: keypoints for an image, a video or a folder of images, as JSON and/or an overlay."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from huia.errors import HuiaError
from huia.pose.spec import keypoint_spec, pose_model_spec

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def register(subparsers) -> None:
    from huia.pose.estimate import list_estimators

    models = list_estimators()
    p = subparsers.add_parser(
        "pose",
        help="estimate human poses (keypoints) in an image, video or folder",
        description="Estimate human poses with a bundled model. Writes a JSON list with one entry per frame (an "
        "image counts as one frame; a folder gives its images in name order), each a list of poses "
        '{"score", "keypoints": [{"name", "x", "y", "score"}]} in image pixels. Videos use the tracking '
        "pipeline (crop around the previous frame's body, keypoint smoothing) for single-person models.",
        epilog="models: " + "; ".join(f"{k}: {v}" for k, v in models.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", type=Path, help="an image, a video (.mp4/.mov/.avi/.webm...) or a folder of images")
    p.add_argument("--model", default="movenet-lightning", choices=sorted(models),
                   help="pose model (default: movenet-lightning)")
    p.add_argument("--multi", action="store_true",
                   help="several people: PoseNet multi-person decoding, or MoveNet MultiPose for movenet models")
    pn, mp = pose_model_spec()["posenet"], pose_model_spec()["movenet_multipose"]  # defaults shown in --help
    p.add_argument("--max-poses", type=int, default=None,
                   help=f"most poses per frame with --multi (default {pn['max_poses']})")
    p.add_argument("--score-threshold", type=float, default=None,
                   help=f"PoseNet --multi: minimum root part score to start a pose (default {pn['score_threshold']})")
    p.add_argument("--nms-radius", type=float, default=None,
                   help="PoseNet --multi: two poses' same parts closer than this many pixels suppress "
                   f"(default {pn['nms_radius']})")
    p.add_argument("--min-pose-score", type=float, default=None,
                   help="drop poses whose score is below this (PoseNet --multi default "
                   f"{pn['min_multi_pose_score']}, MultiPose {mp['min_pose_score']})")
    p.add_argument("--output-stride", type=int, choices=pn["output_strides"], default=None,
                   help=f"PoseNet output stride: smaller = accurate/slow, larger = fast/coarse "
                   f"(default {pn['output_stride']})")
    p.add_argument("--input-resolution", type=int, default=None,
                   help=f"PoseNet input size in pixels (rounded to k*stride+1; default {pn['input_resolution']})")
    p.add_argument("--image-scale-factor", type=float, default=None,
                   help="PoseNet: scale the image by this factor instead of --input-resolution (0.2..1)")
    p.add_argument("--flip", action="store_true", help="mirror the poses horizontally (webcam selfie view)")
    p.add_argument("--no-smoothing", action="store_true", help="video: no temporal keypoint smoothing")
    p.add_argument("--max-frames", type=int, default=None, help="video: stop after this many frames")
    p.add_argument("--json", type=Path, default=None, dest="json_out",
                   help="write the poses here (default: print them when no --overlay is given)")
    p.add_argument("--overlay", type=Path, default=None,
                   help="draw the skeletons: OUT.png for an image, OUT.mp4 for a video, a folder for a folder")
    p.add_argument("--min-score", type=float, default=keypoint_spec().draw_min_score,
                   help="overlay: hide keypoints below this score (default %(default)s)")
    p.set_defaults(func=run)


def _options(args) -> dict:
    opts = {"max_poses": args.max_poses, "score_threshold": args.score_threshold, "nms_radius": args.nms_radius,
            "output_stride": args.output_stride, "input_resolution": args.input_resolution,
            "image_scale_factor": args.image_scale_factor, "min_pose_score": args.min_pose_score,
            "flip_horizontal": args.flip or None, "smoothing": False if args.no_smoothing else None}
    return {k: v for k, v in opts.items() if v is not None}


def _frames_json(frames) -> list:
    return [[p.to_json() for p in poses] for poses in frames]


def run(args) -> int:
    from huia.pose.estimate import create_estimator, load_rgb
    from huia.pose.render import draw_poses
    from huia.pose.video import VideoWriter, estimate_video, is_video, video_info

    path: Path = args.path
    if not path.exists():
        raise HuiaError("no such file or folder", path)
    if args.max_poses is not None and args.max_poses <= 0:
        raise HuiaError(f"--max-poses must be > 0, got {args.max_poses}")
    est = create_estimator(args.model, multi=args.multi, **_options(args))
    results: list = []
    import cv2

    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise HuiaError("no images in this folder", path)
        from tqdm import tqdm

        if args.overlay:
            args.overlay.mkdir(parents=True, exist_ok=True)
        for img_path in tqdm(images, desc=path.name, unit="image", disable=len(images) < 5):
            img = load_rgb(img_path)
            est.reset()
            poses = est.estimate(img)
            results.append(poses)
            if args.overlay:
                out = draw_poses(img, poses, min_score=args.min_score)
                cv2.imwrite(str(args.overlay / f"{img_path.stem}.png"), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
    elif is_video(path):
        writer = None
        if args.overlay:
            writer = VideoWriter(args.overlay, fps=video_info(path).fps)

        def on_frame(frame, poses):
            if writer is not None:
                writer.write(draw_poses(frame.image, poses, min_score=args.min_score))

        try:
            results = estimate_video(path, est, max_frames=args.max_frames, progress=True, on_frame=on_frame)
        finally:
            if writer is not None:
                writer.close()
    else:
        img = load_rgb(path)
        poses = est.estimate(img)
        results = [poses]
        if args.overlay:
            args.overlay.parent.mkdir(parents=True, exist_ok=True)
            out = draw_poses(img, poses, min_score=args.min_score)
            if not cv2.imwrite(str(args.overlay), cv2.cvtColor(out, cv2.COLOR_RGB2BGR)):
                raise HuiaError("cannot write an image here (use .png or .jpg)", args.overlay)
    doc = _frames_json(results)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json_out.with_name(args.json_out.name + ".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(args.json_out)
    elif not args.overlay:
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
    n_poses = sum(len(f) for f in results)
    print(f"{path}: {len(results)} frame(s), {n_poses} pose(s) with {args.model}"
          + (f" -> {args.json_out}" if args.json_out else "") + (f", overlay {args.overlay}" if args.overlay else ""),
          file=sys.stderr)
    return 0
