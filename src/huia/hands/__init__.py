"""Hand tracking: MediaPipe Hands (palm detector + 21 hand landmarks) on huia's own TF.js executor.

    >>> from huia.hands import create_hand_tracker
    >>> tracker = create_hand_tracker("full", max_hands=2)
    >>> hands = tracker.estimate(image)              # a still: huia.hands.Hands, keypoints [N, 21, 3] in pixels
    >>> hands = tracker.estimate(frame, t=seconds)   # video: hands followed from frame to frame

Constants (landmark names, skeleton, anchors, regions, thresholds) live in web/spec/hands.json.
"""

from huia.hands.spec import hand_layout, hand_spec
from huia.hands.types import Hands

__all__ = ["Hands", "HandTracker", "create_hand_tracker", "hand_layout", "hand_spec"]


def create_hand_tracker(model: str = "full", *, max_hands: int | None = None,
                        min_detection_score: float | None = None, min_presence: float | None = None):
    """A HandTracker with `.estimate(image, t=None) -> Hands` and `.reset()`. model: "full" or "lite" (landmark
    model); max_hands default and thresholds from web/spec/hands.json."""
    from huia.hands.tracker import HandTracker

    return HandTracker(model, max_hands=max_hands, min_detection_score=min_detection_score,
                       min_presence=min_presence)


def __getattr__(name):
    if name == "HandTracker":
        from huia.hands.tracker import HandTracker

        return HandTracker
    raise AttributeError(name)
