"""/api/models and /models/user/ against hostile exports (audit findings 5, 10): one bad or huge export never breaks
the listing, the metadata listed is bounded, and nothing is read or served through a symlink out of DATA/exports."""

from __future__ import annotations

import json
import os
import time
import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from huia.server.app import create_app


@pytest.fixture()
def client(tmp_path):
    app = create_app(tmp_path / "data")
    with TestClient(app) as c:
        c.data_dir = tmp_path / "data"
        yield c


GOOD = {"format": "graph-model", "modelTopology": {"node": []},
        "weightsManifest": [{"paths": ["group1-shard1of1.bin"],
                             "weights": [{"name": "w", "shape": [4], "dtype": "float32"}]}],
        "userDefinedMetadata": {"huia": {"task": "classify"}, "labels": ["a", "b"], "description": "two"}}


def write_export(folder, doc=GOOD, text: str | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.json").write_text(text if text is not None else json.dumps(doc))
    (folder / "group1-shard1of1.bin").write_bytes(b"\0" * 16)
    return folder


def user_models(client) -> dict[str, dict]:
    r = client.get("/api/models")
    assert r.status_code in (200, 503), r.text[:300]  # 503: bundled models missing, user models still listed
    return {m["name"]: m for m in r.json()["models"] if m["source"] == "user"}


def test_one_failing_export_never_breaks_the_listing(client, monkeypatch):
    """Any error reading one export (here a RecursionError, as a 100,000-deep model.json gave before the reader
    caught it) is that export's problem line; the others are listed as usual."""
    import huia.tfjs.artifacts as artifacts

    exports = client.data_dir / "exports"
    write_export(exports / "fine")
    write_export(exports / "boom")
    write_export(exports / "typed", {**GOOD, "format": 5, "userDefinedMetadata": {"kind": ["x"], "description": 5}})
    real = artifacts.read_model_json

    def flaky(path):
        if "boom" in str(path):
            raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")
        return real(path)

    monkeypatch.setattr(artifacts, "read_model_json", flaky)
    listed = user_models(client)
    assert set(listed) == {"fine", "boom", "typed"}
    assert "problem" not in listed["fine"] and listed["fine"]["kind"] == "classify"
    assert listed["boom"]["problem"].startswith("model.json could not be read (RecursionError")
    assert (listed["typed"]["kind"], listed["typed"]["description"], listed["typed"]["format"]) == ("user", "", None)


def test_huge_model_json_listed_without_being_parsed(client):
    exports = client.data_dir / "exports"
    write_export(exports / "fine")
    big = write_export(exports / "big")
    with open(big / "model.json", "r+b") as f:  # valid JSON start, then 20 MB of (sparse) NULs: never parsed
        f.truncate(20 * 2**20)
    t0 = time.perf_counter()
    listed = user_models(client)
    assert time.perf_counter() - t0 < 5
    assert listed["big"]["problem"] == "model.json is 20 MB, too large to list"
    assert listed["big"]["metadata"] == {} and "problem" not in listed["fine"]


def test_listed_metadata_is_bounded(client):
    """A 4 MB metadata key is left out of the listing (named in metadata_omitted); what the pages pick models by
    (huia, labels, ...) stays."""
    exports = client.data_dir / "exports"
    meta = {**GOOD["userDefinedMetadata"], "junk": [0] * 1_400_000, "note": "small"}
    write_export(exports / "bloated", {**GOOD, "userDefinedMetadata": meta})
    r = client.get("/api/models")
    assert len(r.content) < 100_000
    m = {m["name"]: m for m in r.json()["models"]}["bloated"]
    assert m["metadata"] == {"huia": {"task": "classify"}, "labels": ["a", "b"], "description": "two", "note": "small"}
    assert m["metadata_omitted"] == ["junk"] and m["kind"] == "classify" and "problem" not in m


def test_exports_linking_out_of_the_data_folder_are_neither_read_nor_served(client, tmp_path):
    outside = write_export(tmp_path / "outside", {**GOOD, "userDefinedMetadata": {"secret": "s3cr3t"}})
    exports = client.data_dir / "exports"
    exports.mkdir(parents=True)
    (exports / "dirlink").symlink_to(outside)  # the export folder is a link out
    (exports / "filelink").mkdir()  # model.json is a link out
    (exports / "filelink" / "model.json").symlink_to(outside / "model.json")
    (exports / "filelink" / "group1-shard1of1.bin").write_bytes(b"\0" * 16)
    shardlink = write_export(exports / "shardlink")  # only a shard links out
    (shardlink / "group1-shard1of1.bin").unlink()
    (shardlink / "group1-shard1of1.bin").symlink_to(outside / "group1-shard1of1.bin")
    (exports / "passwd").mkdir()
    (exports / "passwd" / "model.json").symlink_to("/etc/passwd")
    real = write_export(exports / "real")
    (exports / "alias").symlink_to(real)  # a link that stays inside exports/ is fine

    r = client.get("/api/models")
    assert "s3cr3t" not in r.text and "root:" not in r.text
    listed = user_models(client)
    for name in ("dirlink", "filelink", "passwd"):
        assert "links outside" in listed[name]["problem"] and listed[name]["metadata"] == {}, listed[name]
    assert "links outside the model folder" in listed["shardlink"]["problem"]
    assert "problem" not in listed["alias"] and "problem" not in listed["real"]

    for url in ("dirlink/model.json", "dirlink/group1-shard1of1.bin", "filelink/model.json",
                "shardlink/group1-shard1of1.bin", "passwd/model.json"):
        assert client.get(f"/models/user/{url}").status_code == 404, url
    assert client.get("/models/user/alias/model.json").json()["format"] == "graph-model"
    assert client.get("/models/user/real/group1-shard1of1.bin").content == b"\0" * 16
    assert os.path.islink(exports / "dirlink")  # nothing was changed on disk
