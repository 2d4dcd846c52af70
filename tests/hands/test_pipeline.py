"""How the hand pipeline behaves: landmarks turn and mirror with the picture, a lost hand is found again, empty
pictures have no hands, max_hands holds, and the geometry/decoding steps do what MediaPipe's calculators do."""

from __future__ import annotations

import math

import numpy as np
import pytest

from huia.hands import Hands, create_hand_tracker
from huia.hands.palm import Palms, decode_palms, ssd_anchors, weighted_nms
from huia.hands.rect import associate, rect_affine, rect_from_points, rotation_between, transform_rect
from huia.hands.spec import hand_spec
from huia.pose.video import iter_frames


def _unrotate(points: np.ndarray, k: int, height: int, width: int) -> np.ndarray:
    """Points found in np.rot90(image, k) -> the same points in `image` (height x width)."""
    x, y = points[..., 0], points[..., 1]
    if k == 1:  # counter-clockwise
        return np.stack([width - 1 - y, x], axis=-1)
    if k == -1:  # clockwise
        return np.stack([y, height - 1 - x], axis=-1)
    return np.stack([width - 1 - x, height - 1 - y], axis=-1)  # k == 2


def _pair(found: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """[N, 21] distances of each found hand to its nearest expected hand."""
    return np.array([min((np.linalg.norm(f - e, axis=1) for e in expected), key=np.mean) for f in found])


@pytest.mark.parametrize("k", [1, -1, 2])
def test_still_landmarks_turn_with_the_picture(hands_jpg, node_modules, k):
    """A quarter or half turn of hands.jpg: the same two hands, their landmarks turned with the pixels (measured
    <= 3.5 px apart; a crop turned the wrong way round finds no hand or a mangled one)."""
    tracker = create_hand_tracker("full")
    upright = tracker.estimate(hands_jpg)
    turned = tracker.estimate(np.ascontiguousarray(np.rot90(hands_jpg, k)))
    assert len(upright) == len(turned) == 2
    back = _unrotate(turned.keypoints[:, :, :2].astype(np.float64), k, *hands_jpg.shape[:2])
    d = _pair(back, upright.keypoints[:, :, :2].astype(np.float64))
    assert np.median(d) < 3.0 and d.max() < 8.0, (np.median(d), d.max())


def test_tracking_turns_with_the_video(asl, node_modules):
    """The asl video turned a quarter clockwise, tracked: still MediaPipe's landmarks, turned (measured 0.13 px
    median over the first 40 frames). The hand now lies sideways, so the regions' rotation must be right."""
    video, ref = asl
    tracker = create_hand_tracker("full", max_hands=1)
    errs = []
    for frame in iter_frames(video, max_frames=40):
        h, w = frame.image.shape[:2]
        hands = tracker.estimate(np.ascontiguousarray(np.rot90(frame.image, -1)), t=frame.t)
        assert len(hands) == 1, frame.index
        back = _unrotate(hands.keypoints[0, :, :2].astype(np.float64), -1, h, w)
        errs.append(np.linalg.norm(back - ref[frame.index, :, :2], axis=1))
    assert np.median(errs) < 0.5 and np.percentile(errs, 95) < 4.0, (np.median(errs), np.percentile(errs, 95))
    assert tracker.detector_runs == 1


def test_mirrored_picture_swaps_handedness(hands_jpg, node_modules):
    """The handedness output follows the picture: mirrored, every hand changes side (and its landmarks mirror)."""
    tracker = create_hand_tracker("full")
    plain = tracker.estimate(hands_jpg)
    mirrored = tracker.estimate(np.ascontiguousarray(hands_jpg[:, ::-1]))
    assert len(plain) == len(mirrored) == 2
    width = hands_jpg.shape[1]
    back = mirrored.keypoints[:, :, :2].astype(np.float64).copy()
    back[:, :, 0] = width - 1 - back[:, :, 0]
    order = [int(np.argmin([np.abs(b - p).mean() for p in plain.keypoints[:, :, :2]])) for b in back]
    assert sorted(order) == [0, 1]
    assert np.median(np.linalg.norm(back - plain.keypoints[order, :, :2], axis=2)) < 4.0
    for i, j in enumerate(order):
        assert {mirrored.labels[i], plain.labels[j]} == {"left", "right"}
        assert abs(float(mirrored.handedness[i]) + float(plain.handedness[j]) - 1.0) < 0.2


def test_a_lost_hand_is_found_again(asl, node_modules):
    """A blank frame in the middle of the video: no hand there, the detector looks again on the frame itself and
    the next, and tracking goes on matching the reference."""
    video, ref = asl
    tracker = create_hand_tracker("full", max_hands=1)
    frames = list(iter_frames(video, max_frames=20))
    for f in frames[:10]:
        assert len(tracker.estimate(f.image, t=f.t)) == 1
    assert tracker.detector_runs == 1
    blank = np.full_like(frames[0].image, 200)
    assert len(tracker.estimate(blank, t=frames[9].t + 0.02)) == 0
    assert tracker.detector_runs == 2  # the followed hand vanished: the palm detector ran on this frame
    errs = []
    for f in frames[10:]:
        hands = tracker.estimate(f.image, t=f.t + 0.04)
        assert len(hands) == 1
        errs.append(np.linalg.norm(hands.keypoints[0, :, :2] - ref[f.index, :, :2], axis=1))
    assert tracker.detector_runs == 3  # found again on the first frame after, then followed
    assert np.median(errs) < 1.0


@pytest.mark.parametrize("value", [0, 255])
def test_no_hands_in_an_empty_picture(node_modules, value):
    assert len(create_hand_tracker("full").estimate(np.full((100, 100, 3), value, np.uint8))) == 0


def test_max_hands_keeps_the_best(hands_jpg, node_modules):
    one = create_hand_tracker("full", max_hands=1).estimate(hands_jpg)
    two = create_hand_tracker("full", max_hands=2).estimate(hands_jpg)
    assert len(one) == 1 and len(two) == 2
    assert min(np.abs(one.keypoints[0] - k).max() for k in two.keypoints) < 1e-3


# -- the calculators, against geometry worked out by hand ------------------------------------------------------------


def test_rotation_is_clockwise_from_up():
    assert rotation_between((0, 0), (0, -10), 90) == pytest.approx(0.0)  # pointing up: upright
    assert rotation_between((0, 0), (10, 0), 90) == pytest.approx(math.pi / 2)  # pointing right: a quarter clockwise
    assert rotation_between((0, 0), (-10, 0), 90) == pytest.approx(-math.pi / 2)


def test_rect_shift_follows_the_rect_axes_and_the_crop_maps_back():
    rect = transform_rect([100.0, 50.0, 20.0, 10.0, math.pi / 2], shift_x=0.0, shift_y=-0.5, scale=2.0,
                          square_long=True)
    # turned a quarter clockwise, the rect's "up" (-y) is the image's +x: moved 0.5 x height = 5 px right
    np.testing.assert_allclose(rect, [105.0, 50.0, 40.0, 40.0, math.pi / 2], atol=1e-9)
    m = rect_affine(rect, 224, 224)
    np.testing.assert_allclose(m @ [112, 112, 1], [105, 50], atol=1e-9)  # the crop's centre
    np.testing.assert_allclose(m @ [112, 0, 1], [125, 50], atol=1e-9)  # the crop's top edge: 20 px to the right


def test_rect_from_points_of_a_turned_square():
    rotation = math.radians(30)
    c, s = math.cos(rotation), math.sin(rotation)
    corners = np.array([[-5, -3], [5, -3], [5, 3], [-5, 3]], float) @ np.array([[c, s], [-s, c]]) + [40, 60]
    np.testing.assert_allclose(rect_from_points(corners, rotation), [40, 60, 10, 6, rotation], atol=1e-9)


def test_association_prefers_the_later_rect():
    a = np.array([50, 50, 20, 20, 0.0])
    b = np.array([52, 50, 20, 20, 0.0])  # IoU 0.82 with a
    c = np.array([150, 50, 20, 20, 0.0])
    assert associate([a, c, b], 0.5) == [1, 2]


def test_palm_decoding_and_weighted_suppression():
    spec = hand_spec()["palm_detector"]
    anchors = ssd_anchors(spec["input_size"], spec["anchor_strides"], spec["anchors_per_layer"],
                          spec["anchor_offset"])
    assert len(anchors) == spec["num_anchors"]
    raw = np.zeros((len(anchors), 19), np.float32)
    raw[:, 0] = -10  # nothing
    i = 100
    raw[i, 0] = 2.0  # sigmoid 0.88
    raw[i, 1:5] = [4, -2, 40, 30]
    raw[i, 5:19] = np.arange(14)
    palms = decode_palms(raw, anchors, spec)
    assert len(palms) == 1
    cx, cy = anchors[i] * spec["input_size"] + [4, -2]
    np.testing.assert_allclose(palms.boxes[0], [cx - 20, cy - 15, cx + 20, cy + 15], atol=1e-4)
    np.testing.assert_allclose(palms.keypoints[0, 1], anchors[i] * spec["input_size"] + [2, 3], atol=1e-4)
    assert palms.scores[0] == pytest.approx(1 / (1 + math.exp(-2.0)))
    two = Palms(np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float),
                np.zeros((3, 7, 2)), np.array([0.9, 0.3, 0.6]))
    merged = weighted_nms(two, 0.3)
    assert len(merged) == 2 and merged.scores.tolist() == [0.9, 0.6]
    np.testing.assert_allclose(merged.boxes[0], [0.25, 0, 10.25, 10])  # (0.9 x 0 + 0.3 x 1) / 1.2


def test_hands_json_and_empty():
    empty = Hands.empty()
    assert len(empty) == 0 and empty.to_json() == [] and empty.boxes.shape == (0, 4)
    kp = np.zeros((1, 21, 3))
    kp[0, :, 0] = np.arange(21)
    kp[0, :, 1] = 5
    kp[0, :, 2] = -0.001
    h = Hands(kp, [0.9], [0.8])
    doc = h.to_json()[0]
    assert doc["handedness"] == "left" and doc["handedness_score"] == pytest.approx(0.8)
    assert doc["box"] == [0.0, 5.0, 20.0, 5.0]
    assert [k["name"] for k in doc["keypoints"]][:2] == ["wrist", "thumb_cmc"]
    assert all(str(k["z"]) == "0.0" for k in doc["keypoints"])  # never "-0.0"
    assert Hands(kp, [0.9], [0.2]).labels == ["right"]
