"""Browser test infrastructure shared by every page test (capture, pose, gestures, detector, huia).

Fixtures:
- `y4m_path`: ../shared/data/pose-video/pose_1.mp4 converted to a Y4M file Chromium can use as a fake webcam
  (cached under test-output/fake-webcam/; rebuilt when the mp4 changes).
- `studio_server`: a live `huia studio` process on 127.0.0.1:<free port> with a temporary --data folder;
  attributes `.url` (no trailing slash), `.data_dir` (Path), `.port`, `.proc`. One per pytest worker.
- `browser`: Playwright Chromium (Debian's /usr/bin/chromium, headless; never `playwright install`) whose webcam is
  the Y4M video. One per pytest worker.
- `page`: a fresh page in a fresh context. Console errors and uncaught exceptions are collected in
  `page.console_errors` and fail the test at teardown, unless the test is marked
  `@pytest.mark.allow_console_errors` (or clears the list itself).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI, NODE_MODULES, REPO_ROOT, SHARED

CHROMIUM = Path(os.environ.get("HUIA_CHROMIUM", "/usr/bin/chromium"))
FAKE_WEBCAM_DIR = REPO_ROOT / "test-output" / "fake-webcam"
BROWSER_ARGS = [
    "--no-sandbox",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # WebGL through SwiftShader in headless mode (pages offer a webgl backend; there is no GPU here)
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
]


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_console_errors: the page fixture does not fail on console errors")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _require_browser_deps():
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium; `make test` does it)")
    if not (NODE_MODULES / "@tensorflow" / "tfjs").is_dir():
        missing.append(f"{NODE_MODULES} (run `make setup`)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (pip install -e '.[test]')")
    if missing:
        msg = "browser tests need: " + "; ".join(missing)
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


# -- fake webcam --------------------------------------------------------------------------------------------------
def write_y4m(video: Path, out: Path, max_frames: int | None = None) -> Path:
    """Decode `video` with OpenCV and write it as YUV4MPEG2 (4:2:0, I420 planes): the only file format Chromium's
    fake capture device reads. Written to a temp file and renamed, so parallel workers never see half a file."""
    import cv2

    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise RuntimeError(f"{video}: cannot open video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    num, den = (int(round(fps * 1000)), 1000) if abs(fps - round(fps)) > 1e-3 else (int(round(fps)), 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".y4m")
    n = 0
    try:
        with os.fdopen(fd, "wb") as f:
            header_written = False
            while max_frames is None or n < max_frames:
                ok, bgr = cap.read()
                if not ok:
                    break
                h, w = bgr.shape[:2]
                if h % 2 or w % 2:  # I420 needs even sizes
                    bgr = bgr[: h - h % 2, : w - w % 2]
                    h, w = bgr.shape[:2]
                if not header_written:
                    f.write(f"YUV4MPEG2 W{w} H{h} F{num}:{den} Ip A1:1 C420jpeg\n".encode())
                    header_written = True
                f.write(b"FRAME\n")
                f.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())
                n += 1
        if n == 0:
            raise RuntimeError(f"{video}: no frames decoded")
        os.replace(tmp, out)
    finally:
        cap.release()
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


@pytest.fixture(scope="session")
def y4m_path() -> Path:
    """pose_1.mp4 as a Y4M fake webcam (576x576, 30 fps, 120 frames, looped by Chromium)."""
    src = SHARED / "data" / "pose-video" / "pose_1.mp4"
    if not src.is_file():
        if IN_CI:
            pytest.fail(f"{src} missing")
        pytest.skip(f"{src} not found")
    out = FAKE_WEBCAM_DIR / "pose_1.y4m"
    stamp = out.with_suffix(".src")
    key = f"{src.stat().st_size}:{src.stat().st_mtime_ns}"
    if not out.is_file() or not stamp.is_file() or stamp.read_text() != key:
        write_y4m(src, out)
        stamp.write_text(key)
    return out


# -- studio server --------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class StudioServer:
    url: str
    data_dir: Path
    port: int
    proc: subprocess.Popen
    log_path: Path

    def get_json(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_studio(data_dir: Path, *, extra_args: list[str] | None = None, timeout: float = 60.0) -> StudioServer:
    """Start `huia studio --no-browser` on a free port and wait until /api/health answers."""
    port = free_port()
    log_path = data_dir.parent / f"studio-{port}.log"
    logf = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "huia", "studio", "--host", "127.0.0.1", "--port", str(port), "--data", str(data_dir),
         "--no-browser", *(extra_args or [])],
        stdout=logf, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    logf.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"huia studio exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=2) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"huia studio did not answer within {timeout}s:\n{log_path.read_text(errors='replace')}")
        time.sleep(0.1)
    return StudioServer(url, data_dir, port, proc, log_path)


def stop_studio(server: StudioServer) -> None:
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(10)


@pytest.fixture(scope="session")
def studio_server(tmp_path_factory):
    """A live `huia studio` for this pytest worker, with an empty temporary data folder."""
    _require_browser_deps()
    base = tmp_path_factory.mktemp("studio")
    server = start_studio(base / "data")
    yield server
    stop_studio(server)


# -- browser + page ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser(y4m_path):
    """Headless Chromium whose webcam plays the Y4M video."""
    _require_browser_deps()
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=[*BROWSER_ARGS, f"--use-file-for-fake-video-capture={y4m_path}"])
    except Exception:
        pw.stop()
        raise
    yield b
    b.close()
    pw.stop()


@pytest.fixture()
def page(browser, request):
    """A new page (own context, camera allowed, 1280x800). Console errors fail the test unless marked
    `allow_console_errors`; they are in `page.console_errors` for the test to inspect or clear."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["camera"])
    pg = context.new_page()
    errors: list[str] = []
    pg.console_errors = errors

    def on_console(msg):
        if msg.type == "error":
            loc = msg.location or {}
            errors.append(f"console.error: {msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})")

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    pg.set_default_timeout(30_000)
    yield pg
    try:
        context.close()
    except Exception:
        pass
    if errors and request.node.get_closest_marker("allow_console_errors") is None:
        pytest.fail("browser console errors:\n" + "\n".join(errors[:20]), pytrace=False)

