"""The studio shell (index.html) in Chromium: cross-origin isolated (wasm threads), models and datasets listed from
the API, navigation to every page of the studio."""

from __future__ import annotations

import re
import urllib.request

import pytest

from tests.conftest import REPO_ROOT

PAGES = ["pose.html", "capture.html", "gestures.html", "detector.html", "huia.html"]


def test_index_page(studio_server, page, out_dir):
    page.goto(studio_server.url + "/")
    page.wait_for_function("!document.querySelector('#models td').textContent.includes('loading')")
    assert page.evaluate("crossOriginIsolated") is True  # COOP/COEP took effect: SharedArrayBuffer available
    assert page.evaluate("typeof SharedArrayBuffer") == "function"
    models = page.inner_text("#models")
    assert "movenet-lightning" in models and "posenet" in models
    assert page.inner_text("#errors") == ""
    links = page.eval_on_selector_all("nav.topnav a.nav", "els => els.map(e => e.getAttribute('href'))")
    assert links == ["/"] + [f"/{p}" for p in PAGES]
    page.screenshot(path=str(out_dir / "index.png"), full_page=True)


@pytest.mark.parametrize("name", PAGES)
def test_nav_targets_exist(studio_server, name):
    with urllib.request.urlopen(f"{studio_server.url}/{name}") as r:
        assert r.status == 200 and b"/css/studio.css" in r.read()


def test_wasm_threads_backend(studio_server, page):
    """The wasm backend initialises with threads + SIMD under the studio's headers."""
    page.goto(studio_server.url + "/")
    info = page.evaluate("""async () => {
      const { initTF } = await import('/js/tfjs.js');
      const tf = await initTF('wasm');
      const x = tf.tensor([1, 2, 3]);
      const y = (await x.square().sum().data())[0];
      return { backend: tf.getBackend(), y, threads: tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'),
               simd: tf.env().getBool('WASM_HAS_SIMD_SUPPORT') };
    }""")
    assert info["backend"] == "wasm" and info["y"] == 14
    assert info["threads"] is True and info["simd"] is True, info


def test_no_page_scrolls_sideways_on_a_phone(studio_server, browser):
    """At 390 x 844 (a phone), no page is wider than the screen: the nav wraps (it used to push pages to ~700 px)."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        pg = context.new_page()
        wide = {}
        for name in ["index.html"] + PAGES:
            pg.goto(f"{studio_server.url}/{name}?source=none&camera=0")
            pg.wait_for_selector("nav.topnav a.nav")
            pg.wait_for_timeout(300)
            width = pg.evaluate("document.documentElement.scrollWidth")
            if width > 391:
                wide[name] = width
        assert not wide, f"pages wider than 390 px: {wide}"
    finally:
        context.close()


def _readme_pose_recipe() -> list[list[str]]:
    """The README walk-through's pose commands, from `huia data review` to `huia export runs/poses`, comments off."""
    text = (REPO_ROOT / "README.md").read_text()
    block = text.split("## A walk through it", 1)[1].split("```")[1]
    cmds = [re.sub(r"\s+#.*$", "", line).split() for line in block.splitlines() if line.startswith("huia ")]
    first = next(i for i, c in enumerate(cmds) if c[:3] == ["huia", "data", "review"])
    last = next(i for i, c in enumerate(cmds) if c[:3] == ["huia", "export", "runs/poses"])
    return cmds[first:last + 1]


def test_every_page_shows_the_real_data_folder_and_the_readme_recipe(studio_server, page):
    """No DATA/ placeholder left on a page (the home hint, the Detector and Gestures intros), and the home page's
    recipe is the README's (split first, augment the train part; no --shots 40 that a first session cannot meet)."""
    data = studio_server.get_json("/api/health")["data_dir"].rstrip("/") + "/"
    for name in ["index.html", "detector.html", "gestures.html"]:
        page.goto(f"{studio_server.url}/{name}?source=none")
        page.wait_for_function("(d) => document.querySelector('[data-datapath]').textContent.includes(d)", arg=data)
        marked = page.eval_on_selector_all("[data-datapath]", "els => els.map((e) => e.textContent)")
        assert marked and all(data in t for t in marked), (name, marked)
        assert "DATA/" not in page.inner_text("main"), name
    page.goto(studio_server.url + "/")
    page.wait_for_function("(d) => document.getElementById('workflow').textContent.includes(d)", arg=data)
    shown = [line.replace(data, "huia-data/").split() for line in page.text_content("#workflow").splitlines()
             if line.startswith("huia ")]
    assert shown == _readme_pose_recipe(), shown
    assert "--shots" not in page.text_content("#workflow")
