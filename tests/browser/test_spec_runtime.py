"""The browser takes its pose constants from /spec/pose_models.json at run time (served a changed spec, the
estimators follow it), and every studio page gets its header from web/js/nav.js. The static and Python halves of
the single-source check are in tests/pose/test_spec_single_source.py."""

from __future__ import annotations

import json

from huia import paths

PAGES = ["/", "/pose.html", "/capture.html", "/gestures.html", "/detector.html", "/huia.html"]


def _spec():
    return json.loads((paths.SPEC_DIR / "pose_models.json").read_text())


PROBE = """async () => {
  const { POSE_MODELS } = await import('/js/spec.js');
  const { initTF } = await import('/js/tfjs.js');
  const { createPoseEstimator } = await import('/js/pose/index.js');
  const { blazeposeAnchors } = await import('/js/pose/blazepose.js');
  const tf = await initTF('wasm');
  const est = await createPoseEstimator(tf, { model: 'posenet' });
  const out = { spec: POSE_MODELS, posenetInput: est.inputSize, posenetStride: est.outputStride,
                anchors: blazeposeAnchors().length };
  est.dispose();
  return out;
}"""


def test_browser_pose_constants_come_from_the_spec(studio_server, page):
    page.goto(studio_server.url + "/")
    got = page.evaluate(PROBE)
    spec = _spec()
    assert got["spec"] == spec
    pn = spec["posenet"]
    assert got["posenetInput"] == [pn["input_resolution"]] * 2 and got["posenetStride"] == pn["output_stride"]
    assert got["anchors"] == 2254  # the detector's 2254 outputs (checked against the model in test_pose_page)


def test_browser_follows_a_changed_spec(studio_server, page):
    """Serve a different pose_models.json: the default PoseNet input and the BlazePose anchors change with it."""
    spec = _spec()
    spec["posenet"]["input_resolution"] = 321
    spec["blazepose"]["anchors_per_layer"] = 1
    page.route("**/spec/pose_models.json", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(spec),
        headers={"Cross-Origin-Resource-Policy": "same-origin"}))
    page.goto(studio_server.url + "/")
    got = page.evaluate(PROBE)
    assert got["spec"]["posenet"]["input_resolution"] == 321
    assert got["posenetInput"] == [321, 321]
    assert got["anchors"] == 2254 // 2


def test_shared_header_marks_the_current_page(studio_server, page):
    page.goto(studio_server.url + "/index.html")
    page.wait_for_selector("nav.topnav a.nav")
    assert page.eval_on_selector_all("nav.topnav a.nav", "els => els.map(e => e.getAttribute('href'))") == PAGES
    assert page.eval_on_selector("nav.topnav a[aria-current=page]", "e => e.getAttribute('href')") == "/"
    assert page.locator("nav.topnav #server-status").count() == 1  # the page's own status line is kept
    marked = page.evaluate("""async (pages) => {
      const { renderNav } = await import('/js/nav.js');
      return pages.map((p) => {
        const nav = document.createElement('nav');
        nav.innerHTML = '<span class="status">x</span>';
        renderNav(nav, p);
        renderNav(nav, p);  // idempotent
        return { current: [...nav.querySelectorAll('[aria-current=page]')].map((a) => a.getAttribute('href')),
                 links: nav.querySelectorAll('a.nav').length, last: nav.lastElementChild.className };
      });
    }""", PAGES)
    for p, m in zip(PAGES, marked):
        assert m == {"current": [p], "links": len(PAGES), "last": "status"}, (p, m)


def test_pose_page_defaults_come_from_the_spec(studio_server, page):
    page.goto(studio_server.url + "/pose.html?model=movenet-lightning&backend=wasm")
    page.wait_for_function("window.__huia && window.__huia.ready === true", timeout=120_000)
    got = page.evaluate("""() => Object.fromEntries(['stride', 'res', 'maxPoses', 'scoreThreshold', 'nmsRadius',
      'minScore'].map((id) => [id, Number(document.getElementById(id).value)]))""")
    strides = page.eval_on_selector_all("#stride option", "els => els.map(e => Number(e.value))")
    pn = _spec()["posenet"]
    kp = json.loads((paths.SPEC_DIR / "keypoints.json").read_text())
    assert got == {"stride": pn["output_stride"], "res": pn["input_resolution"], "maxPoses": pn["max_poses"],
                   "scoreThreshold": pn["score_threshold"], "nmsRadius": pn["nms_radius"],
                   "minScore": kp["draw_min_score"]}
    assert strides == pn["output_strides"]


def test_every_studio_pose_model_has_an_estimator_and_no_other_name_does(studio_server, page):
    """The JS registry (web/js/pose/index.js) covers exactly the spec's studio models: each one creates an estimator
    with the name it was asked for; names that are not models (including Object.prototype's) are refused in one
    line naming the choices."""
    page.goto(studio_server.url + "/")
    got = page.evaluate("""async () => {
      const { initTF } = await import('/js/tfjs.js');
      const { createPoseEstimator, POSE_MODELS } = await import('/js/pose/index.js');
      const tf = await initTF('wasm');
      const made = {};
      for (const model of POSE_MODELS) {
        const est = await createPoseEstimator(tf, { model });
        made[model] = typeof est.estimate === 'function';
        est.dispose();
      }
      const refused = {};
      for (const model of ['nonsense', 'constructor', 'toString', '__proto__', 'movenet']) {
        try { await createPoseEstimator(tf, { model }); refused[model] = null; }
        catch (e) { refused[model] = String(e.message); }
      }
      return { made, refused };
    }""")
    names = [m["name"] for m in _spec()["studio_models"]]
    assert got["made"] == {n: True for n in names}
    for bad, msg in got["refused"].items():
        assert msg == f'unknown pose model "{bad}" (choose one of {", ".join(names)})', (bad, msg)
