"""`huia serve`: CORS only for the listed origins, preflights, MIME types, no traversal, read-only."""

from __future__ import annotations

import json
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from huia.cli import main
from huia.server.serve import ModelServer

ALLOWED = "http://localhost:3000"


@pytest.fixture()
def model_dir(tmp_path):
    d = tmp_path / "export" / "detector"
    d.mkdir(parents=True)
    (d / "model.json").write_text(json.dumps({"format": "graph-model", "weightsManifest": [
        {"paths": ["group1-shard1of1.bin"], "weights": []}]}))
    (d / "group1-shard1of1.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "secret.txt").write_text("outside")
    return tmp_path / "export"


def client(root, **kw):
    return TestClient(ModelServer(root, **kw))


def test_allowed_origin_echoed_others_not(model_dir):
    c = client(model_dir, cors=[ALLOWED, "https://example.org"])
    r = c.get("/detector/model.json", headers={"Origin": ALLOWED})
    assert r.status_code == 200 and r.json()["format"] == "graph-model"
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert "Origin" in r.headers["vary"]
    assert r.headers["content-type"].startswith("application/json")
    r = c.get("/detector/model.json", headers={"Origin": "http://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    assert "Origin" in r.headers["vary"]  # caches must not reuse an allowed answer for another origin
    r = c.get("/detector/group1-shard1of1.bin", headers={"Origin": "https://example.org"})
    assert r.headers["content-type"] == "application/octet-stream" and len(r.content) == 1024
    assert r.headers["access-control-allow-origin"] == "https://example.org"


def test_no_cors_unless_asked(model_dir):
    r = client(model_dir).get("/detector/model.json", headers={"Origin": ALLOWED})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_star_only_when_asked(model_dir):
    r = client(model_dir, cors=["*"]).get("/detector/model.json", headers={"Origin": "http://anything.example"})
    assert r.headers["access-control-allow-origin"] == "*"


def test_preflight(model_dir):
    c = client(model_dir, cors=[ALLOWED])
    r = c.options("/detector/model.json", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET",
                                                   "Access-Control-Request-Headers": "x-requested-with"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ALLOWED
    assert "GET" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-allow-headers"] == "x-requested-with"
    r = c.options("/detector/model.json", headers={"Origin": "http://evil.example",
                                                   "Access-Control-Request-Method": "GET"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


def test_cache_headers(model_dir):
    assert client(model_dir, no_cache=True).get("/detector/model.json").headers["cache-control"] == "no-store"
    assert client(model_dir, no_cache=False).get("/detector/model.json").headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("url", ["/../secret.txt", "/%2e%2e/secret.txt", "/detector/..%2f..%2fsecret.txt",
                                 "/..%2fsecret.txt", "/detector/", "/", "/nope.json"])
def test_no_traversal_no_listing(model_dir, url):
    r = client(model_dir, cors=["*"]).get(url)
    listed = b"detector" if url == "/" else b"model.json"  # the root's message names /NAME/model.json, no model
    assert r.status_code == 404 and b"outside" not in r.content and listed not in r.content


def test_read_only(model_dir):
    c = client(model_dir, cors=[ALLOWED])
    for method in ("POST", "PUT", "DELETE"):
        r = c.request(method, "/detector/model.json", content=b"x")
        assert r.status_code == 405
    assert (model_dir / "detector" / "model.json").read_text().startswith("{")


def test_cli_refuses_bad_input(tmp_path, capsys):
    assert main(["serve", str(tmp_path / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["serve", str(tmp_path), "--cors", "localhost:3000"]) == 2
    assert "origin" in capsys.readouterr().err


def test_busy_port_is_a_clear_error(capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", ".", "--port", str(port)]) == 2
        assert "cannot listen" in capsys.readouterr().err


def test_listening_socket_has_nodelay():
    """Without TCP_NODELAY every small response of the studio waited ~40 ms (Nagle + delayed ACK), measured at
    48 ms per GET /api/health before the fix and <1 ms after (benchmarks/capture_upload.py shows the upload side)."""
    import socket

    from huia.server.cli import bind_socket

    sock = bind_socket("127.0.0.1", 0)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()



def test_root_says_what_to_ask_for_without_listing(model_dir):
    """The root answered {"error": "not found: "}; it says what this server is for (still no listing), and an
    index.html there is served instead."""
    r = client(model_dir, cors=[ALLOWED]).get("/", headers={"Origin": ALLOWED})
    assert r.status_code == 404 and "/NAME/model.json" in r.json()["error"] and b"detector" not in r.content
    assert r.headers["access-control-allow-origin"] == ALLOWED
    (model_dir / "index.html").write_text("<p>mine</p>")
    assert client(model_dir).get("/").text == "<p>mine</p>"
