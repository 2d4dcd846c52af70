"""The studio on a phone (the kangaroo article's last step: "open a PC or mobile camera ... in any web browser"). A
browser gives the camera only to https pages or localhost, so `huia studio --host 0.0.0.0 --https` must make a
page opened by the machine's network address a secure context with the camera running; over plain http the same
address gets no camera at all (the reason the option exists)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from huia.server.cli import lan_addresses
from tests.browser.conftest import free_port
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def _studio(data, *args) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    log = data.parent / f"studio-{port}.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "huia", "studio", "--host", "0.0.0.0", "--port", str(port),
                                 "--data", str(data), "--no-browser", *args], stdout=f, stderr=subprocess.STDOUT,
                                cwd=REPO_ROOT)
    scheme = "https" if "--https" in args else "http"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text(errors="replace")
        try:
            if httpx.get(f"{scheme}://127.0.0.1:{port}/api/health", verify=False, timeout=2).status_code == 200:
                return proc, port, log.read_text(errors="replace")
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.2)


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


PROBE = """async () => ({secure: isSecureContext, isolated: crossOriginIsolated,
                         camera: !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)})"""


def test_https_studio_gives_a_phone_the_camera(browser, tmp_path):
    lan = lan_addresses()
    if not lan:
        pytest.skip("this machine has no network address besides loopback")
    ip = lan[0]
    proc, port, log = _studio(tmp_path / "data", "--https")
    plain, plain_port, _ = _studio(tmp_path / "plain")
    try:
        assert f"on this network: https://{ip}:{port}/" in log and "self-signed" in log
        cert = (tmp_path / "data" / ".tls" / "cert.pem").read_bytes()
        ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 390, "height": 844})
        ctx.grant_permissions(["camera"], origin=f"https://{ip}:{port}")
        page = ctx.new_page()
        page.goto(f"https://{ip}:{port}/pose.html?model=movenet-lightning&backend=wasm")
        assert page.evaluate(PROBE) == {"secure": True, "isolated": True, "camera": True}
        page.wait_for_function("window.__huia && window.__huia.ready === true && window.__huia.frames >= 10",
                               timeout=120_000)
        # the same address over plain http: not a secure context, no camera API at all
        page.goto(f"http://{ip}:{plain_port}/pose.html")
        assert page.evaluate(PROBE) == {"secure": False, "isolated": False, "camera": False}
        page.wait_for_function("document.body.innerText.includes('huia studio --host 0.0.0.0 --https')",
                               timeout=60_000)  # the page says how to get the camera
        ctx.close()
    finally:
        _stop(proc)
        _stop(plain)
    # the next start keeps the certificate the phone already accepted
    proc, port, _ = _studio(tmp_path / "data", "--https")
    _stop(proc)
    assert (tmp_path / "data" / ".tls" / "cert.pem").read_bytes() == cert
    assert (tmp_path / "data" / ".tls" / "key.pem").stat().st_mode & 0o077 == 0  # the key is the owner's only


def test_cert_without_key_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "huia", "studio", "--data", str(tmp_path / "d"), "--no-browser",
                        "--port", "0", "--cert", str(tmp_path / "c.pem")], capture_output=True, text=True,
                       cwd=REPO_ROOT, timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == "huia: error: --cert and --key go together (the certificate " \
        "and its private key, PEM files)"


def test_a_bad_certificate_or_key_is_one_line_before_anything_starts(tmp_path):
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    for n in ("a", "b"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={n}",
                        "-keyout", str(tmp_path / f"{n}.key"), "-out", str(tmp_path / f"{n}.crt")],
                       check=True, capture_output=True)
    (tmp_path / "junk.pem").write_text("hello")
    for cert, key, why in (("junk.pem", "junk.pem", "not a PEM certificate and its private key"),
                           ("a.crt", "b.key", "the key does not belong to this certificate")):
        r = subprocess.run([sys.executable, "-m", "huia", "studio", "--data", str(tmp_path / "d"), "--no-browser",
                            "--port", "0", "--cert", str(tmp_path / cert), "--key", str(tmp_path / key)],
                           capture_output=True, text=True, cwd=REPO_ROOT, timeout=60)
        assert r.returncode == 2 and r.stdout == "", (r.stdout, r.stderr)
        assert r.stderr.strip() == f"huia: error: {tmp_path / cert}: {why}" + (
            " (--cert and --key take PEM files)" if cert == "junk.pem" else "")
