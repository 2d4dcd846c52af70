"""Capture upload cost: the studio's durable path (verify image, temp file + fsync + rename, directory fsync,
SQLite WAL commit with synchronous=FULL, then ack) against a naive upload endpoint in the same run (same uvicorn,
multipart parsing, one plain write, no fsync, no index): what durability costs per sample.

    .venv/bin/python benchmarks/capture_upload.py [--n 60] [--concurrent 100]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.conftest import free_port, start_studio, stop_studio  # noqa: E402

NAIVE_APP = textwrap.dedent('''
    import sys, secrets
    from pathlib import Path
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    import uvicorn
    OUT = Path(sys.argv[1])
    async def upload(request):
        form = await request.form()
        data = await form["image"].read()
        name = OUT / (secrets.token_hex(8) + ".jpg")
        name.write_bytes(data)
        return JSONResponse({"id": name.stem}, status_code=201)
    async def health(request):
        return JSONResponse({"ok": True})
    app = Starlette(routes=[Route("/upload", upload, methods=["POST"]), Route("/api/health", health)])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
''')


def frame(seed: int) -> bytes:
    """A 640x480 JPEG about the size of a webcam capture."""
    rng = np.random.default_rng(seed)
    img = (rng.random((60, 80, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).resize((640, 480)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def sequential(url: str, n: int, fields: dict) -> list[float]:
    times = []
    with httpx.Client(timeout=60) as c:
        for i in range(n):
            t0 = time.perf_counter()
            r = c.post(url, files={"image": ("f.jpg", frame(i), "image/jpeg")}, data=fields)
            assert r.status_code == 201, r.text
            times.append((time.perf_counter() - t0) * 1000)
    return times


def concurrent(url: str, n: int, fields: dict) -> float:
    async def main():
        limits = httpx.Limits(max_connections=n)
        async with httpx.AsyncClient(timeout=120, limits=limits) as c:
            async def one(i):
                r = await c.post(url, files={"image": ("f.jpg", frame(i), "image/jpeg")}, data=fields)
                assert r.status_code == 201, r.text
            t0 = time.perf_counter()
            await asyncio.gather(*[one(i) for i in range(n)])
            return time.perf_counter() - t0
    return asyncio.run(main())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="sequential uploads per server")
    ap.add_argument("--concurrent", type=int, default=100, help="concurrent uploads per server")
    args = ap.parse_args()
    kp = '{"score": 0.9, "keypoints": [{"name": "nose", "x": 1, "y": 2, "score": 0.9}]}'
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        studio = start_studio(tmp / "data")
        (tmp / "naive").mkdir()
        port = free_port()
        naive = subprocess.Popen([sys.executable, "-c", NAIVE_APP, str(tmp / "naive"), str(port)])
        try:
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/api/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            httpx.post(studio.url + "/api/datasets", json={"name": "bench"}).raise_for_status()
            huia_url = studio.url + "/api/datasets/bench/samples"
            naive_url = f"http://127.0.0.1:{port}/upload"
            fields = {"label": "a", "keypoints": kp, "model": "movenet-lightning"}
            sequential(huia_url, 5, fields), sequential(naive_url, 5, {})  # warm-up
            h_seq = sequential(huia_url, args.n, fields)
            n_seq = sequential(naive_url, args.n, {})
            h_con = concurrent(huia_url, args.concurrent, fields)
            n_con = concurrent(naive_url, args.concurrent, {})
            total = httpx.get(huia_url, params={"limit": 1}).json()["total"]
        finally:
            naive.terminate()
            naive.wait(10)
            stop_studio(studio)
    assert total == 5 + args.n + args.concurrent, total
    h_med, n_med = statistics.median(h_seq), statistics.median(n_seq)
    print(f"sequential upload latency, median of {args.n} (640x480 JPEG ~{len(frame(0)) // 1024} KB):")
    print(f"  huia durable capture : {h_med:7.2f} ms")
    print(f"  naive upload (peer)  : {n_med:7.2f} ms   ratio huia/peer {h_med / n_med:.2f}x")
    print(f"{args.concurrent} concurrent uploads, wall time:")
    print(f"  huia durable capture : {h_con:7.2f} s  ({args.concurrent / h_con:.0f} samples/s)")
    print(f"  naive upload (peer)  : {n_con:7.2f} s  ({args.concurrent / n_con:.0f} samples/s)   "
          f"ratio {h_con / n_con:.2f}x")
    print(f"all {total} acknowledged samples indexed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
