"""What every trainer needs and should not re-invent: seeding, a run directory with resumable checkpoints, and
progress bars.

Run directory layout (``RunDir(path)``)::

    config.json      what was asked (task, data, seed, hyper-parameters) - written once, checked on resume
    log.csv          one row per step/epoch, appended as training goes (flushed, so a crash keeps it)
    metrics.json     final held-out numbers
    plots/           PNGs (loss curves, confusion matrix, PR curve)
    checkpoint.pt    model + optimizer + scheduler + epoch/step + every RNG state, written atomically

Resume contract: ``ckpt = run.load_checkpoint(model, optimizer)`` restores the weights, the optimizer, and the
python/numpy/torch RNG states, and trims ``log.csv`` rows logged after that checkpoint, so an interrupted run
continued from its checkpoint produces the same log and weights as an uninterrupted one (given deterministic ops).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from huia.errors import HuiaError


def seed_everything(seed: int, *, deterministic: bool = True) -> None:
    """Seed python, numpy and torch; with ``deterministic`` ask torch for deterministic kernels (warn-only, so an op
    without a deterministic version still runs)."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    os.environ["PYTHONHASHSEED"] = str(seed)  # for worker subprocesses
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if hasattr(torch.backends, "cudnn"):
            torch.backends.cudnn.benchmark = False
            torch.backends.cudnn.deterministic = True


def rng_state() -> dict:
    """Every global RNG state (python, numpy legacy, torch CPU)."""
    import torch

    name, keys, pos, has_gauss, cached = np.random.get_state()
    # plain types and tensors only: checkpoints are read with torch.load(weights_only=True), never unpickled
    return {"python": random.getstate(), "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos),
                                                   int(has_gauss), float(cached)],
            "torch": torch.get_rng_state()}


def set_rng_state(state: dict) -> None:
    import torch

    if "python" in state:
        s = state["python"]
        random.setstate((s[0], tuple(s[1]), s[2]) if isinstance(s, (list, tuple)) else s)
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))
    if "torch" in state:
        torch.set_rng_state(state["torch"])


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: str | Path, data: Any) -> Path:
    """Atomic JSON write (temp file + rename): a crash never leaves a half file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")
    tmp.replace(p)
    return p


def read_json(path: str | Path) -> Any:
    p = Path(path)
    if not p.is_file():
        raise HuiaError("file not found", p)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HuiaError(f"malformed JSON ({exc})", p) from exc


class RunDir:
    """A training run folder (see module doc). ``RunDir(path)`` creates it if needed."""

    CONFIG = "config.json"
    METRICS = "metrics.json"
    LOG = "log.csv"
    CHECKPOINT = "checkpoint.pt"

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if create:
            self.path.mkdir(parents=True, exist_ok=True)
            self.plots_dir.mkdir(exist_ok=True)
        elif not self.path.is_dir():
            raise HuiaError("run directory not found", self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # --- files -------------------------------------------------------------------------------------------------
    @property
    def plots_dir(self) -> Path:
        return self.path / "plots"

    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    @property
    def metrics_path(self) -> Path:
        return self.path / self.METRICS

    @property
    def log_path(self) -> Path:
        return self.path / self.LOG

    @property
    def checkpoint_path(self) -> Path:
        return self.path / self.CHECKPOINT

    def plot_path(self, name: str) -> Path:
        self.plots_dir.mkdir(parents=True, exist_ok=True)
        return self.plots_dir / name

    # --- config / metrics ------------------------------------------------------------------------------------------
    def save_config(self, config: dict) -> Path:
        return write_json(self.config_path, config)

    def load_config(self) -> dict:
        if not self.config_path.is_file():
            raise HuiaError("not a huia run directory (no config.json)", self.path)
        return read_json(self.config_path)

    def check_config(self, config: dict, keys: Iterable[str] | None = None) -> None:
        """On resume: raise if the stored config differs from ``config`` on ``keys`` (default: all keys of both)."""
        old = json.loads(json.dumps(self.load_config(), default=_json_default))
        new = json.loads(json.dumps(config, default=_json_default))
        keys = list(keys) if keys is not None else sorted(set(old) | set(new))
        diff = [k for k in keys if old.get(k) != new.get(k)]
        if diff:
            shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff[:4])
            raise HuiaError(f"cannot resume with a different configuration ({shown}); use a new --out", self.path)

    def save_metrics(self, metrics: dict, *, merge: bool = True) -> Path:
        """Write metrics.json (merged into what is there unless ``merge=False``)."""
        data = self.load_metrics() if merge and self.metrics_path.is_file() else {}
        data.update(metrics)
        return write_json(self.metrics_path, data)

    def load_metrics(self) -> dict:
        return read_json(self.metrics_path)

    # --- log.csv ---------------------------------------------------------------------------------------------------
    def log(self, row: dict | None = None, **values) -> None:
        """Append one row to log.csv. New columns are allowed: the file is rewritten with the wider header.
        Only the header line is read, so logging every step stays cheap."""
        row = {**(row or {}), **values}
        row = {k: _csv_value(v) for k, v in row.items()}
        header = self._log_header()
        if header is None or any(k not in header for k in row):
            rows = self.read_log() if header is not None else []
            rows.append(row)
            self._write_log(rows)
            return
        with open(self.log_path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, fieldnames=header, lineterminator="\n").writerow({k: row.get(k, "") for k in header})
            f.flush()

    def _log_header(self) -> list[str] | None:
        if not self.log_path.is_file():
            return None
        with open(self.log_path, newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), None)
        return header or None

    def read_log(self) -> list[dict]:
        """Rows of log.csv, numbers parsed back to int/float (empty cells -> None)."""
        if not self.log_path.is_file():
            return []
        with open(self.log_path, newline="", encoding="utf-8") as f:
            return [{k: _parse(v) for k, v in r.items()} for r in csv.DictReader(f)]

    def _write_log(self, rows: list[dict]) -> None:
        header = _header(rows)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in header})
        tmp = self.log_path.with_name(f".{self.LOG}.tmp")
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        tmp.replace(self.log_path)

    def trim_log(self, **limits) -> int:
        """Drop log rows whose column exceeds a limit, e.g. ``trim_log(step=1200)``; returns rows dropped."""
        rows = self.read_log()
        keep = [r for r in rows if not any(r.get(k) is not None and r[k] > v for k, v in limits.items())]
        if len(keep) != len(rows):
            self._write_log(keep)
        return len(rows) - len(keep)

    # --- checkpoints -----------------------------------------------------------------------------------------------
    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    def save_checkpoint(self, model=None, optimizer=None, *, epoch: int | None = None, step: int | None = None,
                        scheduler=None, extra: dict | None = None, path: str | Path | None = None) -> Path:
        """Save model/optimizer/scheduler state, epoch/step, all RNG states and ``extra``, atomically.
        ``epoch``/``step`` are the ones *completed* (resume starts at the next)."""
        import torch

        state = {"epoch": epoch, "step": step, "rng": rng_state(), "extra": extra or {}}
        if model is not None:
            state["model"] = model.state_dict()
        if optimizer is not None:
            state["optimizer"] = optimizer.state_dict()
        if scheduler is not None:
            state["scheduler"] = scheduler.state_dict()
        p = Path(path) if path is not None else self.checkpoint_path
        tmp = p.with_name(f".{p.name}.tmp")
        torch.save(state, tmp)
        tmp.replace(p)
        return p

    def load_checkpoint(self, model=None, optimizer=None, *, scheduler=None, restore_rng: bool = True,
                        trim_log: bool = True, path: str | Path | None = None, map_location="cpu") -> dict | None:
        """Restore what :meth:`save_checkpoint` stored into the given objects; returns the checkpoint dict
        (``epoch``, ``step``, ``extra``) or None when there is none. Log rows after the checkpoint are dropped."""
        import torch

        p = Path(path) if path is not None else self.checkpoint_path
        if not p.is_file():
            return None
        state = read_checkpoint_file(p, map_location)
        if not isinstance(state, dict):
            raise HuiaError("not a huia checkpoint (expected a dict)", p)
        if model is not None and "model" in state:
            model.load_state_dict(state["model"])
        if optimizer is not None and "optimizer" in state:
            optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and "scheduler" in state:
            scheduler.load_state_dict(state["scheduler"])
        if restore_rng and "rng" in state:
            set_rng_state(state["rng"])
        if trim_log:
            limits = {k: state[k] for k in ("step", "epoch") if state.get(k) is not None}
            if "step" in limits:
                limits.pop("epoch", None)  # step is the finer clock
            if limits:
                self.trim_log(**limits)
        return state


def read_checkpoint_file(p: Path, map_location="cpu", *, what: str = "checkpoint",
                         hint: str = "delete it to start over, or use a new --out"):
    """``torch.load(weights_only=True)`` of a file huia wrote (a checkpoint, a classifier's model.pt): it is data, and
    unpickling one from a shared run folder would run its code. Only numpy's array rebuilders are allowed besides tensors and plain types: checkpoints of huia
    before 0.1 stored numpy's random state as an array. A refusal is one line naming what the file holds."""
    import torch

    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    allowed = [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a torn, foreign or unsafe file: say which, in one line
        try:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(p)  # reads the pickle, runs nothing
        except Exception:  # noqa: BLE001 - not even a readable archive
            unsafe = []
        known = {f"{g.__module__}.{g.__qualname__}" for g in allowed}
        unsafe = [g for g in unsafe if g not in known]
        if unsafe:
            why = (f"it holds Python objects huia never stores ({', '.join(unsafe[:3])}): not loaded, as "
                   "loading would run code from the file")
        else:
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # (torch colours its messages)
            why = f"not a readable {what}: {text.splitlines()[0][:200] if text else type(exc).__name__}"
        raise HuiaError(f"cannot read {what} ({why}); {hint}", p) from None


def _header(rows: list[dict]) -> list[str]:
    header: list[str] = []
    for r in rows:
        for k in r:
            if k not in header:
                header.append(k)
    return header


def _csv_value(v):
    if v is None:
        return ""
    if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:  # numpy / torch scalars
        v = v.item()
    if isinstance(v, float):
        return repr(v)
    return v


def _parse(v: str | None):
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def progress_enabled() -> bool:
    """Whether long work shows a bar: ``HUIA_PROGRESS=1`` forces bars on, ``HUIA_PROGRESS=0`` off; otherwise only
    when stderr is a terminal (a log file or a pipe would fill with carriage-return updates)."""
    env = os.environ.get("HUIA_PROGRESS", "").strip()
    if env == "1":
        return True
    if env == "0":
        return False
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress(iterable=None, total: int | None = None, desc: str | None = None, **kwargs):
    """A tqdm progress bar with ETA on stderr, shown as :func:`progress_enabled` says. ``disable=True`` hides it
    always (e.g. quiet mode); ``disable=None`` or ``False`` leaves the choice to :func:`progress_enabled` (tqdm's own
    ``None`` would ignore ``HUIA_PROGRESS``)."""
    from tqdm import tqdm

    disable = kwargs.pop("disable", None)
    kwargs["disable"] = True if disable is True else not progress_enabled()
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", True)
    return tqdm(iterable, total=total, desc=desc, **kwargs)


def prepare_output(path: str | Path, *, flag: str, folder: bool, inputs: Iterable[str | Path] = (),
                   create: bool = True) -> Path:
    """Check an output place before any work, so a bad one is one line (``PATH: problem``) and not a traceback
    after minutes of work, and so the output can never land on the inputs.

    ``folder=True``: PATH is a folder the outputs go in (created); ``False``: PATH is a file (its folder is created).
    Refused, naming PATH and ``flag`` (e.g. "--overlay"): a file where a folder is needed or the reverse, a file in
    the way of a parent folder (``afile/sub``), a folder that cannot be created or written (``/proc/x``), and PATH
    being or lying inside one of ``inputs`` (input files or folders: writing there would overwrite them, or mix the
    outputs into the data a later run reads). Returns PATH as a Path."""
    out = Path(path)
    kind = "a folder" if folder else "a file name"
    if out.exists() and out.is_dir() != folder:
        raise HuiaError(f"{flag} must be {kind}; this is {'a folder' if out.is_dir() else 'a file'}", out)
    real = out.resolve()
    for inp in inputs:
        r = Path(inp).resolve()
        if real == r or r in real.parents:
            if not r.is_dir():
                raise HuiaError(f"{flag} is the input file {inp}; it would be overwritten", out)
            where = "is" if real == r else "is inside"
            raise HuiaError(f"{flag} {where} the input folder {inp}: writing there would overwrite or mix with its "
                            "files; give a separate folder", out)
    target = out if folder else out.parent
    anc = target
    while not anc.exists() and anc != anc.parent:  # the first existing ancestor must be a folder
        anc = anc.parent
    if anc.exists() and not anc.is_dir():
        raise HuiaError(f"{flag}: {anc} is a file, not a folder", out)
    if create:
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise HuiaError(f"{flag}: cannot create the folder {target} ({e.strerror or e})", out) from None
    if target.exists() and not os.access(target, os.W_OK):
        raise HuiaError(f"{flag}: cannot write in the folder {target} (permission denied)", out)
    return out
