"""Reading and writing video frames (OpenCV), and running a pose estimator over a video with its temporal state.

Frames are RGB uint8 with a timestamp in seconds (frame index / fps, the clock the temporal filters use).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from huia.errors import HuiaError

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".y4m"}


@dataclass
class Frame:
    index: int
    t: float  # seconds
    image: np.ndarray  # H x W x 3 RGB uint8


@dataclass
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    frame_count: int  # as reported by the container (may be approximate)


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _open(path) -> cv2.VideoCapture:
    p = Path(path)
    if not p.exists():
        raise HuiaError("no such file", p)
    if p.is_file() and p.stat().st_size == 0:
        raise HuiaError("empty video file (0 bytes)", p)
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise HuiaError("cannot open as a video (unsupported or corrupt file)", p)
    return cap


def video_info(path) -> VideoInfo:
    cap = _open(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        return VideoInfo(Path(path), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                         float(fps) if fps > 0 else 30.0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        cap.release()


def iter_frames(path, *, max_frames: int | None = None, fps: float | None = None) -> Iterator[Frame]:
    """Yield the frames of a video as RGB. Raises HuiaError when the file cannot be decoded or has no frame."""
    cap = _open(path)
    try:
        rate = fps or cap.get(cv2.CAP_PROP_FPS) or 30.0
        i = 0
        while max_frames is None or i < max_frames:
            ok, bgr = cap.read()
            if not ok:
                break
            yield Frame(i, i / rate, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            i += 1
        if i == 0:
            raise HuiaError("video has no decodable frames", path)
    finally:
        cap.release()


class VideoWriter:
    """Write RGB frames to an .mp4 (mp4v) / .avi file; created lazily at the first frame's size."""

    def __init__(self, path, fps: float = 30.0):
        self.path = Path(path)
        self.fps = fps
        self._w = None

    def write(self, rgb: np.ndarray) -> None:
        if self._w is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            h, w = rgb.shape[:2]
            self._w = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
            if not self._w.isOpened():
                raise HuiaError("cannot write video here", self.path)
        self._w.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self._w is not None:
            self._w.release()
            self._w = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def estimate_video(path, estimator, *, max_frames: int | None = None, progress: bool = False,
                   on_frame=None) -> list[list]:
    """Run a (stateful) estimator over every frame: returns one list of poses per frame.

    `estimator` has `.reset()` and `.estimate(image, t=seconds)`; single-person models use the time for cropping
    around the previous frame's body and for keypoint smoothing. `on_frame(frame, poses)` is called per frame
    (e.g. to write an overlay).
    """
    estimator.reset()
    frames = iter_frames(path, max_frames=max_frames)
    if progress:
        from tqdm import tqdm

        total = video_info(path).frame_count or None
        frames = tqdm(frames, total=total if max_frames is None else max_frames, desc=Path(path).name, unit="frame")
    out = []
    for frame in frames:
        poses = estimator.estimate(frame.image, t=frame.t)
        out.append(poses)
        if on_frame is not None:
            on_frame(frame, poses)
    return out
