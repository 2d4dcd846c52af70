"""Studio training jobs (huia.server.jobs), in-process through the ASGI app with real child processes.

Oracle: the README's CLI walk (`huia data split` -> `huia classify train` -> `huia classify eval`) run here on the
same capture folder with the same seed gives the same split, bit-identical weights, the same held-out accuracy and
confusion matrix; the export, run with huia.tfjs (and TF.js in Node when installed), gives `huia classify
predict`'s probabilities on a held-out sample. Refusals: every validation case, a second job (409), cancel, a crash
in the child, a corrupt capture, a studio that stops mid-job."""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from huia.cli import main
from huia.server.app import create_app

# a child that runs the real job code with train_run replaced: "hang" waits (to be cancelled), "boom" crashes;
# "linger" runs the real job and then does not exit
WRAPPER = '''
import sys, time
import huia.classify.train as T
import huia.server.jobs as J

def fake_train_run(*args, progress=None, **kwargs):
    progress("head", 1, 300)
    if sys.argv[1] == "hang":
        time.sleep(300)
    raise RuntimeError("boom in training\\n(second line of the message)")

if sys.argv[1] == "linger":  # the real job, then a child that lingers after reporting done (to be killed)
    rc = J.child_main(sys.argv[2])
    time.sleep(300)
    sys.exit(rc)
T.train_run = fake_train_run
sys.exit(J.child_main(sys.argv[2]))
'''


def post_sample(c, dataset: str, jpg: Path, label: str, keypoints=True):
    fields = {"label": label, "model": "reference"}
    if keypoints:
        kps = json.loads(jpg.with_suffix(".json").read_text())["keypoints"]
        fields["keypoints"] = json.dumps({"score": 0.9, "keypoints": kps})
    r = c.post(f"/api/datasets/{dataset}/samples", files={"image": ("f.jpg", jpg.read_bytes(), "image/jpeg")},
               data=fields)
    assert r.status_code == 201, r.text
    return r.json()


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith("index.sqlite")}


def wait_job(c, jid: str, timeout: float = 120, until=lambda j: j["status"] not in ("queued", "running")) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        j = c.get(f"/api/jobs/{jid}").json()
        if until(j):
            return j
        assert time.monotonic() < deadline, f"job {jid} still {j}"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def frames(shared_data, tmp_path_factory) -> dict[str, list[Path]]:
    """44 real frames of pose_1.mp4 (every 5th; 3 classes by the wrist-height rule, each also mirrored) with their
    reference keypoints, as capture-format files to post."""
    from huia.classify.posedata import build_pose_dataset

    root = tmp_path_factory.mktemp("poseframes")
    build_pose_dataset(root, shared_data / "pose-video" / "pose_1.mp4", shared_data / "pose-video" / "pose_1.json",
                       train_fraction=1.0, every=5)
    return {d.name: sorted(d.glob("*.jpg")) for d in sorted((root / "train").iterdir())}


@pytest.fixture(scope="module")
def studio(frames, tmp_path_factory):
    """The app on a fresh data folder, dataset `poses` filled through the capture API."""
    data = tmp_path_factory.mktemp("studio") / "data"
    app = create_app(data)
    with TestClient(app) as c:
        c.data_dir = data
        c.runner = app.state.jobs
        c.post("/api/datasets", json={"name": "poses"})
        for label, files in frames.items():
            for f in files:
                post_sample(c, "poses", f, label)
        yield c


@pytest.fixture()
def wrapped(studio, tmp_path):
    """Point the runner's child at WRAPPER for one test."""
    script = tmp_path / "child_wrapper.py"
    script.write_text(WRAPPER)
    old = studio.runner.child_argv

    def use(mode):
        studio.runner.child_argv = [sys.executable, str(script), mode]

    yield use
    studio.runner.child_argv = old


def small_dataset(c, name, frames, per_class: dict[str, int], without_keypoints: int = 0):
    c.post("/api/datasets", json={"name": name})
    k = 0
    for label, n in per_class.items():
        for f in frames[label][:n]:
            post_sample(c, name, f, label, keypoints=k >= without_keypoints)
            k += 1


def test_train_job_equals_the_cli_walk_and_exports_what_predict_says(studio, tmp_path, capsys):
    c, data = studio, studio.data_dir
    captures = data / "datasets" / "poses"
    before = snapshot(captures)
    r = c.post("/api/datasets/poses/train", json={"name": "poses-kp"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "running" and job["task"] == "keypoints"
    seen = []
    job = wait_job(c, job["id"], until=lambda j: seen.append((j["stage"], j["progress"]["phase"]))
                   or j["status"] not in ("queued", "running"))
    assert job["status"] == "done", job
    assert job["error"] is None and job["stage"] == "export" and job["elapsed"] > 0
    res = job["result"]
    assert res["export"] == "poses-kp" and res["run"] == str(data / "runs" / "poses-kp")
    assert {s for s, _ in seen} <= {"split", "train", "eval", "export"}

    # the oracle: the same walk through the CLI, here
    split, run = tmp_path / "split", tmp_path / "run"
    assert main(["data", "split", str(captures), "--out", str(split), "--train", "0.8", "--seed", "0",
                 "--by", "time"]) == 0
    assert main(["classify", "train", "--data", str(split / "train"), "--out", str(run), "--task", "keypoints",
                 "--seed", "0", "--json"]) == 0
    capsys.readouterr()
    assert main(["classify", "eval", str(run), "--data", str(split / "test"), "--json"]) == 0
    want = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    job_run = data / "runs" / "poses-kp"
    got_split = json.loads((job_run / "split" / "split.json").read_text())
    want_split = json.loads((split / "split.json").read_text())
    assert (got_split["train"], got_split["test"]) == (want_split["train"], want_split["test"])
    # held out by default: each class's latest captures (ids start with the capture time in ms)
    assert res["split"] == "time" and got_split["by"] == "time"
    for label in res["labels"]:
        tr = [k.split("/")[1] for k in got_split["train"] if k.startswith(label + "/")]
        te = [k.split("/")[1] for k in got_split["test"] if k.startswith(label + "/")]
        assert tr and te and max(tr) < min(te), (label, tr, te)
    import torch

    a = torch.load(job_run / "model.pt", weights_only=False)["head"]
    b = torch.load(run / "model.pt", weights_only=False)["head"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "training is not bit-exact"
    assert res["n"] == want["samples"] == len(want_split["test"]) and res["n"] >= 8
    assert res["accuracy"] == want["accuracy"] and res["accuracy_ci"] == want["accuracy_ci"]
    assert res["accuracy_ci_method"] == "wilson"
    assert res["confusion"] == want["confusion"] and res["labels"] == want["labels"]
    assert {k: v["accuracy"] for k, v in res["per_class"].items()} == \
        {k: v["recall"] for k, v in want["per_class"].items()}
    assert sum(map(sum, res["confusion"])) == res["n"]
    assert res["accuracy"] >= 0.8, res  # three separable poses: the held-out frames are mostly right
    assert json.loads((job_run / "eval.json").read_text())["confusion"] == want["confusion"]

    # the export: listed for the Huia page, complete, and it computes what `huia classify predict` says
    models = {m["name"]: m for m in c.get("/api/models").json()["models"]}
    entry = models["poses-kp"]
    assert entry["source"] == "user" and "problem" not in entry and entry["metadata"]["huia"]["task"] == "classify"
    assert entry["url"] == res["export_url"] and c.get(entry["url"]).status_code == 200
    mj = data / "exports" / "poses-kp" / "model.json"
    from huia.classify.predict import collect_images, load_run, run_inputs
    from huia.tfjs import load_graph_model

    held = sorted((split / "test").rglob("*.jpg"))[0]
    x = run_inputs(load_run(job_run), collect_images(held))
    got = load_graph_model(mj)({"features": x}, outputs=["probabilities"])["probabilities"]
    got = np.asarray(got.detach() if hasattr(got, "detach") else got)[0]
    assert main(["classify", "predict", str(job_run), str(held), "--json", "--top", "3"]) == 0
    pred = json.loads(capsys.readouterr().out)[0]
    labels = json.loads(mj.read_text())["userDefinedMetadata"]["labels"]
    assert labels[int(got.argmax())] == pred["label"]
    for t in pred["top"]:  # uint16 weights: a few 1e-4 away from the float32 run
        assert abs(got[labels.index(t["label"])] - t["score"]) < 2e-3, (got, pred)
    if (Path(__file__).parents[2] / "web" / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        from tests.oracles.tfjs_node import run_tfjs

        tf_out = run_tfjs(mj, {"features": x}, ["probabilities"])["probabilities"][0]
        np.testing.assert_allclose(tf_out, got, atol=1e-5)
    # the export's own held-out accuracy (uint16 weights) is `classify eval --export` on the published export
    assert main(["classify", "eval", str(job_run), "--data", str(split / "test"), "--export", str(mj.parent),
                 "--json"]) == 0
    want_ex = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ex = res["export_check"]
    assert ex["quantization"] == "uint16" == want_ex["export"]["quantization"]
    assert ex["accuracy"] == want_ex["accuracy"] and ex["agreement_with_run"] == want_ex["export"]["agreement_with_run"]
    # the run's training curves, served for the panel (the run's own PNG, byte for byte)
    png = c.get(res["curves_url"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content == (job_run / "plots" / "curves.png").read_bytes()
    assert c.get("/api/jobs/nope/curves.png").status_code == 404
    # the run folder (or its plots/) turned into a link to somewhere else: nothing outside the data folder is served
    plots = job_run / "plots"
    elsewhere = tmp_path / "elsewhere"
    plots.rename(elsewhere)
    try:
        plots.symlink_to(elsewhere, target_is_directory=True)
        assert c.get(res["curves_url"]).status_code == 404
    finally:
        plots.unlink()
        elsewhere.rename(plots)
    assert c.get(res["curves_url"]).status_code == 200
    assert snapshot(captures) == before  # the captures were only read
    assert not list((data / "jobs").glob(f"{job['id']}/export"))  # staged export moved, not copied


def test_refusals_name_the_problem(studio, frames):
    c, data = studio, studio.data_dir

    def refused(path, body, status, *words, headers=None):
        r = c.post(path, json=body, headers=headers or {})
        assert r.status_code == status, r.text
        msg = r.json()["error"]
        assert "\n" not in msg and all(w in msg for w in words), msg
        return msg

    refused("/api/datasets/nope/train", {"name": "x"}, 404, "nope")
    for bad in ("../evil", "a/b", ".hidden", "", "x" * 65, "evil\n"):
        refused("/api/datasets/poses/train", {"name": bad}, 400, "name")
    (data / "exports" / "taken").mkdir(parents=True)
    refused("/api/datasets/poses/train", {"name": "taken"}, 409, "taken", "never overwritten")
    (data / "runs" / "taken-run").mkdir(parents=True)
    refused("/api/datasets/poses/train", {"name": "taken-run"}, 409, "taken-run")
    refused("/api/datasets/poses/train", {"name": "x", "train_fraction": 1.0}, 422, "train_fraction")
    refused("/api/datasets/poses/train", {"name": "x", "task": "yolo"}, 422, "task")
    refused("/api/datasets/poses/train", {"name": "x", "quantize": "int4"}, 422, "quantize")
    refused("/api/datasets/poses/train", {"name": "x", "epoch": 5}, 422, "epoch")
    refused("/api/datasets/poses/train", {"name": "x", "seed": -1}, 422, "seed")
    refused("/api/datasets/poses/train", {"name": "x"}, 403, "cross-origin",
            headers={"Origin": "http://evil.example"})

    small_dataset(c, "one-class", frames, {"arms_up": 3})
    refused("/api/datasets/one-class/train", {"name": "x"}, 400, "at least 2 classes", "arms_up (3)")
    small_dataset(c, "tiny", frames, {"arms_up": 3, "arms_down": 1})
    refused("/api/datasets/tiny/train", {"name": "x"}, 400, "'arms_down' has 1 sample", "at least 2")
    small_dataset(c, "no-pose", frames, {"arms_up": 3, "arms_down": 3}, without_keypoints=2)
    refused("/api/datasets/no-pose/train", {"name": "x"}, 400, "2 of 6 samples have none", "keypoints")
    refused("/api/datasets/no-pose/train", {"name": "x", "task": "skeleton"}, 400, "2 of 6")
    small_dataset(c, "broken", frames, {"arms_up": 3, "arms_down": 3})
    victim = sorted((data / "datasets" / "broken" / "arms_down").glob("*.jpg"))[1]
    victim.write_bytes(b"not an image at all")  # replaced behind the server
    refused("/api/datasets/broken/train", {"name": "x"}, 400, "1 unreadable file", victim.name)
    assert c.get("/api/jobs/doesnotexist").status_code == 404
    assert c.delete("/api/jobs/doesnotexist", headers={"Origin": "http://evil.example"}).status_code == 403
    assert not (data / "exports" / "x").exists() and not (data / "runs" / "x").exists()


def test_second_job_is_409_and_cancel_leaves_nothing(studio, wrapped):
    c, data = studio, studio.data_dir
    wrapped("hang")
    before = snapshot(data / "datasets" / "poses")
    jid = c.post("/api/datasets/poses/train", json={"name": "to-cancel"}).json()["id"]
    wait_job(c, jid, 60, until=lambda j: j["progress"]["phase"] == "head")  # the child is inside training
    assert (data / "runs" / "to-cancel" / "split" / "train").is_dir()
    r = c.post("/api/datasets/poses/train", json={"name": "second"})
    assert r.status_code == 409 and jid in r.json()["error"] and "to-cancel" in r.json()["error"]
    proc = c.runner.jobs[jid].proc
    r = c.delete(f"/api/jobs/{jid}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    assert proc.poll() is not None
    assert not (data / "exports" / "to-cancel").exists() and not (data / "runs" / "to-cancel").exists()
    assert snapshot(data / "datasets" / "poses") == before
    assert c.delete(f"/api/jobs/{jid}").status_code == 409
    listed = {j["id"]: j for j in c.get("/api/jobs").json()["jobs"]}
    assert listed[jid]["status"] == "cancelled"
    assert not (data / "runs" / "second").exists()


def test_crash_in_the_child_is_failed_with_one_line(studio, wrapped):
    c, data = studio, studio.data_dir
    wrapped("boom")
    jid = c.post("/api/datasets/poses/train", json={"name": "crashes"}).json()["id"]
    j = wait_job(c, jid, 60)
    assert j["status"] == "failed" and j["stage"] == "train"
    assert j["error"] == "RuntimeError: boom in training (second line of the message)"
    assert not (data / "exports" / "crashes").exists() and not (data / "runs" / "crashes").exists()
    assert "Traceback" in (data / "jobs" / jid / "log.txt").read_text()  # the details stay in the job's log


def broken_pixels(w: int, h: int) -> bytes:
    """An image whose header reads fine (w x h) and whose pixels do not decode (a zeroed run of PNG data)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)).save(buf, "PNG")
    d = bytearray(buf.getvalue())
    i = d.index(b"IDAT") + 40
    d[i:i + 200] = bytes(200)
    return bytes(d)


def test_corrupt_capture_fails_the_split_naming_the_file(studio, frames):
    """Changed behind the server after capture: the header still reads (so the edge lets it through), the pixels
    do not. `data split` decodes every image and refuses: the job fails naming the file."""
    c, data = studio, studio.data_dir
    small_dataset(c, "corrupt", frames, {"arms_up": 3, "arms_down": 3})
    victim = sorted((data / "datasets" / "corrupt" / "arms_up").glob("*.jpg"))[0]
    w, h = json.loads(victim.with_suffix(".json").read_text())["width"], 576
    victim.write_bytes(broken_pixels(w, h))
    jid = c.post("/api/datasets/corrupt/train", json={"name": "corrupt-kp"}).json()["id"]
    j = wait_job(c, jid, 60)
    assert j["status"] == "failed" and j["stage"] == "split", j
    assert victim.name in j["error"] and "cannot decode" in j["error"] and "\n" not in j["error"]
    assert not (data / "exports" / "corrupt-kp").exists() and not (data / "runs" / "corrupt-kp").exists()
    assert victim.is_file()


def test_stopping_the_studio_kills_the_job(frames, tmp_path):
    data = tmp_path / "data"
    script = tmp_path / "child_wrapper.py"
    script.write_text(WRAPPER)
    app = create_app(data)
    with TestClient(app) as c:
        small_dataset(c, "poses", frames, {"arms_up": 3, "arms_down": 3})
        app.state.jobs.child_argv = [sys.executable, str(script), "hang"]
        jid = c.post("/api/datasets/poses/train", json={"name": "orphan"}).json()["id"]
        wait_job(c, jid, 60, until=lambda j: j["progress"]["phase"] == "head")
        proc = app.state.jobs.jobs[jid].proc
    assert proc.poll() is not None  # the lifespan shutdown killed it
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    # recorded before the studio ended (not "cancelled": the user did not cancel it); nothing half-made remains
    with TestClient(create_app(data)) as c2:
        jobs = {j["id"]: j for j in c2.get("/api/jobs").json()["jobs"]}
        assert jobs[jid]["status"] == "failed" and jobs[jid]["stage"] == "train"
        assert jobs[jid]["error"] == "the studio stopped while this job ran"
    assert not (data / "runs" / "orphan").exists() and not (data / "exports" / "orphan").exists()


def test_a_cancel_after_the_job_finished_keeps_the_finished_model(studio, wrapped):
    """The child has written its result but not exited when the cancel kills it: the job is done and its export
    is in place (the studio moves the export itself, under the lock cancel takes), never "cancelled" with a
    full export left behind."""
    c, data = studio, studio.data_dir
    wrapped("linger")
    jid = c.post("/api/datasets/poses/train", json={"name": "finished-first", "epochs": 5}).json()["id"]
    state = data / "jobs" / jid / "state.json"
    deadline = time.monotonic() + 120
    while not (state.is_file() and json.loads(state.read_text()).get("status") == "done"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert not (data / "exports" / "finished-first").exists()  # staged in the job folder until the studio moves it
    j = c.delete(f"/api/jobs/{jid}").json()
    assert j["status"] == "done" and j["result"]["export"] == "finished-first", j
    assert (data / "exports" / "finished-first" / "model.json").is_file()
    assert (data / "runs" / "finished-first" / "model.pt").is_file()


def test_a_restart_deletes_nothing_it_cannot_prove_is_its_own(frames, tmp_path, capsys):
    """After a kill -9 the next studio finds job records marked running. It marks them failed and says where
    their folder is, but deletes nothing: the user may have finished the run by hand since, and a job.json (which
    anyone can write) is no proof of what a folder holds. Linked job folders and malformed records are skipped."""
    data = tmp_path / "data"
    jobs, runs = data / "jobs", data / "runs"

    def record(folder: Path, jid: str, name: str, **extra):
        folder.mkdir(parents=True)
        spec = {"dataset": "poses", "name": name, "task": "keypoints", "run_dir": str(runs / "keep")}
        doc = {"id": jid, "status": "running", "stage": "split", "created": 1.0, "elapsed": 0, "spec": spec}
        (folder / "job.json").write_text(json.dumps({**doc, **extra}))

    # a run the user finished by hand after the crash (and a forged run_dir pointing at another run)
    record(jobs / "aaaaaaaaaaaa", "aaaaaaaaaaaa", "resumed")
    (jobs / "aaaaaaaaaaaa" / "state.json").write_text(json.dumps({"status": "running", "stage": "train"}))
    os.utime(jobs / "aaaaaaaaaaaa" / "state.json", (43.0, 43.0))  # last written 42 s after the job was created
    (runs / "resumed").mkdir(parents=True)
    (runs / "resumed" / "model.pt").write_bytes(b"finished by hand")
    (runs / "keep").mkdir()
    (runs / "keep" / "model.pt").write_bytes(b"another run")
    # a job that finished (state done, export staged) just as the studio was killed: published at the restart
    record(jobs / "bbbbbbbbbbbb", "bbbbbbbbbbbb", "finished")
    (jobs / "bbbbbbbbbbbb" / "state.json").write_text(json.dumps({"status": "done", "stage": "export",
                                                                  "result": {"export": "finished"}}))
    (jobs / "bbbbbbbbbbbb" / "export").mkdir()
    (jobs / "bbbbbbbbbbbb" / "export" / "model.json").write_text('{"staged": true}')
    # a job folder that is a link out of the data folder, holding a staged export
    outside = tmp_path / "outside"
    record(outside, "cccccccccccc", "linked")
    (outside / "export").mkdir()
    (outside / "export" / "model.json").write_text("{}")
    outside_doc = (outside / "job.json").read_text()
    (jobs / "cccccccccccc").symlink_to(outside, target_is_directory=True)
    # malformed records
    record(jobs / "dddddddddddd", "dddddddddddd", "bad-date", created="yesterday")
    (jobs / "eeeeeeeeeeee").mkdir()
    (jobs / "eeeeeeeeeeee" / "job.json").write_text(json.dumps({"id": "eeeeeeeeeeee", "spec": {}}))

    with TestClient(create_app(data)) as c:
        r = c.get("/api/jobs")
        assert r.status_code == 200, r.text
        listed = {j["id"]: j for j in r.json()["jobs"]}
    assert set(listed) == {"aaaaaaaaaaaa", "bbbbbbbbbbbb"}
    assert listed["bbbbbbbbbbbb"]["status"] == "done" and listed["bbbbbbbbbbbb"]["error"] is None
    assert (data / "exports" / "finished" / "model.json").read_text() == '{"staged": true}'
    assert not (jobs / "bbbbbbbbbbbb" / "export").exists()
    a = listed["aaaaaaaaaaaa"]
    assert a["status"] == "failed" and a["stage"] == "train" and a["elapsed"] == 42.0
    assert a["error"] == (f"the studio stopped while this job ran; what it wrote is in {runs / 'resumed'} (delete "
                          "that folder to use the name again)")
    assert (runs / "resumed" / "model.pt").read_bytes() == b"finished by hand"
    assert (runs / "keep" / "model.pt").read_bytes() == b"another run"
    assert (outside / "export" / "model.json").is_file() and (outside / "job.json").read_text() == outside_doc
    err = capsys.readouterr().err
    assert "dddddddddddd/job.json: skipped" in err and "eeeeeeeeeeee/job.json: skipped" in err
