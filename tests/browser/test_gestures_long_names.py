"""Gesture trainer page (web/gestures.html) with long class names (re-audit 10, finding 9): "hands_chest" in the
64 px prediction label was 446 px wide in a 246 px box at 1280x800, the bar labels were cut to "hands_c", and at
390 px the page was 479 px wide. The layout test (test_gestures_layout.py) uses one-character digits, so it could not
see this.

Every name is shown through the page's own prediction rendering (a trained head predicting the webcam, then
`__huia.showProbabilities` for each class in turn) and measured: the big label fits its box (shrunk, wrapped only
when even 24 px is too wide), a bar label is either whole or cut with "…" and its full name in the title, no label
button spills out of its panel, and the page never scrolls sideways.
"""

from __future__ import annotations

import pytest

from tests.browser.test_pose_page import open_page

LONG = "both_hands_raised_above_the_head_and_waving"
NAMES = ["up", "arms_down", "arms_up", "hands_chest", LONG]

MEASURE = """() => {
  const r = (el) => el.getBoundingClientRect();
  const pred = document.getElementById('prediction');
  const card = document.getElementById('result');
  const cs = getComputedStyle(pred);
  return {
    text: pred.textContent, scrollW: pred.scrollWidth, clientW: pred.clientWidth,
    fontPx: parseFloat(cs.fontSize),
    lines: (() => { const g = document.createRange(); g.selectNodeContents(pred);   // distinct line tops
                    return new Set([...g.getClientRects()].filter((q) => q.width > 0).map((q) => Math.round(q.top))).size; })(),
    predLeft: r(pred).left, predRight: r(pred).right, cardLeft: r(card).left, cardRight: r(card).right,
    bars: [...document.querySelectorAll('#bars .name')].map((e) => ({
      text: e.textContent, title: e.title, scrollW: e.scrollWidth, clientW: e.clientWidth,
      overflow: getComputedStyle(e).textOverflow, left: r(e).left, right: r(e).right })),
    barsRight: Math.max(...[...document.getElementById('bars').children].map((e) => r(e).right)),
    buttons: [...document.querySelectorAll('#labels button')].map((b) => ({
      scrollW: b.scrollWidth, clientW: b.clientWidth, left: r(b).left, right: r(b).right })),
    panelLeft: r(document.getElementById('labelPanel')).left, panelRight: r(document.getElementById('labelPanel')).right,
    docW: document.documentElement.scrollWidth, vw: innerWidth,
  };
}"""


def _check(m, name):
    where = (name, m)
    assert m["text"] == name, where
    # the big label: inside its card, nothing running out of its own box
    assert m["scrollW"] <= m["clientW"], where
    assert m["predLeft"] >= m["cardLeft"] - 0.5 and m["predRight"] <= m["cardRight"] + 0.5, where
    lines = m["lines"]   # line boxes of the text
    if len(name) <= 2:
        assert m["fontPx"] == 64 and lines == 1, where  # a short name keeps the full size
    elif len(name) <= 12:
        assert 24 <= m["fontPx"] <= 64 and lines == 1, where  # shrunk, on one line
    else:
        assert m["fontPx"] == 24, where  # the smallest size, then it wraps
    # bar labels: whole, or cut with an ellipsis and the full name in the title; inside the card
    assert [b["text"] for b in m["bars"]] == NAMES, where
    for b in m["bars"]:
        assert b["title"] == b["text"], where
        if b["scrollW"] > b["clientW"]:
            assert b["overflow"] == "ellipsis", where
        assert b["left"] >= m["cardLeft"] - 0.5 and b["right"] <= m["cardRight"] + 0.5, where
    assert m["barsRight"] <= m["cardRight"] + 0.5, where
    for b in m["bars"]:
        if b["text"] != LONG:
            assert b["scrollW"] <= b["clientW"], ("a realistic name is cut", where)
    # the label buttons stay inside their panel; the page does not scroll sideways
    for b in m["buttons"]:
        assert b["scrollW"] <= b["clientW"] + 1, where
        assert b["left"] >= m["panelLeft"] - 0.5 and b["right"] <= m["panelRight"] + 0.5, where
    assert m["docW"] <= m["vw"], where


def _show_each(page, out_dir, tag):
    for i, name in enumerate(NAMES):
        p = [0.02] * len(NAMES)
        p[i] = 1 - 0.02 * (len(NAMES) - 1)
        page.evaluate("(p) => window.__huia.showProbabilities(p)", p)
        _check(page.evaluate(MEASURE), name)
        if name == "hands_chest":
            page.locator("#result").screenshot(path=str(out_dir / f"gestures_long_names_{tag}.png"))


def test_long_names_fit_while_predicting_at_1280_and_after_resizing_to_a_phone(page, studio_server, out_dir):
    open_page(page, f"{studio_server.url}/gestures.html")
    page.evaluate("(n) => window.__huia.setClasses(n)", NAMES)
    for c in range(len(NAMES)):
        page.evaluate("(c) => window.__huia.addSamples(c, 2)", c)
    page.check("#useAll")
    page.evaluate("window.__huia.train()")
    page.evaluate("window.__huia.startPredicting()")
    page.wait_for_function("window.__huia.frames >= 3", timeout=60_000)
    page.evaluate("window.__huia.stopPredicting()")
    live = page.evaluate(MEASURE)
    _check(live, page.evaluate("window.__huia.prediction.label"))   # what the webcam's frames put there
    _show_each(page, out_dir, "1280")
    # the same page made narrow: the shown name is refitted to the new box (a resize, no new prediction)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    _check(page.evaluate(MEASURE), NAMES[-1])
    _show_each(page, out_dir, "390_resized")


@pytest.mark.parametrize("width", [390, 320])
def test_long_names_on_a_phone(browser, studio_server, out_dir, width):
    ctx = browser.new_context(viewport={"width": width, "height": 844})
    ctx.grant_permissions(["camera"])
    pg = ctx.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    try:
        pg.goto(f"{studio_server.url}/gestures.html")
        pg.wait_for_function("window.__huia && window.__huia.ready === true", timeout=120_000)
        pg.evaluate("(n) => window.__huia.setClasses(n)", NAMES)
        _show_each(pg, out_dir, str(width))
        pg.screenshot(path=str(out_dir / f"gestures_long_names_phone_{width}.png"), full_page=True)
        assert pg.evaluate("document.documentElement.scrollWidth") <= width
        assert not errors, errors
    finally:
        ctx.close()
