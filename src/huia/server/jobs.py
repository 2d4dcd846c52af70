"""Studio training jobs: the README's CLI walk (`huia data split` -> `huia classify train` -> `huia classify eval`
-> `huia export`) for one capture dataset, started from the Capture page.

    POST   /api/datasets/{dataset}/train   {name, task, seed, train_fraction, quantize, epochs} -> 202 {id, status}
    GET    /api/jobs/{id}                  status, stage, progress, elapsed, error | held-out result
    GET    /api/jobs                       recent jobs, newest first
    DELETE /api/jobs/{id}                  cancel (kills the child process)

Why a child process (``python -m huia.server.jobs JOB_DIR``) and not a thread: training holds the CPU and the GIL
for seconds to minutes, torch may crash or run out of memory, and a cancel must stop it at once. The server stays
responsive, a crash becomes status ``failed`` with one line, and cancel is a kill. The child writes its progress to
``DATA/jobs/<id>/state.json`` (one JSON rewritten atomically) that GET reads; its output goes to ``log.txt`` beside.

Where things land: the split and the run under ``DATA/runs/<name>/`` (``split/train``, ``split/test``, the run's
config.json, model.pt, metrics.json, eval.json); the model under ``DATA/exports/<name>`` (so /api/models and the Huia
page list it). The export is written into the job folder first and renamed into exports/ only when complete: a
failed or cancelled job leaves no export, and its run folder (derived data only) is removed so the name can be
used again. Captures are only ever read.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from huia.server.capture import ApiError, CaptureStore, ErrorOut, validate_name
from huia.train.common import write_json  # atomic (temp file + rename): a reader never sees half a file

STAGES = ("split", "train", "eval", "export")
ACTIVE = ("queued", "running")
DEFAULT_TASK = "keypoints"  # pose captures carry keypoints: a small MLP on them trains in seconds on a CPU
MAX_LISTED = 20
JOB_ID_LEN = 12


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt setting is refused, not silently left at its default

    name: str = Field(..., description="export and run name: DATA/exports/<name>, DATA/runs/<name> (never "
                                       "overwritten); the dataset name rules")
    task: Literal["keypoints", "skeleton", "image"] = Field(
        DEFAULT_TASK, description="keypoints: the captured keypoints through a small MLP (fastest); skeleton: the "
                                  "pose drawn as an image through MobileNet (the Huia article); image: the frames")
    split: Literal["time", "hash"] = Field(
        "time", description="time: each class's latest captures are held out (a capture timer takes near-twin frames "
                            "seconds apart; a hashed split would test on twins of training frames); hash: seeded "
                            "hash order, as `huia data split` by default")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="split (hash order) and training seed (same seed, same "
                                                         "result)")
    train_fraction: float = Field(0.8, gt=0, lt=1, description="share of each class that trains; the rest is held "
                                                                "out for the accuracy")
    quantize: Literal["uint16", "uint8", "float16"] | None = Field(
        "uint16", description="export weight dtype (null: float32)")
    epochs: int | None = Field(None, ge=1, le=10_000,
                               description="max head epochs (null: `huia classify train`'s default)")


class JobProgress(BaseModel):
    phase: str | None = None
    step: int = 0
    total: int = 0


class JobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    dataset: str
    name: str
    task: str
    stage: Literal["split", "train", "eval", "export"] | None = None
    progress: JobProgress = JobProgress()
    created: float
    elapsed: float
    error: str | None = None
    result: dict | None = None


class JobList(BaseModel):
    jobs: list[JobOut]


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def one_line(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- validation at the edge ------------------------------------------------------------------------------------------
def check_dataset(root: Path, task: str, train_fraction: float, seed: int, by: str = "hash") -> dict[str, int]:
    """Refuse what the split or the training would refuse, before any process starts, with one line each: files
    the reader reports, fewer than 2 classes, a class too small to hold one sample out, poses missing for a
    keypoints/skeleton task. Returns the samples per class. Reads the folder as `huia data split` will."""
    from huia.data.folders import read_class_folders
    from huia.data.split import sample_groups, split_samples
    from huia.errors import HuiaError

    try:
        samples, problems = read_class_folders(root)
    except HuiaError:
        samples, problems = [], []
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ApiError(400, f"dataset {root.name!r} has {len(problems)} unreadable file(s): {problems[0]}{more}")
    counts = Counter(s.label for s in samples)
    if len(counts) < 2:
        have = ", ".join(f"{k} ({v})" for k, v in sorted(counts.items())) or "none"
        raise ApiError(400, f"dataset {root.name!r} needs at least 2 classes with samples to train a classifier "
                            f"(classes with samples: {have})")
    for label in sorted(counts):
        units = len(sample_groups([s for s in samples if s.label == label]))
        if units < 2:
            raise ApiError(400, f"class {label!r} has {counts[label]} sample{'s' if counts[label] != 1 else ''}: "
                                "at least 2 are needed (one trains, one is held out to measure accuracy)")
    if task in ("keypoints", "skeleton"):
        missing = [s for s in samples if s.keypoints is None]
        if missing:
            per = Counter(s.label for s in missing)
            raise ApiError(400, f"task {task!r} needs keypoints: {len(missing)} of {len(samples)} samples have none "
                                f"(no person found when captured: " + ", ".join(f"{k} {v}" for k, v in
                                                                                sorted(per.items()))
                                + "); delete them in the review grid ('only without a person') or use task 'image'")
    try:
        _, test = split_samples(samples, train_fraction, seed, by=by)
    except HuiaError as exc:
        hint = " (hold out a random share: split \"hash\")" if by == "time" and "time split" in exc.message else ""
        raise ApiError(400, f"dataset {root.name!r}: {exc.message}{hint}") from None
    short = sorted(set(counts) - {s.label for s in test})
    if short:
        raise ApiError(400, f"with train_fraction {train_fraction:g} class {short[0]!r} ({counts[short[0]]} samples) "
                            "keeps no sample out for testing: capture more or lower train_fraction")
    return dict(sorted(counts.items()))


# -- the runner (server side) ----------------------------------------------------------------------------------------
class Job:
    def __init__(self, jid: str, job_dir: Path, spec: dict):
        self.id = jid
        self.dir = job_dir
        self.spec = spec
        self.status = "queued"
        self.created = time.time()
        self.started: float | None = None
        self.ended: float | None = None
        self.error: str | None = None
        self.result: dict | None = None
        self.proc: subprocess.Popen | None = None
        self.cancel_requested = False
        self.studio_stopping = False
        self.watcher: threading.Thread | None = None
        self.stage: str | None = None
        self.progress: dict = {}

    def to_json(self) -> dict:
        if self.status in ACTIVE:
            st = _read_json(self.dir / "state.json")
            if st.get("stage") in STAGES:
                self.stage = st["stage"]
            if isinstance(st.get("progress"), dict):
                self.progress = st["progress"]
        end = self.ended or time.time()
        return {"id": self.id, "status": self.status, "dataset": self.spec["dataset"], "name": self.spec["name"],
                "task": self.spec["task"], "stage": self.stage,
                "progress": {"phase": self.progress.get("phase"), "step": int(self.progress.get("step") or 0),
                             "total": int(self.progress.get("total") or 0)},
                "created": self.created, "elapsed": round(end - (self.started or self.created), 2),
                "error": self.error, "result": self.result}

    def save(self) -> None:
        write_json(self.dir / "job.json", {**self.to_json(), "spec": self.spec})


def _job_from_doc(d: Path, doc: dict) -> Job:
    """A Job from a job.json, or KeyError/TypeError/ValueError when it is not one (a hand-edited or foreign file)."""
    spec = doc["spec"]
    if doc.get("id") != d.name or not isinstance(spec, dict):
        raise ValueError("its id or spec does not match the folder")
    for key in ("dataset", "name", "task"):
        if not isinstance(spec.get(key), str):
            raise ValueError(f"spec.{key} is not a string")
    try:
        validate_name(spec["name"], "export")
    except ApiError as exc:
        raise ValueError(exc.message) from None
    job = Job(d.name, d, spec)
    job.created = float(doc.get("created") or 0)
    job.status = doc.get("status") if doc.get("status") in ("done", "failed", "cancelled") else "failed"
    job.stage = doc.get("stage") if doc.get("stage") in STAGES else None
    job.error = doc.get("error") if isinstance(doc.get("error"), str) else None
    job.result = doc.get("result") if isinstance(doc.get("result"), dict) else None
    job.progress = doc.get("progress") if isinstance(doc.get("progress"), dict) else {}
    job.started, job.ended = job.created, job.created + float(doc.get("elapsed") or 0)
    return job


class JobRunner:
    """One training job at a time, each in its own child process. ``child_argv`` is the command that runs a job
    folder (tests point it at a wrapper that makes the child fail or hang)."""

    def __init__(self, data_dir: Path, store: CaptureStore):
        self.data_dir = Path(data_dir).resolve()
        self.store = store
        self.root = self.data_dir / "jobs"
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.child_argv = [sys.executable, "-m", "huia.server.jobs"]
        self._load_past()

    def _load_past(self) -> None:
        """Jobs of earlier studio sessions (their job.json), newest MAX_LISTED. One still marked running when the
        studio stopped (kill -9, a crash) is failed, and nothing of it is deleted: its run folder may hold work the
        user finished by hand since, and a job.json is not proof enough of what a folder holds. Folders that are
        links, or whose job.json is malformed, are skipped with a warning."""
        if not self.root.is_dir() or self.root.is_symlink():
            return
        docs = []
        for d in self.root.iterdir():
            if d.is_symlink() or not d.is_dir():
                continue
            doc = _read_json(d / "job.json")
            try:
                docs.append((d, doc, _job_from_doc(d, doc)))
            except (KeyError, TypeError, ValueError) as exc:
                if doc:
                    print(f"huia studio: warning: {d / 'job.json'}: skipped, not a job record ({one_line(exc, 120)})",
                          file=sys.stderr)
        for d, doc, job in sorted(docs, key=lambda x: x[2].created)[-MAX_LISTED:]:
            if doc.get("status") in ACTIVE:
                st = _read_json(d / "state.json")
                job.stage = st.get("stage") if st.get("stage") in STAGES else job.stage
                with contextlib.suppress(OSError):  # its last sign of life, for the elapsed time shown
                    job.ended = max(job.created, (d / "state.json").stat().st_mtime)
                if st.get("status") == "done":  # it finished as the studio went down: publish its export now
                    try:
                        self._publish(job)
                        job.status, job.result, job.error = "done", st.get("result"), None
                    except (OSError, ApiError) as exc:
                        job.error = one_line(f"the job finished as the studio stopped, but its model could not be "
                                             f"moved into place: {getattr(exc, 'message', exc)}")
                else:
                    job.error = self._stopped_message(job)
                job.save()
            self.jobs[job.id] = job

    def run_dir(self, name: str) -> Path:
        """DATA/runs/<name>: derived from the name, never read from a job's files (which anyone can edit)."""
        return self.data_dir / "runs" / name

    def export_dir(self, name: str) -> Path:
        return self.data_dir / "exports" / name

    def _stopped_message(self, job: Job) -> str:
        run = self.run_dir(job.spec["name"])
        left = (f"; what it wrote is in {run} (delete that folder to use the name again)"
                if os.path.lexists(run) else "")
        return f"the studio stopped while this job ran{left}"

    def listed(self) -> list[Job]:
        with self._lock:  # (start() may add or drop one meanwhile)
            return list(self.jobs.values())

    def running(self) -> Job | None:
        return next((j for j in self.jobs.values() if j.status in ACTIVE), None)

    def get(self, jid: str) -> Job:
        job = self.jobs.get(jid)
        if job is None:
            raise ApiError(404, f"no job {jid!r}")
        return job

    def start(self, dataset: str, body: TrainIn) -> Job:
        ds = self.store.get(dataset)  # 404 for an unknown dataset, 400 for a bad name
        name = validate_name(body.name, "export")
        export, run = self.export_dir(name), self.run_dir(name)
        with self._lock:
            busy = self.running()
            if busy is not None:
                raise ApiError(409, f"job {busy.id} (training {busy.spec['name']!r} on dataset "
                                    f"{busy.spec['dataset']!r}) is still {busy.status}: wait for it or cancel it")
            if os.path.lexists(export):
                raise ApiError(409, f"an export named {name!r} already exists in {export.parent} (exports are never "
                                    "overwritten: choose another name)")
            if os.path.lexists(run):
                raise ApiError(409, f"a run named {name!r} already exists in {run.parent} (choose another name)")
            counts = check_dataset(ds.root, body.task, body.train_fraction, body.seed, body.split)
            jid = secrets.token_hex(JOB_ID_LEN // 2)
            job_dir = self.root / jid
            job_dir.mkdir(parents=True)
            spec = {"dataset": ds.name, "dataset_dir": str(ds.root), "name": name, "task": body.task,
                    "seed": body.seed, "split": body.split, "train_fraction": body.train_fraction,
                    "quantize": body.quantize, "epochs": body.epochs, "run_dir": str(run), "classes": counts}
            write_json(job_dir / "spec.json", spec)
            job = Job(jid, job_dir, spec)
            self.jobs[jid] = job
            while len(self.jobs) > MAX_LISTED:
                old = next(j for j in self.jobs.values() if j.status not in ACTIVE)
                del self.jobs[old.id]
            try:
                self._spawn(job)
            except OSError as exc:  # the interpreter could not be started: this job failed, the next may run
                job.status, job.ended, job.error = "failed", time.time(), one_line(f"cannot start the training "
                                                                                    f"process: {exc}")
                job.save()
                raise ApiError(500, job.error) from None
            job.save()
        return job

    def _spawn(self, job: Job) -> None:
        env = {**os.environ, "HUIA_PROGRESS": "0", "PYTHONUNBUFFERED": "1"}
        with open(job.dir / "log.txt", "wb") as log:
            job.proc = subprocess.Popen([*self.child_argv, str(job.dir)], stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        job.status, job.started, job.stage = "running", time.time(), "split"
        job.watcher = threading.Thread(target=self._watch, args=(job,), name=f"huia-job-{job.id}", daemon=True)
        job.watcher.start()

    def _watch(self, job: Job) -> None:
        rc = job.proc.wait()
        st = _read_json(job.dir / "state.json")
        try:
            self._record(job, rc, st)
        except Exception as exc:  # noqa: BLE001 -- never leave a job "running" for ever
            job.status, job.error = "failed", one_line(f"internal error recording the job: {exc}")

    def _record(self, job: Job, rc: int, st: dict) -> None:
        """The child has exited: its outcome, and (only for a finished job) its staged export moved into exports/.
        The move happens here, under the lock that cancel takes too, so a job is either done with its export in
        place or not done with no export: a cancel can no longer land between the two."""
        with self._lock:
            job.stage = st.get("stage", job.stage)
            job.progress = st.get("progress") or job.progress
            status, error = "failed", None
            if st.get("status") == "done":  # (written last: a kill after it still leaves finished work)
                try:
                    self._publish(job)
                    status, job.result = "done", st.get("result")
                except OSError as exc:
                    error = one_line(f"the model was trained but could not be moved into place: {exc}")
                except ApiError as exc:
                    error = exc.message
            elif job.studio_stopping:
                error = "the studio stopped while this job ran"
            elif job.cancel_requested:
                status = "cancelled"
            else:
                error = st.get("error") or self._exit_message(job, rc)
            if status != "done":
                job.error = error
                self._discard_outputs(job)  # before the status says so: a poller never sees half-removed outputs
            job.ended = time.time()
            job.status = status
            job.save()

    def _publish(self, job: Job) -> None:
        staged, export = job.dir / "export", self.export_dir(job.spec["name"])
        if not (staged / "model.json").is_file():
            raise ApiError(500, f"the training process reported success but wrote no model ({staged})")
        if os.path.lexists(export):
            raise ApiError(409, f"{export}: appeared while the job ran; the new model is not written over it")
        export.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staged, export)

    @staticmethod
    def _exit_message(job: Job, rc: int) -> str:
        how = f"was killed by signal {signal.Signals(-rc).name}" if rc < 0 else f"exited with code {rc}"
        tail = ""
        try:
            lines = [ln for ln in (job.dir / "log.txt").read_text(errors="replace").splitlines() if ln.strip()]
            tail = f": {one_line(lines[-1], 200)}" if lines else ""
        except OSError:
            pass
        return f"the training process {how} during {job.stage or 'start-up'}{tail} (log: {job.dir / 'log.txt'})"

    def _discard_outputs(self, job: Job) -> None:
        """A job that did not finish leaves nothing behind but its log: its staged export and its run folder
        ``DATA/runs/<name>`` (free when the job started, and this studio holds the folder's lock, so everything
        there is this job's). The captures are never touched."""
        if not job.dir.is_symlink():
            shutil.rmtree(job.dir / "export", ignore_errors=True)
        run = self.run_dir(job.spec["name"])
        if run.is_dir() and not run.is_symlink():
            shutil.rmtree(run, ignore_errors=True)

    def cancel(self, jid: str) -> Job:
        job = self.get(jid)
        with self._lock:
            if job.status not in ACTIVE:
                raise ApiError(409, f"job {jid} has already finished ({job.status})")
            job.cancel_requested = True
            self._kill(job)
        if job.proc is not None:
            job.proc.wait(30)
        for _ in range(300):  # the watcher thread records the outcome right after the exit
            if job.status not in ACTIVE:
                break
            time.sleep(0.01)
        return job

    @staticmethod
    def _kill(job: Job) -> None:
        if job.proc is not None and job.proc.poll() is None:
            try:
                os.killpg(job.proc.pid, signal.SIGKILL)  # its own session: any helper it started goes too
            except (ProcessLookupError, PermissionError):
                job.proc.kill()

    def shutdown(self) -> None:
        """The studio is stopping: no job outlives it, and each is recorded (failed, outputs removed) before the
        process ends (the watcher threads are daemons: they would die with it)."""
        for job in list(self.jobs.values()):
            if job.status in ACTIVE:
                job.studio_stopping = True
                self._kill(job)
                try:
                    job.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
                if job.watcher is not None:
                    job.watcher.join(10)


def build_router(runner: JobRunner) -> APIRouter:
    r = APIRouter(prefix="/api", responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut},
                                            409: {"model": ErrorOut}})

    @r.post("/datasets/{dataset}/train", response_model=JobOut, status_code=202)
    def train(dataset: str, body: TrainIn):
        """Split the dataset, train a classifier on the train part, evaluate it on the held-out part and export it
        to DATA/exports/<name>, in a child process. Poll GET /api/jobs/{id}."""
        return JSONResponse(runner.start(dataset, body).to_json(), status_code=202)

    @r.get("/jobs", response_model=JobList)
    def list_jobs():
        return {"jobs": [j.to_json() for j in reversed(runner.listed())]}

    @r.get("/jobs/{jid}", response_model=JobOut)
    def get_job(jid: str):
        return runner.get(jid).to_json()

    @r.get("/jobs/{jid}/curves.png", response_class=FileResponse,
           responses={200: {"content": {"image/png": {}}, "description": "the run's training curves"}})
    def job_curves(jid: str):
        """The finished job's training curves (RUN/plots/curves.png: loss and accuracy per epoch, phases marked)."""
        job = runner.get(jid)
        png = runner.run_dir(job.spec["name"]) / "plots" / "curves.png"
        inside = png.is_file() and png.resolve().is_relative_to(runner.data_dir.resolve() / "runs")
        if job.status != "done" or not inside or any(p.is_symlink() for p in (png, png.parent, png.parent.parent)):
            raise ApiError(404, f"job {jid} has no training curves" + ("" if job.status == "done" else
                                                                        f" (it is {job.status})"))
        return FileResponse(png, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @r.delete("/jobs/{jid}", response_model=JobOut)
    def cancel_job(jid: str):
        return runner.cancel(jid).to_json()

    return r


# -- the child process -------------------------------------------------------------------------------------------------
class _State:
    """DATA/jobs/<id>/state.json, rewritten atomically: at most every 0.2 s for progress, always on a new stage or
    phase and at the end of one."""

    def __init__(self, job_dir: Path):
        self.path = job_dir / "state.json"
        self.doc: dict = {"status": "running", "stage": None, "progress": {}}
        self._last = 0.0

    def stage(self, name: str) -> None:
        self.doc.update(stage=name, progress={"phase": name, "step": 0, "total": 0})
        self._write()

    def progress(self, phase: str, step: int, total: int) -> None:
        new_phase = self.doc["progress"].get("phase") != phase
        self.doc["progress"] = {"phase": phase, "step": int(step), "total": int(total)}
        if new_phase or step >= total or time.monotonic() - self._last >= 0.2:
            self._write()

    def finish(self, **kw) -> None:
        self.doc.update(kw)
        self._write()

    def _write(self) -> None:
        self._last = time.monotonic()
        write_json(self.path, self.doc)


def _exit_with_parent() -> None:
    """The studio was killed (not stopped): stop too instead of training for nobody."""
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def run_job(job_dir: Path) -> dict:
    """The CLI walk, through the CLI's own functions and defaults, on the job's spec; returns the result."""
    from huia.classify.evaluate import evaluate_run
    from huia.classify.train import train_run
    from huia.cli import build_parser
    from huia.export_cli import export_run

    spec = json.loads((job_dir / "spec.json").read_text())
    state = _State(job_dir)
    run, name = Path(spec["run_dir"]), spec["name"]
    split = run / "split"
    parser = build_parser()

    state.stage("split")  # huia data split DATASET --train F --seed S --by time|hash --out RUN/split
    try:  # captures posted since the POST was accepted pass the same checks (a pose-less one must not slip in)
        check_dataset(Path(spec["dataset_dir"]), spec["task"], spec["train_fraction"], spec["seed"], spec["split"])
    except ApiError as exc:
        from huia.errors import HuiaError

        raise HuiaError(f"the dataset changed after the job was accepted: {exc.message}") from None
    args = parser.parse_args(["data", "split", spec["dataset_dir"], "--out", str(split), "--train",
                              repr(spec["train_fraction"]), "--seed", str(spec["seed"]),
                              "--by", spec["split"]])
    args.func(args)

    state.stage("train")  # huia classify train --data RUN/split/train --out RUN --task T --seed S [--epochs E]
    argv = ["classify", "train", "--data", str(split / "train"), "--out", str(run), "--task", spec["task"],
            "--seed", str(spec["seed"])] + (["--epochs", str(spec["epochs"])] if spec.get("epochs") else [])
    a = parser.parse_args(argv)
    t0 = time.time()
    metrics = train_run(a.data, a.out, task=a.task, shots=a.shots, seed=a.seed, epochs=a.epochs,
                        patience=a.patience, finetune_epochs=a.finetune_epochs, backbone=a.backbone,
                        landmarks=not a.no_landmarks, hidden=a.hidden, dropout=a.dropout, views=a.views,
                        flip=a.flip, val_fraction=a.val_fraction, quiet=True, progress=state.progress)
    train_seconds = time.time() - t0

    state.stage("eval")  # huia classify eval RUN --data RUN/split/test --json
    rep = evaluate_run(run, split / "test", quiet=True)  # (writes RUN/eval.json, which the export carries)

    state.stage("export")  # huia export RUN --out DATA/exports/NAME --quantize Q, staged; the studio moves it
    export_run(run, job_dir / "export", quantize=spec.get("quantize"))
    # huia classify eval RUN --data RUN/split/test --export EXPORT: the model the Huia page will run (quantized)
    ex = evaluate_run(run, split / "test", quiet=True, plot=False, export=job_dir / "export")
    export_check = {"accuracy": ex["accuracy"], "quantization": ex["export"]["quantization"],
                    "agreement_with_run": ex["export"]["agreement_with_run"],
                    "max_abs_diff": ex["export"]["max_abs_diff"]}
    return {"accuracy": rep["accuracy"], "accuracy_ci": list(rep["accuracy_ci"]),
            "accuracy_ci_method": rep["accuracy_ci_method"], "n": rep["samples"], "labels": rep["labels"],
            "per_class": {k: {"accuracy": v["recall"], "n": v["support"], "precision": v["precision"]}
                          for k, v in rep["per_class"].items()},
            "confusion": rep["confusion"], "train_samples": metrics["train_samples"],
            "train_seconds": round(train_seconds, 2), "best_epoch": metrics.get("best_epoch"),
            "split": spec["split"], "train_fraction": spec["train_fraction"],
            "run": str(run), "export": name, "export_url": f"/models/user/{name}/model.json",
            "quantize": spec.get("quantize"), "export_check": export_check,
            "curves_url": f"/api/jobs/{job_dir.name}/curves.png" if (run / "plots" / "curves.png").is_file() else None}


def child_main(job_dir: str | Path) -> int:
    from huia.errors import HuiaError

    job_dir = Path(job_dir)
    _exit_with_parent()
    state = _State(job_dir)
    try:
        result = run_job(job_dir)
    except HuiaError as exc:
        msg = str(exc)
        if "listed above" in msg:  # `data split` printed the problems to the log: name them here instead
            log = (job_dir / "log.txt").read_text(errors="replace") if (job_dir / "log.txt").is_file() else ""
            found = [ln[len("huia: problem: "):] for ln in log.splitlines() if ln.startswith("huia: problem: ")]
            if found:
                more = f" (and {len(found) - 1} more problem(s))" if len(found) > 1 else ""
                msg = f"{found[0]}{more}; nothing was trained"
        print(f"huia: error: {msg}", file=sys.stderr)
        _fail(job_dir, one_line(msg))
        return 2
    except Exception as exc:  # noqa: BLE001 -- any crash is the job's one-line error; the traceback goes to the log
        import traceback

        traceback.print_exc()
        _fail(job_dir, one_line(f"{type(exc).__name__}: {exc}"))
        return 1
    state.doc = {**_read_json(job_dir / "state.json"), "status": "done", "result": result}
    state.finish()
    return 0


def _fail(job_dir: Path, message: str) -> None:
    doc = _read_json(job_dir / "state.json")
    write_json(job_dir / "state.json", {**doc, "status": "failed", "error": message})


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1]))
