"""The capture API against a real `huia studio` process (uvicorn): concurrency, kill -9 durability, streaming
refusal of oversized bodies."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import sqlite3
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import start_studio, stop_studio


def run_async(coro):
    """asyncio.run in a fresh thread: a Playwright sync session left open by a browser test on the same xdist
    worker keeps an event loop running in the main thread, where asyncio.run refuses to start."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()

pytestmark = pytest.mark.slow


def jpeg(seed: int, size=(96, 72)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "JPEG", quality=80)
    return buf.getvalue()


@pytest.fixture()
def server(tmp_path):
    s = start_studio(tmp_path / "data")
    httpx.post(s.url + "/api/datasets", json={"name": "poses"}).raise_for_status()
    yield s
    stop_studio(s)


async def _upload(client: httpx.AsyncClient, url: str, i: int, label: str) -> dict:
    kp = [{"name": "nose", "x": float(i), "y": 2.0 * i, "score": 0.5}]
    r = await client.post(url, files={"image": (f"{i}.jpg", jpeg(i), "image/jpeg")},
                          data={"label": label, "keypoints": json.dumps(kp), "model": "movenet-lightning"})
    assert r.status_code == 201, r.text
    return r.json()


def index_rows(data_dir) -> dict[str, str]:
    db = sqlite3.connect(data_dir / "datasets" / "poses" / "index.sqlite")
    try:
        return dict(db.execute("SELECT id, label FROM samples").fetchall())
    finally:
        db.close()


def test_100_concurrent_uploads_all_land(server):
    url = server.url + "/api/datasets/poses/samples"

    async def main():
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            return await asyncio.gather(*[_upload(client, url, i, f"class{i % 4}") for i in range(100)])

    t0 = time.perf_counter()
    acks = run_async(main())
    elapsed = time.perf_counter() - t0
    ids = [a["id"] for a in acks]
    assert len(set(ids)) == 100
    root = server.data_dir / "datasets" / "poses"
    rows = index_rows(server.data_dir)
    assert set(rows) == set(ids)
    for a in acks:
        jpg = root / a["label"] / f"{a['id']}.jpg"
        assert jpg.is_file() and (root / a["label"] / f"{a['id']}.json").is_file()
        i = int(json.loads(jpg.with_suffix(".json").read_text())["keypoints"][0]["x"])
        assert jpg.read_bytes() == jpeg(i) and a["label"] == f"class{i % 4}"
    classes = httpx.get(server.url + "/api/datasets/poses/classes").json()["classes"]
    assert {c["name"]: c["count"] for c in classes} == {f"class{k}": 25 for k in range(4)}
    assert not list(root.rglob(".tmp-*"))
    print(f"100 concurrent uploads acknowledged in {elapsed:.2f}s")


def test_uploads_racing_class_renames_and_deletes(server):
    """Code review finding 1 over HTTP: 12 clients upload to class `a` while the class is renamed away and the
    renamed classes deleted, for ~2 s. Every answer is a 201 or a one-line 409 (never a 500); every 201 is stored
    with its JSON and indexed where its folder is (its class may have been renamed or deleted after the commit);
    a refused upload left no file; the index agrees with the folders without any re-scan."""
    base = server.url + "/api/datasets/poses"
    root = server.data_dir / "datasets" / "poses"
    acked, statuses, errors = {}, {}, []

    async def uploader(client, wid, stop):
        i = wid * 10_000
        while not stop.is_set():
            r = await client.post(base + "/samples", files={"image": (f"{i}.jpg", jpeg(i), "image/jpeg")},
                                  data={"label": "a"})
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code == 201:
                acked[r.json()["id"]] = r.json()["label"]
            elif r.status_code != 409 or "\n" in r.json()["error"]:
                errors.append(f"{r.status_code} {r.text}")
            i += 1

    async def renamer(client, stop):
        k = 0
        while not stop.is_set():
            r = await client.patch(base + "/classes/a", json={"name": f"r{k}"})
            if r.status_code == 200:
                k += 1
                if k % 2 == 0:  # every other renamed class goes to the trash
                    assert (await client.delete(base + f"/classes/r{k - 2}")).status_code == 200
            elif r.status_code != 404:  # 404: `a` not re-created yet by an upload
                errors.append(f"rename {r.status_code} {r.text}")
            await asyncio.sleep(0.02)
        return k

    async def main():
        stop = asyncio.Event()
        async with httpx.AsyncClient(timeout=60) as client:
            tasks = [asyncio.create_task(uploader(client, w, stop)) for w in range(12)]
            ren = asyncio.create_task(renamer(client, stop))
            await asyncio.sleep(2.0)
            stop.set()
            await asyncio.gather(*tasks)
            return await ren

    renames = run_async(main())
    assert not errors, errors[:5]
    assert statuses.get(201, 0) > 10 and renames > 3, (statuses, renames)
    live, trashed = {}, set()
    for f in root.rglob("*.jpg"):
        rel = f.relative_to(root)
        if rel.parts[0] == ".trash":
            trashed.add(f.stem)
        else:
            live[f.stem] = rel.parts[0]
        assert f.with_suffix(".json").is_file(), f  # no image without its JSON
    assert set(live) | trashed == set(acked), "refused uploads left files, or acknowledged ones were lost"
    assert index_rows(server.data_dir) == live
    for sid, folder in live.items():
        assert json.loads((root / folder / f"{sid}.json").read_text())["label"] == folder
    classes = {c["name"] for c in httpx.get(base + "/classes").json()["classes"]}
    assert classes == {d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")}
    print(f"racing renames: {statuses}, {renames} renames")


def test_kill_9_loses_nothing_acknowledged(tmp_path):
    """Upload continuously from 16 concurrent clients, SIGKILL the server mid-stream: every sample that got a 201
    must be on disk (image + JSON) and in the index, and a restarted server lists all of them."""
    s = start_studio(tmp_path / "data")
    httpx.post(s.url + "/api/datasets", json={"name": "poses"}).raise_for_status()
    url = s.url + "/api/datasets/poses/samples"
    acked: list[dict] = []
    killed = asyncio.Event()

    async def worker(client, wid):
        i = wid * 10_000
        while not killed.is_set():
            try:
                acked.append(await _upload(client, url, i, f"c{wid % 3}"))
            except (httpx.TransportError, AssertionError):
                return
            i += 1

    async def main():
        async with httpx.AsyncClient(timeout=30) as client:
            tasks = [asyncio.create_task(worker(client, w)) for w in range(16)]
            deadline = time.monotonic() + 120
            while len(acked) < 60:
                assert time.monotonic() < deadline, f"only {len(acked)} uploads acknowledged:\n{s.log()}"
                assert not all(t.done() for t in tasks), f"all uploaders stopped:\n{s.log()}"
                await asyncio.sleep(0.01)
            os.kill(s.proc.pid, signal.SIGKILL)  # mid-flight: other requests are half-written right now
            killed.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    try:
        run_async(main())
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
        s.proc.wait(10)
    assert s.proc.returncode == -signal.SIGKILL
    assert len(acked) >= 60
    print(f"kill -9 after {len(acked)} acknowledged uploads (16 uploaders in flight)")

    root = s.data_dir / "datasets" / "poses"
    rows = index_rows(s.data_dir)
    for a in acked:
        assert (root / a["label"] / f"{a['id']}.jpg").is_file(), a
        assert (root / a["label"] / f"{a['id']}.json").is_file(), a
        assert rows.get(a["id"]) == a["label"], a

    s2 = start_studio(s.data_dir)  # restart on the same data: reconciles, lists everything acknowledged
    try:
        listed = httpx.get(s2.url + "/api/datasets/poses/samples", params={"limit": 1000}).json()
        listed_ids = {x["id"] for x in listed["samples"]}
        assert {a["id"] for a in acked} <= listed_ids
        print(f"restart lists {len(listed_ids)} samples: all {len(acked)} acknowledged + "
              f"{len(listed_ids) - len(acked)} stored but never acknowledged")
        for a in acked[:5]:
            assert httpx.get(s2.url + a["image_url"]).status_code == 200
        # every listed sample is a complete, decodable pair on disk (no half-written files left visible)
        for x in listed["samples"]:
            with Image.open(root / x["label"] / f"{x['id']}.jpg") as im:
                im.load()
        assert not list(root.rglob(".tmp-*"))
    finally:
        stop_studio(s2)


def _raw_post_headers(port: int, path: str, headers: dict[str, str]) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall((head + "\r\n").encode())
    return sock


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.1 response with a Content-Length."""
    data = b""
    sock.settimeout(10)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(head.split(b" ", 2)[1]), body


def test_50mb_declared_body_refused_without_reading_it(server):
    """Content-Length: 50 MB -> 413 arrives before the client sends a single body byte."""
    sock = _raw_post_headers(server.port, "/api/datasets/poses/samples", {
        "Content-Type": "multipart/form-data; boundary=xyz", "Content-Length": str(50 * 1024 * 1024)})
    try:
        status, data = _read_response(sock)
    finally:
        sock.close()
    assert status == 413, data[:300]
    assert b"too large" in data
    assert httpx.get(server.url + "/api/datasets/poses/samples").json()["total"] == 0


def test_50mb_chunked_body_cut_off_while_streaming(server):
    """No Content-Length (chunked): the server counts while reading and answers 413 once past 10 MB, long before
    the client could push 50 MB; nothing is stored."""
    sock = _raw_post_headers(server.port, "/api/datasets/poses/samples", {
        "Content-Type": "multipart/form-data; boundary=xyz", "Transfer-Encoding": "chunked"})
    chunk = b"--xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n" \
            b"Content-Type: image/jpeg\r\n\r\n"
    payload = b"\xff" * (1024 * 1024)
    sent = 0
    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    try:
        while sent < 50 * 1024 * 1024:
            sock.sendall(b"%x\r\n%s\r\n" % (len(payload), payload))
            sent += len(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed the connection after refusing
    try:
        status, data = _read_response(sock)
    except OSError:
        status, data = None, b""
    finally:
        sock.close()
    print(f"chunked upload: server stopped reading after {sent / 2**20:.0f} MB sent; status {status}")
    # the server refused once past its 10 MB limit and closed: the client could not push the 50 MB
    assert sent < 50 * 1024 * 1024
    if status is not None:  # the 413 is usually readable; a reset racing with it is also a refusal
        assert status == 413 and b"too large" in data, data[:300]
    assert httpx.get(server.url + "/api/datasets/poses/samples").json()["total"] == 0
    root = server.data_dir / "datasets" / "poses"
    assert not [p for p in root.rglob("*") if p.is_file() and not p.name.startswith("index.sqlite")]
    # the server is still healthy
    assert httpx.get(server.url + "/api/health").json()["ok"]


def test_huia_serve_process(tmp_path):
    """`huia serve DIR --cors ORIGIN` as a real process: CORS for the listed origin only, files with MIME types."""
    import subprocess
    import sys

    from tests.browser.conftest import free_port

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.json").write_text('{"format": "graph-model"}')
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "huia", "serve", str(tmp_path), "--port", str(port),
                             "--cors", "http://localhost:3000"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/m/model.json"
        for _ in range(100):
            try:
                r = httpx.get(url, headers={"Origin": "http://localhost:3000"})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert r.status_code == 200 and r.json() == {"format": "graph-model"}
        assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
        assert "access-control-allow-origin" not in httpx.get(url, headers={"Origin": "http://other:1"}).headers
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode()
    assert f"http://127.0.0.1:{port}/m/model.json" in out and "http://localhost:3000" in out


def test_loopback_studio_refuses_foreign_host_header(server):
    """DNS rebinding: a page on attacker.example resolving to 127.0.0.1 sends Host: attacker.example."""
    r = httpx.get(server.url + "/api/datasets", headers={"Host": "attacker.example:1234"})
    assert r.status_code == 400
    assert httpx.get(server.url.replace("127.0.0.1", "localhost") + "/api/health").status_code == 200


def test_huia_serve_port_zero_prints_the_port_it_got(tmp_path):
    """`--port 0` lets the system pick a free port; the printed URLs must carry that port (they said :0)."""
    import re
    import subprocess
    import sys

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.json").write_text('{"format": "graph-model"}')
    proc = subprocess.Popen([sys.executable, "-m", "huia", "serve", str(tmp_path), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert m and int(m.group(1)) > 0, first
        r = None
        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{m.group(1)}/m/model.json")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert r is not None and r.status_code == 200 and r.json() == {"format": "graph-model"}
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_second_studio_on_the_same_data_folder_is_refused(server, tmp_path):
    """Capture locks and training jobs are per process: a second studio on the folder would race the first (and
    take its running job for a crashed one). It is refused with one line naming the first's pid; the first keeps
    serving; after the first stops (or is killed), the folder can be used again."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "huia", "studio", "--data", str(server.data_dir), "--port", "0",
                        "--no-browser"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and f"another huia studio (pid {server.proc.pid})" in line and str(server.data_dir) in line
    assert httpx.get(server.url + "/api/datasets").status_code == 200
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(10)
    again = start_studio(server.data_dir)  # the kernel dropped the dead studio's lock
    try:
        assert httpx.get(again.url + "/api/datasets").json()["datasets"][0]["name"] == "poses"
    finally:
        stop_studio(again)


def test_a_link_in_place_of_the_lock_file_is_refused_not_followed(tmp_path):
    import subprocess
    import sys

    data = tmp_path / "data"
    data.mkdir()
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    (data / ".studio.lock").symlink_to(precious)
    r = subprocess.run([sys.executable, "-m", "huia", "studio", "--data", str(data), "--port", "0", "--no-browser"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip() == (f"huia: error: {data / '.studio.lock'}: cannot use the studio's "
                                                      "lock file: is a symbolic link (remove it)"), r.stderr
    assert precious.read_text() == "keep me"
