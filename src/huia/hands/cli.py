"""`huia hands PATH`: hand landmarks for an image, a folder of images or a video, as JSON and/or overlays."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import warnings
from pathlib import Path

from huia.cli import positive_int, probability
from huia.errors import HuiaError
from huia.hands.spec import hand_spec


def register(subparsers) -> None:
    spec = hand_spec()
    lm, trk = spec["landmark_model"], spec["tracking"]
    description = (
        textwrap.fill("Find hands and their 21 landmarks (MediaPipe Hands: a palm detector, then a landmark model "
                      "on each hand's rotated region) with the bundled models. PATH is an image, a folder (its "
                      "images and those of its sub-folders, hidden .folders excepted, in path order) or a video "
                      "(.mp4/.mov/.avi/.webm...). In a video the hands are followed from frame to frame (the next "
                      "region comes from this frame's landmarks; the palm detector runs only while fewer than "
                      "--max-hands hands are followed).", 78)
        + "\n\n" + textwrap.fill(
            "JSON, keyed by file name (relative to a folder): for an image {\"width\", \"height\", \"hands\"}, for a "
            "video {\"width\", \"height\", \"fps\", \"frames\": [{\"frame\", \"t\", \"hands\"}]}. Each hand: "
            "\"score\" (hand presence), \"handedness\" (\"left\"/\"right\" as MediaPipe names them: the model "
            "assumes a mirrored, selfie picture, so in an unmirrored photo a right hand is called left), "
            "\"handedness_score\", \"box\" [x0, y0, x1, y1], \"keypoints\" [{\"name\", \"x\", \"y\", \"z\"}] in "
            "image pixels (z: depth from the wrist, same scale as x, negative towards the camera) and \"world\" "
            "(21 [x, y, z] in metres around the hand's centre).", 78)
        + "\n\n" + textwrap.fill(
            "Exit code: 0 done; 1 some images of a folder could not be read (each is named in a 'huia: warning:' "
            "line and skipped); 2 bad arguments or unreadable input.", 78))
    p = subparsers.add_parser(
        "hands",
        help="find hands and their 21 landmarks in an image, folder or video",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", type=Path, help="an image, a folder of images or a video")
    p.add_argument("--model", default=lm["default"], choices=sorted(lm["models"]),
                   help="hand landmark model: full (accurate) or lite (faster) (default: %(default)s)")
    p.add_argument("--max-hands", type=positive_int, default=trk["max_hands"],
                   help="most hands per image or frame (default: %(default)s)")
    p.add_argument("--min-detection-score", type=probability, default=None,
                   help=f"palm detector score a new hand needs (default {spec['palm_detector']['min_score']})")
    p.add_argument("--min-presence", type=probability, default=None,
                   help=f"hand presence a hand needs to be kept and followed (default {lm['min_presence']})")
    p.add_argument("--still", action="store_true",
                   help="video: treat every frame as a separate image (palm detection on each, no following)")
    p.add_argument("--max-frames", type=positive_int, default=None, help="video: stop after this many frames")
    p.add_argument("--json", nargs="?", const="-", default=None, dest="json_out", metavar="OUT",
                   help="write the JSON to OUT, or to stdout without a value (default: stdout when no --overlay "
                   "is given)")
    p.add_argument("--overlay", type=Path, default=None, metavar="DIR",
                   help="draw the hands into DIR: NAME.png per image (a folder's layout is kept), NAME.mp4 for a "
                   "video; never over or among the inputs")
    p.set_defaults(func=run)


def _check_outputs(path: Path, kind: str, overlay: Path | None, json_out: str | None, planned: list[Path]) -> None:
    """--json/--overlay checked before any work: never onto or among the inputs, a place that can be written."""
    from huia.train.common import prepare_output

    if json_out not in (None, "-"):
        prepare_output(Path(json_out), flag="--json", folder=False, inputs=[] if kind == "folder" else [path])
    if overlay is None:
        return
    if kind == "folder":  # inside the input folder the drawn PNGs would be read as inputs by the next run
        prepare_output(overlay, flag="--overlay", folder=True, inputs=[path])
        return
    prepare_output(overlay, flag="--overlay", folder=True, inputs=[path])
    if overlay.resolve() == path.resolve().parent:
        raise HuiaError(f"--overlay is the folder of the input {path.name}: the drawings would sit among the "
                        "inputs; give a separate folder", overlay)
    for out in planned:
        if out.resolve() == path.resolve():
            raise HuiaError(f"--overlay would overwrite the input {path}; give a separate folder", overlay)


def _write_image(image, dest: Path) -> None:
    import cv2

    dest.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(dest), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise HuiaError("cannot write the overlay picture", dest)


def run(args) -> int:
    from huia.data.images import folder_images
    from huia.hands import create_hand_tracker
    from huia.hands.render import draw_hands
    from huia.pose.estimate import load_rgb
    from huia.pose.video import VideoWriter, is_video, iter_frames, video_info

    path: Path = args.path
    if not path.exists():
        raise HuiaError("no such file or folder", path)
    kind = "folder" if path.is_dir() else "video" if is_video(path) else "image"
    if kind != "video" and (args.still or args.max_frames is not None):
        raise HuiaError(f"--{'still' if args.still else 'max-frames'} only applies to a video", path)
    images = folder_images(path) if kind == "folder" else [path] if kind == "image" else []
    if kind == "folder" and not images:
        raise HuiaError("no images in this folder", path)
    overlay: Path | None = args.overlay
    if kind == "folder":
        planned = [(overlay / p.relative_to(path)).with_suffix(".png") for p in images] if overlay else []
    else:
        planned = [overlay / (path.stem + (".mp4" if kind == "video" else ".png"))] if overlay else []
    _check_outputs(path, kind, overlay, args.json_out, planned)
    if kind == "video":
        info = video_info(path)  # a corrupt or empty video is one line before the models load
    tracker = create_hand_tracker(args.model, max_hands=args.max_hands, min_detection_score=args.min_detection_score,
                                  min_presence=args.min_presence)

    doc: dict = {}
    skipped: list[Path] = []
    n_hands = 0
    if kind == "video":
        writer = VideoWriter(planned[0], fps=info.fps) if overlay else None
        frames = []
        try:
            tracker.reset()
            for frame in iter_frames(path, max_frames=args.max_frames):
                hands = tracker.estimate(frame.image, t=None if args.still else frame.t)
                frames.append({"frame": frame.index, "t": round(frame.t, 4), "hands": hands.to_json()})
                n_hands += len(hands)
                if writer is not None:
                    writer.write(draw_hands(frame.image, hands))
        finally:
            if writer is not None:
                writer.close()
        doc[path.name] = {"width": info.width, "height": info.height, "fps": info.fps, "frames": frames}
        count = f"{len(frames)} frame(s)"
    else:
        for i, img_path in enumerate(images):
            key = img_path.relative_to(path).as_posix() if kind == "folder" else img_path.name
            try:
                img = load_rgb(img_path)
            except HuiaError as exc:
                if kind == "image":
                    raise
                warnings.warn(f"{exc} (skipped)", UserWarning, stacklevel=1)
                skipped.append(img_path)
                continue
            hands = tracker.estimate(img)
            n_hands += len(hands)
            doc[key] = {"width": int(img.shape[1]), "height": int(img.shape[0]), "hands": hands.to_json()}
            if overlay:
                _write_image(draw_hands(img, hands), planned[i])
        count = f"{len(doc)} image(s)"
    text = json.dumps(doc)
    if args.json_out not in (None, "-"):
        out = Path(args.json_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)
    elif args.json_out == "-" or overlay is None:
        sys.stdout.write(text + "\n")
    print(f"{path}: {count}, {n_hands} hand(s) with the {args.model} model"
          + (f", {len(skipped)} unreadable image(s) skipped" if skipped else "")
          + (f" -> {args.json_out}" if args.json_out not in (None, "-") else "")
          + (f", overlay {overlay}" if overlay else ""), file=sys.stderr)
    return 1 if skipped else 0
