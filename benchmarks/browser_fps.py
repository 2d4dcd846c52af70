"""Frames per second of the studio's pose pipeline in headless Chromium, per model and TF.js backend, in one run.

For each (backend, model), inside the Live pose page: the page's full pipeline (webcam frame -> model ->
decode/tracking -> skeleton drawing, counted by the page) and a bare TF.js loop on the same loaded model (fixed
input tensor -> model.execute -> await data()), in alternating 1-s windows (6 s on cpu) so that load changes on a
shared machine hit both alike. Prints medians and the median paired ratio page / bare (target >= 0.9).
The webcam is pose_1.mp4 through Chromium's fake capture device.

    .venv/bin/python benchmarks/browser_fps.py [--backends wasm cpu] [--models movenet-lightning ...] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODELS = ["movenet-lightning", "movenet-thunder", "posenet", "blazepose"]

# Runs in the Live pose page: alternate 1-s windows of the page's own loop (frames counted by the page) and of a
# bare loop on the very same loaded model (page loop paused; the camera keeps streaming), so load drift on a
# shared machine hits both alike. Returns per-window FPS for both.
ALTERNATE_JS = """async ([rounds, windowMs]) => {
  const h = window.__huia; const est = h.estimator; const tf = window.__huiaTF;
  const models = est.models || [est.model];
  const m = models[models.length - 1];
  const [ih, iw] = est.inputSize;
  const dtype = m.inputs[0].dtype === 'int32' ? 'int32' : 'float32';
  const x = tf.tidy(() => tf.cast(tf.randomUniform([1, ih, iw, 3], 0, 255), dtype));
  const bareOnce = async () => {
    const out = est.outputs ? m.execute(x, est.outputs) : m.execute(x);
    const list = Array.isArray(out) ? out : [out];
    await Promise.all(list.map((t) => t.data()));
    list.forEach((t) => t.dispose());
  };
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const page = []; const bare = [];
  for (let r = 0; r < rounds; r++) {
    h.pause(); await sleep(30);
    await bareOnce();
    let n = 0; let t0 = performance.now();
    while (performance.now() - t0 < windowMs) { await bareOnce(); n++; }
    bare.push(1000 * n / (performance.now() - t0));
    h.resume();
    await h.waitFrames(1);
    const f0 = h.frames; t0 = performance.now();
    while (performance.now() - t0 < windowMs) await sleep(5);
    page.push(1000 * (h.frames - f0) / (performance.now() - t0));
  }
  x.dispose();
  return { page, bare };
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "huia", "studio", "--port", str(port), "--data", str(data_dir),
                             "--no-browser"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("huia studio did not start")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", nargs="+", default=["wasm", "cpu"], help="TF.js backends (webgl is optional: "
                    "software-rendered here)")
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--seconds", type=float, default=8.0, help="measuring time per (model, backend, mode)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import BROWSER_ARGS, CHROMIUM, write_y4m
    from tests.conftest import SHARED

    tmp = Path(tempfile.mkdtemp(prefix="huia-fps-"))
    y4m = write_y4m(SHARED / "data" / "pose-video" / "pose_1.mp4", tmp / "pose_1.y4m")
    proc, url = start_server(tmp / "data")
    rows = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=[*BROWSER_ARGS, f"--use-file-for-fake-video-capture={y4m}"])
            for backend in args.backends:
                for model in args.models:
                    window = 1000 * (6 if backend == "cpu" else 1)
                    rounds = max(3, int(args.seconds * 1000 / window))
                    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
                    ctx.grant_permissions(["camera"])
                    page = ctx.new_page()
                    page.goto(f"{url}/pose.html?model={model}&backend={backend}{os.environ.get('HUIA_FPS_QUERY', '')}")
                    page.wait_for_function("window.__huia && window.__huia.ready && window.__huia.frames >= 3",
                                           timeout=300_000)
                    page.evaluate("async (b) => { window.__huiaTF = await (await import('/js/tfjs.js')).initTF(b); }",
                                  backend)
                    r = page.evaluate(ALTERNATE_JS, [rounds, window])
                    err = page.evaluate("document.getElementById('errors').textContent")
                    ctx.close()
                    p = statistics.median(r["page"])
                    b = statistics.median(r["bare"])
                    ratio = statistics.median([a / c for a, c in zip(r["page"], r["bare"]) if c > 0])
                    row = {"backend": backend, "model": model, "page_fps": round(p, 2), "bare_fps": round(b, 2),
                           "ratio": round(ratio, 3), "windows": len(r["page"]), "error": err}
                    rows.append(row)
                    print(f"{backend:5s} {model:18s} page {p:6.2f} FPS   bare {b:6.2f} FPS   page/bare "
                          f"{ratio:.3f} (median of {len(r['page'])} paired windows){'   ' + err if err else ''}",
                          flush=True)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print("target: page >= 0.9 x bare")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
