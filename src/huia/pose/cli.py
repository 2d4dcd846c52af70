"""`huia pose PATH`: keypoints for an image, a video or a folder of images, as JSON and/or an overlay."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import warnings
from pathlib import Path

from huia.cli import float_range, int_range, positive_float, positive_int, probability
from huia.errors import HuiaError
from huia.pose.posenet._checks import IMAGE_SCALE_FACTOR_RANGE
from huia.pose.spec import keypoint_spec, pose_model_spec
from huia.train.common import prepare_output

# what cv2.imwrite / our VideoWriter can write, per input kind
OVERLAY_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
OVERLAY_VIDEO_SUFFIXES = {".mp4", ".avi"}
# TF.js PoseNet's documented input resolutions span 161..801; far below, the offsets put keypoints off the image
POSENET_RESOLUTION = (161, 801)
POSENET_ONLY = {"output_stride": "--output-stride", "input_resolution": "--input-resolution",
                "image_scale_factor": "--image-scale-factor"}
POSENET_MULTI_ONLY = {"score_threshold": "--score-threshold", "nms_radius": "--nms-radius"}
MULTI_ONLY = {"max_poses": "--max-poses"}


def register(subparsers) -> None:
    from huia.pose.estimate import list_estimators

    models = list_estimators()
    description = (
        textwrap.fill("Estimate human poses with a bundled model. PATH is an image, a video, or a folder (its "
                      "images and those of its sub-folders, hidden .folders excepted, in path order).", 78)
        + "\n\n" + textwrap.fill(
            "JSON for an image or a video: a list with one entry per frame, each a list of poses "
            '{"score", "keypoints": [{"name", "x", "y", "score"}]} in image pixels. For a folder: a list of '
            '{"file" (path relative to the folder), "width", "height", "poses": [...]}. Videos use the tracking '
            "pipeline (crop around the previous frame's body, keypoint smoothing) for single-person models.", 78)
        + "\n\n" + textwrap.fill(
            "Exit code: 0 done; 1 some images of a folder could not be read (each is named in a 'huia: warning:' "
            "line and skipped, the others are estimated); 2 bad arguments or unreadable input.", 78))
    epilog = "models:\n" + "\n".join(textwrap.fill(f"{k}: {v}", 78, initial_indent="  ", subsequent_indent="    ")
                                      for k, v in models.items())
    p = subparsers.add_parser(
        "pose",
        help="estimate human poses (keypoints) in an image, video or folder",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", type=Path, help="an image, a video (.mp4/.mov/.avi/.webm...) or a folder of images")
    p.add_argument("--model", default="movenet-lightning", choices=sorted(models),
                   help="pose model (default: movenet-lightning)")
    p.add_argument("--multi", action="store_true",
                   help="several people: PoseNet multi-person decoding, or MoveNet MultiPose for movenet models "
                   "(not blazepose)")
    pn, mp = pose_model_spec()["posenet"], pose_model_spec()["movenet_multipose"]  # defaults shown in --help
    p.add_argument("--max-poses", type=positive_int, default=None,
                   help=f"most poses per frame with --multi (default {pn['max_poses']})")
    p.add_argument("--score-threshold", type=probability, default=None,
                   help=f"PoseNet --multi: minimum root part score to start a pose (default {pn['score_threshold']})")
    p.add_argument("--nms-radius", type=positive_float, default=None,
                   help="PoseNet --multi: two poses' same parts closer than this many pixels suppress "
                   f"(default {pn['nms_radius']})")
    p.add_argument("--min-pose-score", type=probability, default=None,
                   help="hide poses whose confidence score is below this, with any model (default: PoseNet --multi "
                   f"{pn['min_multi_pose_score']}, MultiPose {mp['min_pose_score']}, single-person models 0 = "
                   "keep the pose); e.g. 0.2 drops the weak 'pose' found in a frame with nobody in it")
    p.add_argument("--output-stride", type=int, choices=pn["output_strides"], default=None,
                   help=f"PoseNet output stride: smaller = accurate/slow, larger = fast/coarse "
                   f"(default {pn['output_stride']})")
    lo, hi = POSENET_RESOLUTION
    p.add_argument("--input-resolution", type=int_range(lo, hi), default=None,
                   help=f"PoseNet input size in pixels, {lo}..{hi} (rounded to k*stride+1; "
                   f"default {pn['input_resolution']})")
    slo, shi = IMAGE_SCALE_FACTOR_RANGE
    p.add_argument("--image-scale-factor", type=float_range(slo, shi, name="scale factor"), default=None,
                   help=f"PoseNet: scale the image by this factor, {slo:g}..{shi:g} (posenet 1.x's knob), instead of "
                   "padding it to --input-resolution. The factor is relative to the image, so the network input "
                   f"(factor x image size) is not held to --input-resolution's {lo}..{hi}: 0.2 of a 576 px frame is "
                   "113 px (fast, coarse), 0.5 of a 4000 px photo is 2000 px (slow)")
    p.add_argument("--flip", action="store_true",
                   help="return the keypoints mirrored, x -> width - 1 - x (PoseNet's flipHorizontal: for a "
                   "webcam's selfie view, so the poses come back in that orientation). --overlay then draws on the "
                   "mirrored picture, where the JSON's coordinates land on the person")
    p.add_argument("--no-smoothing", action="store_true", help="video: no temporal keypoint smoothing")
    p.add_argument("--max-frames", type=positive_int, default=None, help="video: stop after this many frames")
    p.add_argument("--json", type=Path, default=None, dest="json_out",
                   help="write the poses here (default: print them when no --overlay is given)")
    p.add_argument("--overlay", type=Path, default=None,
                   help="draw the skeletons: OUT.png/.jpg for an image, OUT.mp4/.avi for a video, a folder for a "
                   "folder (one PNG per image, same relative path)")
    p.add_argument("--min-score", type=probability, default=keypoint_spec().draw_min_score,
                   help="overlay: hide keypoints below this score (default %(default)s)")
    p.set_defaults(func=run)


def _options(args) -> dict:
    opts = {"max_poses": args.max_poses, "score_threshold": args.score_threshold, "nms_radius": args.nms_radius,
            "output_stride": args.output_stride, "input_resolution": args.input_resolution,
            "image_scale_factor": args.image_scale_factor, "min_pose_score": args.min_pose_score,
            "flip_horizontal": args.flip or None, "smoothing": False if args.no_smoothing else None}
    return {k: v for k, v in opts.items() if v is not None}


def model_used(model: str, multi: bool) -> str:
    """The network that really runs: --multi on a MoveNet SinglePose model runs MoveNet MultiPose."""
    if model == "movenet-multipose" or (multi and model.startswith("movenet")):
        return "movenet-multipose"
    return model + (" (multi-person)" if multi and model == "posenet" else "")


def check_options(args) -> None:
    """Refuse an option the chosen model would ignore, instead of silently running without it."""
    given = _options(args)
    multi = args.multi or args.model == "movenet-multipose"
    if args.multi and args.model == "blazepose":
        raise HuiaError("blazepose finds one person; for several use --model posenet --multi or movenet-multipose")
    for key, flag in POSENET_ONLY.items():
        if key in given and args.model != "posenet":
            raise HuiaError(f"{flag} only applies to --model posenet ({args.model} has a fixed input and output)")
    for key, flag in POSENET_MULTI_ONLY.items():
        if key in given and not (args.model == "posenet" and args.multi):
            raise HuiaError(f"{flag} only applies to --model posenet --multi")
    for key, flag in MULTI_ONLY.items():
        if key in given and not multi:
            raise HuiaError(f"{flag} only applies with --multi (or --model movenet-multipose)")
    if "image_scale_factor" in given and "input_resolution" in given:
        raise HuiaError("give --input-resolution or --image-scale-factor, not both")


def check_outputs(path: Path, kind: str, overlay: Path | None, json_out: Path | None) -> None:
    """Check --overlay/--json before any work: the right kind of output for the input, never onto the input, and a
    place that can be written (else one line, not a traceback at the end); their folders are created."""
    if json_out is not None:  # next to a folder's images is fine (not an image); onto the input file is not
        prepare_output(json_out, flag="--json", folder=False, inputs=[] if kind == "folder" else [path])
    if overlay is None:
        return
    suffix = overlay.suffix.lower()
    if kind == "folder":
        if overlay.exists() and not overlay.is_dir():
            raise HuiaError("--overlay for a folder must be a folder, this is a file", overlay)
        if suffix in OVERLAY_IMAGE_SUFFIXES | OVERLAY_VIDEO_SUFFIXES:
            raise HuiaError(f"--overlay for a folder must be a folder, not a {suffix} file name", overlay)
        # inside the input folder, the drawn PNGs would be read as inputs by the next run
        prepare_output(overlay, flag="--overlay", folder=True, inputs=[path])
        return
    if overlay.is_dir():
        raise HuiaError(f"--overlay for {'a video' if kind == 'video' else 'an image'} must be a file name, "
                        "this is a folder", overlay)
    allowed = OVERLAY_VIDEO_SUFFIXES if kind == "video" else OVERLAY_IMAGE_SUFFIXES
    if suffix not in allowed:
        raise HuiaError(f"--overlay for {'a video' if kind == 'video' else 'an image'} must end in "
                        f"{'/'.join(sorted(allowed))}, not {suffix or 'no extension'!r}", overlay)
    prepare_output(overlay, flag="--overlay", folder=False, inputs=[path])


def run(args) -> int:
    from huia.data.images import folder_images
    from huia.pose.estimate import create_estimator, load_rgb
    from huia.pose.render import draw_poses
    from huia.pose.video import VideoWriter, estimate_video, is_video, video_info
    from huia.train.common import progress, progress_enabled

    path: Path = args.path
    if not path.exists():
        raise HuiaError("no such file or folder", path)
    kind = "folder" if path.is_dir() else "video" if is_video(path) else "image"
    check_options(args)
    check_outputs(path, kind, args.overlay, args.json_out)
    images = folder_images(path) if kind == "folder" else []
    if kind == "folder" and not images:
        raise HuiaError("no images in this folder", path)
    est = create_estimator(args.model, multi=args.multi, **_options(args))
    import cv2

    def shown(image):
        """The picture the overlay is drawn on: mirrored with --flip, as the returned keypoints are."""
        return image[:, ::-1] if args.flip else image

    skipped: list[Path] = []
    if kind == "folder":
        doc = []
        bar = progress(images, desc=path.name, unit="image", disable=True if len(images) < 5 else None)
        for img_path in bar:
            rel = img_path.relative_to(path)
            try:
                img = load_rgb(img_path)
            except HuiaError as exc:
                warnings.warn(f"{exc} (skipped)", UserWarning, stacklevel=1)
                skipped.append(img_path)
                continue
            est.reset()
            poses = est.estimate(img)
            doc.append({"file": rel.as_posix(), "width": int(img.shape[1]), "height": int(img.shape[0]),
                        "poses": [p.to_json() for p in poses]})
            if args.overlay:
                out_file = (args.overlay / rel).with_suffix(".png")
                out_file.parent.mkdir(parents=True, exist_ok=True)
                out = draw_poses(shown(img), poses, min_score=args.min_score)
                if not cv2.imwrite(str(out_file), cv2.cvtColor(out, cv2.COLOR_RGB2BGR)):
                    raise HuiaError("cannot write the overlay image", out_file)
        frames, n_poses = len(doc), sum(len(e["poses"]) for e in doc)
    else:
        if kind == "video":
            writer = VideoWriter(args.overlay, fps=video_info(path).fps) if args.overlay else None

            def on_frame(frame, poses):
                if writer is not None:
                    writer.write(draw_poses(shown(frame.image), poses, min_score=args.min_score))

            try:
                results = estimate_video(path, est, max_frames=args.max_frames, progress=progress_enabled(),
                                         on_frame=on_frame)
            finally:
                if writer is not None:
                    writer.close()
        else:
            img = load_rgb(path)
            poses = est.estimate(img)
            results = [poses]
            if args.overlay:
                args.overlay.parent.mkdir(parents=True, exist_ok=True)
                out = draw_poses(shown(img), poses, min_score=args.min_score)
                if not cv2.imwrite(str(args.overlay), cv2.cvtColor(out, cv2.COLOR_RGB2BGR)):
                    raise HuiaError("cannot write the overlay image here", args.overlay)
        doc = [[p.to_json() for p in poses] for poses in results]
        frames, n_poses = len(results), sum(len(f) for f in results)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json_out.with_name(args.json_out.name + ".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(args.json_out)
    elif not args.overlay:
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
    unit = "image(s)" if kind == "folder" else "frame(s)"
    print(f"{path}: {frames} {unit}, {n_poses} pose(s) with {model_used(args.model, args.multi)}"
          + (f", {len(skipped)} unreadable image(s) skipped" if skipped else "")
          + (f" -> {args.json_out}" if args.json_out else "") + (f", overlay {args.overlay}" if args.overlay else ""),
          file=sys.stderr)
    return 1 if skipped else 0
