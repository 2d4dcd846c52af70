"""One source of truth: the pose pipelines exist twice (src/huia/pose in Python, web/js/pose in the browser), their
constants once (web/spec/pose_models.json, signals.json, keypoints.json). These tests fail when either side types a
spec value again instead of reading it:

- Python at run time: the modules are imported against a perturbed copy of the spec and must follow it;
- both sides statically: no distinctive spec number or string literal in the pipeline sources, and no option
  default named after a spec key (max_poses, nms_radius, ...) given as a literal.
(The browser-side run-time check is tests/browser/test_spec_runtime.py.) The classifier backbones, still typed on
both sides, are at least checked to agree.
"""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import pytest

from huia import paths

REPO = paths.REPO_ROOT
SPEC_FILES = ("pose_models.json", "signals.json")
PY_PIPELINE = sorted((REPO / "src/huia/pose").rglob("*.py"))
PY_SKIP = {"render.py", "types.py", "video.py", "spec.py", "__init__.py"}  # drawing/IO, not model constants
JS_PIPELINE = sorted((REPO / "web/js/pose").rglob("*.js"))
# Small numbers every piece of arithmetic uses (halves, pairs, strides of 8/16/32, loop bounds): not evidence of a
# re-typed constant. Everything else the spec holds is.
COMMON = {0, 0.5, 1, 2, 3, 4, 5, 6, 8, 16, 20, 30, 32}
# Option names (snake_case and the JS camelCase) whose defaults come from the spec.
SPEC_OPTIONS = {"max_poses", "max_pose_detections", "score_threshold", "nms_radius", "output_stride",
                "input_resolution", "min_pose_score", "min_detection_score", "resolution", "refine_steps",
                "local_maximum_radius", "min_cutoff", "beta", "d_cutoff", "frequency"}
# generic filter classes may keep neutral defaults (the spec's values are passed in by their users)
GENERIC_DEFAULTS_OK = {("filters.py", "OneEuroFilter.__init__")}
# spec entries that name things rather than hold values: a model's name is its registry key on both sides
NAMES_NOT_VALUES = {"studio_models"}


def _leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            if not k.startswith("_"):
                yield from _leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, path + (i,))
    else:
        yield path, node


def _spec_values():
    out = {}
    for name in SPEC_FILES:
        for path, v in _leaves(json.loads((paths.SPEC_DIR / name).read_text())):
            if path and path[0] in NAMES_NOT_VALUES:
                continue
            out.setdefault(v, []).append(f"{name}:{'.'.join(map(str, path))}")
    return out


def _distinctive(values):
    nums = {float(v): where for v, where in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v not in COMMON}
    strs = {v: where for v, where in values.items() if isinstance(v, str)}
    return nums, strs


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


# -- Python: run time, against a perturbed spec ----------------------------------------------------------------------
def _perturb(node):
    if isinstance(node, dict):
        return {k: (v if k.startswith("_") else _perturb(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_perturb(v) for v in node]
    if isinstance(node, bool):
        return node
    if isinstance(node, int):
        return node * 2 + 3
    if isinstance(node, float):
        return round(node * 1.5 + 0.125, 6)
    if isinstance(node, str):
        return node + "_perturbed"
    return node


PROBE = r"""
import inspect, json, sys
from pathlib import Path
import huia.paths
huia.paths.SPEC_DIR = Path(sys.argv[1])
from huia.pose import blazepose, movenet, signals
from huia.pose.calculators import crop, filters
from huia.pose.posenet import _checks, decode_multi, model
from huia.pose import cli

def defaults(fn):
    return {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not inspect._empty}

import argparse
ap = argparse.ArgumentParser(); sub = ap.add_subparsers(); cli.register(sub)
pose_cli = sub.choices["pose"]
stride_choices = [a.choices for a in pose_cli._actions if "--output-stride" in a.option_strings][0]
smoother = filters.KeypointSmoother()
tracker = signals.HeadDirectionTracker()
out = {
  "movenet.RESOLUTION": movenet.RESOLUTION,
  "movenet.KEYPOINT_FILTER": movenet.KEYPOINT_FILTER,
  "movenet.CROP_FILTER_ALPHA": movenet.CROP_FILTER_ALPHA,
  "movenet.STILL_SECOND_PASS_MIN_RATIO": movenet.STILL_SECOND_PASS_MIN_RATIO,
  "movenet.MULTIPOSE_RESOLUTION": movenet.MULTIPOSE_RESOLUTION,
  "MoveNetMultiPose": defaults(movenet.MoveNetMultiPose.__init__),
  "crop": [crop.MIN_CROP_KEYPOINT_SCORE, crop.TORSO_EXPANSION, crop.BODY_EXPANSION],
  "crop.defaults": defaults(crop.next_crop_region)["min_score"],
  "blazepose": [blazepose.DETECTOR_SIZE, blazepose.LANDMARK_SIZE, list(blazepose.ANCHOR_STRIDES),
                blazepose.ANCHORS_PER_LAYER, blazepose.ROI_SCALE, blazepose.MIN_DETECTION_SCORE,
                blazepose.MIN_TRACKING_SCORE, [blazepose.LANDMARK_OUTPUT, blazepose.FLAG_OUTPUT]],
  "BlazePose": defaults(blazepose.BlazePose.__init__)["min_detection_score"],
  "ssd_anchors": list(defaults(blazepose.ssd_anchors)["strides"]) + [defaults(blazepose.ssd_anchors)["input_size"]],
  "posenet.strides": list(_checks.VALID_OUTPUT_STRIDES),
  "posenet.model": [model.BUNDLED_STRIDE, model.DEFAULT_OUTPUT_STRIDE, model.MIN_MULTI_POSE_SCORE,
                    model.DEFAULT_INPUT_RESOLUTION, model.OUTPUTS],
  "PoseNet": defaults(model.PoseNet.__init__),
  "decode_multi": [decode_multi.LOCAL_MAXIMUM_RADIUS, decode_multi.OFFSET_REFINE_STEPS],
  "decode_multiple_poses": defaults(decode_multi.decode_multiple_poses),
  "cli.stride_choices": list(stride_choices),
  "KeypointSmoother": smoother.params,
  "HeadDirectionTracker": [tracker.filter.frequency, tracker.filter.min_cutoff, tracker.filter.beta,
                           tracker.filter.d_cutoff],
}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def perturbed(tmp_path_factory):
    d = tmp_path_factory.mktemp("spec")
    (d / "keypoints.json").write_text((paths.SPEC_DIR / "keypoints.json").read_text())
    specs = {}
    for name in SPEC_FILES:
        specs[name] = _perturb(json.loads((paths.SPEC_DIR / name).read_text()))
        (d / name).write_text(json.dumps(specs[name]))
    proc = subprocess.run([sys.executable, "-c", PROBE, str(d)], capture_output=True, text=True, timeout=300,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return specs["pose_models.json"], specs["signals.json"], json.loads(proc.stdout.strip().splitlines()[-1])


def test_python_modules_follow_a_changed_spec(perturbed):
    pm, sig, got = perturbed
    mn, mp, pn, bp = pm["movenet"], pm["movenet_multipose"], pm["posenet"], pm["blazepose"]
    assert got["movenet.RESOLUTION"] == mn["input_size"]
    assert got["movenet.KEYPOINT_FILTER"] == mn["keypoint_filter"]
    assert got["movenet.CROP_FILTER_ALPHA"] == mn["crop_filter_alpha"]
    assert got["movenet.STILL_SECOND_PASS_MIN_RATIO"] == mn["still_second_pass_min_ratio"]
    assert got["movenet.MULTIPOSE_RESOLUTION"] == mp["input_size"]
    assert got["MoveNetMultiPose"]["resolution"] == mp["input_size"]
    assert got["MoveNetMultiPose"]["min_pose_score"] == mp["min_pose_score"]
    assert got["MoveNetMultiPose"]["max_poses"] == mp["max_poses"]
    assert got["crop"] == [mn["min_crop_keypoint_score"], mn["torso_expansion"], mn["body_expansion"]]
    assert got["crop.defaults"] == mn["min_crop_keypoint_score"]
    assert got["blazepose"] == [bp["detector_size"], bp["landmark_size"], bp["anchor_strides"],
                                bp["anchors_per_layer"], bp["roi_scale"], bp["min_detection_score"],
                                bp["min_tracking_score"], bp["landmark_outputs"]]
    assert got["BlazePose"] == bp["min_detection_score"]
    assert got["ssd_anchors"] == bp["anchor_strides"] + [bp["detector_size"]]
    assert got["posenet.strides"] == pn["output_strides"] == got["cli.stride_choices"]
    assert got["posenet.model"] == [pn["bundled_output_stride"], pn["output_stride"], pn["min_multi_pose_score"],
                                    pn["input_resolution"], pn["outputs"]]
    d = got["PoseNet"]
    assert (d["output_stride"], d["max_poses"], d["score_threshold"], d["nms_radius"]) == (
        pn["output_stride"], pn["max_poses"], pn["score_threshold"], pn["nms_radius"])
    assert got["decode_multi"] == [pn["local_maximum_radius"], pn["offset_refine_steps"]]
    d = got["decode_multiple_poses"]
    assert (d["max_pose_detections"], d["score_threshold"], d["nms_radius"]) == (
        pn["max_poses"], pn["score_threshold"], pn["nms_radius"])
    ks = sig["keypoint_smoothing"]
    assert got["KeypointSmoother"] == {k: ks[k] for k in ("min_cutoff", "beta", "d_cutoff", "frequency")}
    hs = sig["head_direction"]["smoothing"]
    assert got["HeadDirectionTracker"] == [hs["frequency"], hs["min_cutoff"], hs["beta"], hs["d_cutoff"]]


def test_posenet_default_resolution_is_the_bundled_graph_size():
    """The default PoseNet input (both sides) is what the bundled graph was exported at."""
    from huia.models import get_model

    pn = json.loads((paths.SPEC_DIR / "pose_models.json").read_text())["posenet"]
    try:
        topo = json.loads(get_model("posenet").path.read_text())
    except Exception as e:  # noqa: BLE001 - npm models missing
        pytest.skip(f"bundled posenet not available: {e!r}")
    dims = [n for n in topo["modelTopology"]["node"] if n["op"] == "Placeholder"][0]["attr"]["shape"]["shape"]["dim"]
    assert [int(dims[1]["size"]), int(dims[2]["size"])] == [pn["input_resolution"]] * 2
    assert (pn["input_resolution"] - 1) % pn["bundled_output_stride"] == 0


def test_shared_recipe_defaults_equal_the_spec():
    """Defaults of the keypoint-feature recipe and the overlay threshold (Python side) equal keypoints.json."""
    import inspect

    from huia.pose import render
    from huia.pose.spec import keypoint_spec

    ks = json.loads((paths.SPEC_DIR / "keypoints.json").read_text())
    assert keypoint_spec().feature_min_score == ks["keypoint_features"]["min_score"]
    assert render.DRAW_MIN_SCORE == ks["draw_min_score"]
    assert inspect.signature(render.draw_poses).parameters["min_score"].default == ks["draw_min_score"]
    try:
        from huia.classify.dataset import keypoint_features
    except ImportError:  # pragma: no cover - classify not installed
        return
    default = inspect.signature(keypoint_features).parameters["min_score"].default
    assert default in (None, ks["keypoint_features"]["min_score"])


# -- both sides: static scan ------------------------------------------------------------------------------------------
def _strip_js_comments(src: str) -> str:
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r"(?<![:'\"\\])//.*", "", src)


def _js_literals(src: str):
    code = _strip_js_comments(src)
    nums = {float(x) for x in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", code)}
    strs = set(re.findall(r"'([^'\\\n]*)'", code)) | set(re.findall(r'"([^"\\\n]*)"', code))
    return nums, strs


def _py_literals(src: str):
    nums, strs = set(), set()
    for t in tokenize.generate_tokens(io.StringIO(src).readline):
        if t.type == tokenize.NUMBER and not t.string.endswith(("j", "J")):
            nums.add(float(t.string.replace("_", "")))
        elif t.type == tokenize.STRING and not t.string.lstrip("rbuRBU").startswith(('"""', "'''")):
            try:
                v = ast.literal_eval(t.string)
            except (ValueError, SyntaxError):  # f-strings
                continue
            if isinstance(v, str):
                strs.add(v)
    return nums, strs


def _js_literal_defaults(src: str) -> list[str]:
    """Parameter / destructuring defaults of spec options given as numbers: `(a, nmsRadius = 20)`, `{maxPoses = 5}`."""
    camel = "|".join(sorted({_camel(n) for n in SPEC_OPTIONS} | {"maxPoseDetections", "refineSteps"}))
    pattern = rf"[{{(,]\s*\b({camel})\s*=\s*(\d+(?:\.\d+)?)\b"
    return [m.group(0).strip("{(, \n") for m in re.finditer(pattern, _strip_js_comments(src))]


def _retyped(files, literals):
    nums, strs = _distinctive(_spec_values())
    found = []
    for f in files:
        n, s = literals(f.read_text())
        for v in sorted(n & set(nums)):
            found.append(f"{f.relative_to(REPO)}: {v} (= {', '.join(nums[v])})")
        for v in sorted(s & set(strs)):
            found.append(f"{f.relative_to(REPO)}: {v!r} (= {', '.join(strs[v])})")
    return found


def test_scan_sees_a_retyped_constant():
    """The scanners catch what they are meant to catch (else the two tests below could never fail)."""
    js = "const TORSO = 1.9; // 1.9 in a comment is fine\nconst OUT = 'MobilenetV1/heatmap_2/BiasAdd';\n"
    n, s = _js_literals(js)
    nums, strs = _distinctive(_spec_values())
    assert 1.9 in n & set(nums) and "MobilenetV1/heatmap_2/BiasAdd" in s & set(strs)
    assert 385.0 in _py_literals("DEFAULT = 385  # 6.36 in a comment\n")[0] & set(nums)
    assert 6.36 not in _py_literals('"""6.36 in a docstring"""\nx = 1\n')[0]
    assert _js_literal_defaults("function f(a, {\n  maxPoses = 5, nmsRadius = cfg.nms_radius } = {}) {\n"
                                "  this.frequency = 1 / dt; }") == ["maxPoses = 5"]


def test_js_pose_pipeline_types_no_spec_constant():
    assert JS_PIPELINE, "web/js/pose is missing"
    found = _retyped(JS_PIPELINE, _js_literals)
    assert not found, "read these from /spec (web/js/spec.js) instead:\n" + "\n".join(found)


def test_python_pose_pipeline_types_no_spec_constant():
    files = [f for f in PY_PIPELINE if f.name not in PY_SKIP]
    found = _retyped(files, _py_literals)
    assert not found, "read these from huia.pose.spec instead:\n" + "\n".join(found)


def test_no_literal_defaults_for_spec_options():
    """An option whose default the spec holds must not get a literal default on either side."""
    bad = []
    for f in PY_PIPELINE:
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            qual = node.name
            for parent in ast.walk(tree):
                if isinstance(parent, ast.ClassDef) and node in parent.body:
                    qual = f"{parent.name}.{node.name}"
            if (f.name, qual) in GENERIC_DEFAULTS_OK:
                continue
            args = node.args.posonlyargs + node.args.args
            pairs = list(zip(args[len(args) - len(node.args.defaults):], node.args.defaults))
            pairs += [(a, d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults) if d is not None]
            for a, d in pairs:
                if a.arg in SPEC_OPTIONS and isinstance(d, ast.Constant) and isinstance(d.value, (int, float)):
                    bad.append(f"{f.relative_to(REPO)}: {qual}({a.arg}={d.value})")
    for f in JS_PIPELINE:
        bad += [f"{f.relative_to(REPO)}: {d}" for d in _js_literal_defaults(f.read_text())]
    assert not bad, "take these defaults from the spec:\n" + "\n".join(bad)


def test_pose_page_markup_types_no_spec_default():
    """pose.html leaves PoseNet's decoding defaults and the overlay threshold to the page script, which fills them in
    from the spec (checked at run time in tests/browser/test_spec_runtime.py)."""
    html = (REPO / "web/pose.html").read_text()
    for field in ("stride", "res", "maxPoses", "scoreThreshold", "nmsRadius", "minScore"):
        tag = re.search(rf'<(?:input|select)[^>]*id="{field}"[^>]*>(.*?)(?:</select>|$)', html, re.M | re.S)
        assert tag, field
        assert " value=" not in tag.group(0).split(">")[0] and "selected" not in tag.group(0), field


def test_every_studio_page_uses_the_shared_header():
    """Each page loads web/js/nav.js and types no nav links of its own (one header, marked per page at run time)."""
    pages = sorted((REPO / "web").glob("*.html"))
    assert len(pages) >= 6
    for p in pages:
        html = p.read_text()
        nav = re.search(r'<nav class="topnav"[^>]*>(.*?)</nav>', html, re.S)
        assert nav, p.name
        assert '<script type="module" src="/js/nav.js"></script>' in html, p.name
        assert 'class="nav"' not in nav.group(1) and 'class="brand"' not in nav.group(1), p.name
        assert 'class="status"' in nav.group(1), p.name  # the page's own status line stays in its markup
    nav_js = (REPO / "web/js/nav.js").read_text()
    for p in pages:
        href = "/" if p.name == "index.html" else f"/{p.name}"
        assert f"['{href}'," in nav_js, f"{p.name} is not in STUDIO_PAGES"


if __name__ == "__main__":  # pragma: no cover
    print(textwrap.dedent(__doc__))


def test_browser_feature_extractors_agree_with_python_backbones(node_modules, tmp_path):
    """Still typed twice (web/js/features.js EXTRACTORS mirrors huia.classify.models.BACKBONES; the browser's omit
    the hand landmarks on purpose): until they share a spec file, the fields both sides use must at least agree."""
    try:
        from huia.classify.models import BACKBONES
    except ImportError as e:  # pragma: no cover - classify not installed
        pytest.skip(f"huia.classify not importable: {e!r}")
    script = tmp_path / "extractors.mjs"
    script.write_text(f"const m = await import('{(REPO / 'web/js/features.js').as_uri()}');\n"
                      "process.stdout.write(JSON.stringify(m.EXTRACTORS));\n")
    proc = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    js = json.loads(proc.stdout)
    assert js, "no extractors in features.js"
    for key, e in js.items():
        assert key in BACKBONES, key
        py = BACKBONES[key].to_json()
        for f in ("model", "feature_node", "feature_dim", "input_size", "scale", "offset", "pool"):
            assert e[f] == py[f], (key, f, e[f], py[f])


def test_one_list_of_studio_pose_models():
    """The studio's pose models are listed once (pose_models.json "studio_models"): every page's model picker is
    filled from it, and Python can run each of them."""
    from huia.pose import list_estimators

    spec = json.loads((REPO / "web" / "spec" / "pose_models.json").read_text())
    names = [m["name"] for m in spec["studio_models"]]
    assert names and set(names) <= set(list_estimators()), names
    for page in ("pose.html", "capture.html", "huia.html"):
        html = (REPO / "web" / page).read_text()
        assert 'id="model"' in html and not any(f'<option value="{n}"' in html for n in names), page
    js = (REPO / "web" / "js" / "pose" / "index.js").read_text()
    assert "POSE_MODELS = [" not in js  # (the list is not re-typed there)
