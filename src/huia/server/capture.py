"""Capture storage and its JSON API: samples captured in the studio land on disk as a dataset folder that
`huia.data.folders.read_class_folders` reads directly:

    DATA/datasets/<dataset>/<label>/<id>.jpg     the frame (JPEG)
    DATA/datasets/<dataset>/<label>/<id>.json    {"id", "label", "timestamp", "model", "width", "height",
                                                  "keypoints": [{"name", "x", "y", "score"}, ...] | null, "score"}
    DATA/datasets/<dataset>/index.sqlite         index (WAL) for fast listing/counting
    DATA/datasets/<dataset>/.trash/...           deleted samples and classes (never destroyed; deleted samples
                                                  come back with POST .../trash/<id>/restore)

Why this order on upload: image and JSON are written to temp files, fsynced, renamed, the directory fsynced, and
only then is the row committed and the request acknowledged. A killed server therefore never loses an
acknowledged sample; at worst it leaves an unacknowledged file, which `reconcile()` indexes at start-up (the folder
is the truth, the index is rebuilt from it). That is also why the index runs with WAL + synchronous=NORMAL: a commit
survives a killed process, and the few commits a power cut could roll back are re-indexed from the already-fsynced
files at the next start. One fsync fewer per sample.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import re
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from huia.data.images import is_image_file

# Always used with fullmatch: `$` (and .match) would also accept a name ending in "\n", which becomes a folder
# whose name breaks every listing that prints it, and comes back from the trash under another name.
NAME_RE = re.compile(r"[\w][\w .+\-]{0,63}", re.UNICODE)
ID_RE = re.compile(r"[0-9]{13}-[0-9a-f]{8}")
CLASS_TRASH_RE = re.compile(r"[0-9]{8}T[0-9]{6}-[0-9a-f]{6}-class-(.+)")  # .trash/<stamp>-class-<label>
TRASH = ".trash"
INDEX = "index.sqlite"
ALLOWED_IMAGE_FORMATS = {"JPEG", "PNG", "WEBP", "BMP"}
MAX_KEYPOINTS_JSON = 256 * 1024
MAX_IMAGE_PIXELS = 40_000_000  # a 7,000 x 5,700 frame: far above any camera's, far below a decompression bomb


class ApiError(Exception):
    """A request the API refuses: becomes {"error": message} with `status`."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def is_valid_name(name: str) -> bool:
    """The folder-name rule of :func:`validate_name` (``/``, ``\\`` and NUL cannot match NAME_RE either)."""
    return bool(NAME_RE.fullmatch(name)) and not name.endswith((".", " ")) and ".." not in name


def validate_name(name: Any, what: str) -> str:
    """Dataset and class names become folder names: one path component, no `..`, `/`, `\\`, NUL, no leading dot
    (hidden/trash folders), no trailing dot or space, at most 64 characters."""
    if not isinstance(name, str) or not name:
        raise ApiError(400, f"{what} name is missing")
    if "\x00" in name or "/" in name or "\\" in name or ".." in name:
        raise ApiError(400, f"invalid {what} name {name!r}: must not contain '..', '/', '\\' or NUL")
    if not is_valid_name(name):
        raise ApiError(400, f"invalid {what} name {name!r}: use 1-64 letters, digits, spaces, '_', '-', '+', '.' "
                            "starting with a letter, digit or '_'")
    return name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durable(path: Path, data: bytes) -> None:
    """temp file in the same folder -> fsync -> rename: the final name only ever holds complete content."""
    tmp = path.with_name(f".tmp-{path.name}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _too_large(what: str) -> ApiError:
    return ApiError(413, f"image too large: {what}; the limit is {MAX_IMAGE_PIXELS:,} pixels")


def verify_image(data: bytes) -> tuple[bytes, int, int]:
    """(jpeg_bytes, width, height). The decoder decides, not the client's content type: JPEG is stored as sent,
    PNG/WebP/BMP are re-encoded to JPEG (the dataset format is <id>.jpg); anything else is refused.

    The size the header declares is checked before anything is decoded: a 10 KB PNG can declare 9000x9000 pixels
    (a quarter of a GB once decoded), and the threadpool runs dozens of uploads at once."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ApiError(400, "the image file is empty")
    try:
        # reads the header only. Past twice PIL's own limit (2 x 89 Mpx) it raises DecompressionBombError; between
        # once and twice it only warns, and our smaller limit below refuses it anyway (no warnings filter here:
        # changing it is not thread-safe, and uploads run in parallel)
        im = Image.open(io.BytesIO(data))
        with im:
            fmt = im.format
            width, height = im.size
            if fmt not in ALLOWED_IMAGE_FORMATS:
                raise ApiError(415, f"unsupported image format {fmt}: send JPEG or PNG")
            if width < 1 or height < 1:
                raise ApiError(400, f"image size {width}x{height} out of range")
            if width * height > MAX_IMAGE_PIXELS:
                raise _too_large(f"{width}x{height} = {width * height:,} pixels")
            im.load()  # decode fully: a truncated or corrupt upload is refused now, not at training time
            if fmt != "JPEG":
                buf = io.BytesIO()
                im.convert("RGB").save(buf, "JPEG", quality=95)
                data = buf.getvalue()
    except ApiError:
        raise
    except UnidentifiedImageError:
        raise ApiError(415, "the uploaded file is not an image (no known image format recognised)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # (the warning: under -W error)
        raise _too_large(str(exc).split(" exceeds")[0].lower()) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ApiError(415, f"the uploaded image is corrupt or truncated ({exc})") from None
    return data, width, height


def _finite_number(v: Any) -> bool:
    """A JSON number that is a finite float: not a bool, not NaN/Infinity, not a 4,000-digit integer."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def parse_keypoints(text: str | None) -> tuple[list[dict] | None, float | None]:
    """Keypoints arrive as JSON: a list of {name, x, y, score} or a pose {score, keypoints: [...]}."""
    if text is None or text == "" or text == "null":
        return None, None
    if len(text) > MAX_KEYPOINTS_JSON:
        raise ApiError(413, "keypoints JSON too large")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"keypoints is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise ApiError(400, "keypoints JSON is nested too deeply") from None
    except ValueError as exc:  # an integer literal over Python's digit limit
        raise ApiError(400, f"keypoints JSON has a number out of range ({str(exc).split(';')[0]})") from None
    score = None
    if isinstance(doc, dict):
        score = doc.get("score")
        doc = doc.get("keypoints")
    if not isinstance(doc, list):
        raise ApiError(400, "keypoints must be a list of {name, x, y, score} or a pose {score, keypoints}")
    out = []
    for i, kp in enumerate(doc):
        if not isinstance(kp, dict) or not all(_finite_number(kp.get(k)) for k in ("x", "y", "score")):
            raise ApiError(400, f"keypoint {i} must be an object with finite numeric x, y and score")
        out.append({"name": str(kp.get("name", str(i))), "x": float(kp["x"]), "y": float(kp["y"]),
                    "score": float(kp["score"])})
    if score is not None and not _finite_number(score):
        raise ApiError(400, "the keypoints pose score must be a finite number")
    return out, None if score is None else float(score)


class SharedExclusiveLock:
    """Many sharers at once, or one exclusive holder, taking turns fairly: a waiting exclusive holder lets no new
    sharer in (a class rename is not starved by a stream of uploads), and the sharers it kept waiting go before the
    next exclusive holder (uploads are not starved by a client renaming in a loop). Not re-entrant."""

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._sharers = 0
        self._exclusive = False
        self._waiting_exclusive = 0
        self._turn = 0  # bumped when an exclusive holder leaves
        self._waiting_sharers: dict[int, int] = {}  # turn a sharer arrived in -> how many are still waiting

    def _passed_over(self) -> bool:
        return any(t < self._turn for t in self._waiting_sharers)

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            turn = self._turn
            if self._exclusive or self._waiting_exclusive:
                self._waiting_sharers[turn] = self._waiting_sharers.get(turn, 0) + 1
                try:
                    while self._exclusive or (self._waiting_exclusive and self._turn == turn):
                        self._cond.wait()
                finally:
                    self._waiting_sharers[turn] -= 1
                    if not self._waiting_sharers[turn]:
                        del self._waiting_sharers[turn]
            self._sharers += 1
        try:
            yield
        finally:
            with self._cond:
                self._sharers -= 1
                if not self._sharers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting_exclusive += 1
            try:
                while self._exclusive or self._sharers or self._passed_over():
                    self._cond.wait()
            finally:
                self._waiting_exclusive -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._turn += 1
                self._cond.notify_all()


class Dataset:
    """One dataset folder + its SQLite index. Thread-safe, with two locks, always taken in this order:

    - ``_folders`` (shared/exclusive) guards the class folders' names: uploads, relabels, sample deletes and
      restores share it from their first file write to their index commit (so they still run, and fsync, in
      parallel); a class rename, delete or restore takes it alone, so no folder moves under a write in flight.
    - ``_lock`` guards the index (and the per-sample file moves), held briefly.
    """

    def __init__(self, root: Path):
        self.root = root
        self.name = root.name
        self._lock = threading.Lock()
        self._folders = SharedExclusiveLock()
        # bumped by each class rename/delete; _removed[label] = the bump that took `label` away. An upload notes
        # the epoch when it starts and is refused if its class was taken away since (see add_sample)
        self._epoch = 0
        self._removed: dict[str, int] = {}
        self._seen: tuple | None = None  # folder signature the index last agreed with (see refresh())
        self._recheck_at: float | None = None
        # images in the class folders that are not studio captures (an augmented copy, a file dropped in by hand):
        # not listed (a sample's id is its capture time), but counted, so the page can say they are there
        self.other_images = 0
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError:
            # the index is only a cache of the folders: a corrupt one is set aside (kept) and rebuilt
            for suffix in ("", "-wal", "-shm"):
                p = root / f"{INDEX}{suffix}"
                if p.exists():
                    os.replace(p, root / f"{INDEX}{suffix}.corrupt-{_stamp()}")
            self._db = self._connect()
        self.reconcile()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.root / INDEX, check_same_thread=False, isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL: survives a killed process; after a power cut reconcile() re-adds rows from the fsynced files
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript("""
                CREATE TABLE IF NOT EXISTS classes (name TEXT PRIMARY KEY, created REAL NOT NULL);
                CREATE TABLE IF NOT EXISTS samples (
                    id TEXT PRIMARY KEY, label TEXT NOT NULL, created REAL NOT NULL,
                    width INTEGER, height INTEGER, bytes INTEGER, has_keypoints INTEGER NOT NULL DEFAULT 0,
                    model TEXT);
                CREATE INDEX IF NOT EXISTS samples_label ON samples(label, id);
            """)
            db.execute("SELECT COUNT(*) FROM samples").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- consistency -------------------------------------------------------------------------------------------
    def reconcile(self, remove_temps: bool = True) -> dict[str, int]:
        """Make the index agree with the folders (the truth): index samples a crash left unindexed (or that were
        moved in by hand), drop rows whose files are gone, remove stale temp files (at start-up only: while the
        server runs a temp file may be an upload in flight). Returns counts of what changed."""
        sig = self._signature()
        with self._lock:
            out = self._reconcile_locked(remove_temps)
        self._note_seen(sig)
        return out

    def _reconcile_locked(self, remove_temps: bool) -> dict[str, int]:
        # under the lock, so an upload's row commit or a delete cannot interleave with the scan and the fix-up
        added = dropped = temps = others = 0
        on_disk: dict[str, tuple[str, Path]] = {}
        jsons: dict[str, list[Path]] = {}
        labels = []
        for d in sorted(self.root.iterdir()):
            if not d.is_dir() or d.name.startswith("."):
                continue
            labels.append(d.name)
            for f in d.iterdir():
                if f.name.startswith(".tmp-"):
                    if remove_temps:
                        f.unlink(missing_ok=True)
                        temps += 1
                elif f.suffix == ".jpg" and ID_RE.fullmatch(f.stem):
                    on_disk[f.stem] = (d.name, f)
                elif f.suffix == ".json" and ID_RE.fullmatch(f.stem):
                    jsons.setdefault(f.stem, []).append(f)
                elif is_image_file(f):
                    others += 1
        if remove_temps:  # at start-up: nothing is in flight
            self._rejoin_split_samples(on_disk, jsons)
        rows = {r[0]: r[1] for r in self._db.execute("SELECT id, label FROM samples")}
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for label in labels:
                self._db.execute("INSERT OR IGNORE INTO classes VALUES (?, ?)", (label, time.time()))
            # a class whose folder is gone (renamed, trashed or moved away by hand) is no class
            for (name,) in self._db.execute("SELECT name FROM classes").fetchall():
                if name not in labels:
                    self._db.execute("DELETE FROM classes WHERE name=?", (name,))
            for sid, label in rows.items():
                if sid not in on_disk or on_disk[sid][0] != label:
                    self._db.execute("DELETE FROM samples WHERE id=?", (sid,))
                    dropped += 1
            for sid, (label, f) in on_disk.items():
                if rows.get(sid) == label:
                    continue
                try:
                    self._index_files(sid, label, f)
                except FileNotFoundError:  # moved away again while we scanned
                    continue
                added += 1
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self.other_images = others
        return {"added": added, "dropped": dropped, "temp_files_removed": temps}

    @staticmethod
    def _rejoin_split_samples(on_disk: dict[str, tuple[str, Path]], jsons: dict[str, list[Path]]) -> None:
        """A crash in the middle of a relabel (image moved, JSON not yet, or the old JSON not yet removed) leaves a
        JSON in the old class folder and the image in the new one. Put the JSON beside its image (label rewritten)
        and drop the stale copy, so the sample keeps its keypoints and `data check` finds no JSON without an image.
        A JSON whose image is nowhere is left alone."""
        for sid, files in jsons.items():
            if sid not in on_disk:
                continue
            label, jpg = on_disk[sid]
            stale = [f for f in files if f.parent != jpg.parent]
            if not stale:
                continue
            if len(stale) == len(files):  # none beside the image yet
                meta = _read_json(stale[0])
                if meta:
                    meta["label"] = label
                    _write_durable(jpg.with_suffix(".json"), json.dumps(meta).encode())
                    _fsync_dir(jpg.parent)
            for f in stale:
                f.unlink(missing_ok=True)

    def _signature(self) -> tuple:
        """Modification times of the dataset folder and of each class folder: moving a file in or out of a folder
        changes that folder's mtime, so comparing this (a stat per class, whatever the number of samples) tells
        whether anything was added, removed or moved since the index last agreed with the disk."""
        entries = [("", os.stat(self.root).st_mtime_ns)]
        with os.scandir(self.root) as it:
            for e in it:
                if not e.name.startswith("."):
                    try:
                        if e.is_dir():
                            entries.append((e.name, e.stat().st_mtime_ns))
                    except FileNotFoundError:
                        continue
        return tuple(sorted(entries))

    def _note_seen(self, sig: tuple) -> None:
        # a change in the same clock tick as the signature (mtimes are coarse on some file systems) would leave
        # it unchanged: when the newest folder changed in the last 2 s, look once more after that window
        newest = max(m for _, m in sig) / 1e9
        self._seen = sig
        self._recheck_at = newest + 2.0 if newest + 2.0 > time.time() else None

    def refresh(self) -> bool:
        """Re-index if the folders changed behind the server's back (`huia data review --quarantine`, a file
        manager, another process): cheap when nothing did. Returns whether a reconcile ran."""
        try:
            sig = self._signature()
        except FileNotFoundError:
            return False  # the dataset folder itself is gone: CaptureStore.get reports that
        if sig == self._seen and (self._recheck_at is None or time.time() < self._recheck_at):
            return False
        with self._lock:
            self._reconcile_locked(remove_temps=False)
        self._note_seen(sig)
        return True

    def _index_files(self, sid: str, label: str, jpg: Path) -> None:
        """(Re-)index a sample from its files on disk (caller holds the lock): the id's time, its JSON, the JPEG's
        size."""
        meta = _read_json(jpg.with_suffix(".json"))
        self._db.execute("INSERT OR REPLACE INTO samples VALUES (?,?,?,?,?,?,?,?)", (
            sid, label, int(sid[:13]) / 1000.0, meta.get("width"), meta.get("height"), jpg.stat().st_size,
            int(bool(meta.get("keypoints"))), meta.get("model")))

    # -- classes -----------------------------------------------------------------------------------------------
    def classes(self) -> list[dict]:
        with self._lock:
            counts = dict(self._db.execute("SELECT label, COUNT(*) FROM samples GROUP BY label").fetchall())
            names = [r[0] for r in self._db.execute("SELECT name FROM classes ORDER BY created, name")]
        for extra in sorted(set(counts) - set(names)):
            names.append(extra)
        return [{"name": n, "count": int(counts.get(n, 0))} for n in names]

    def class_epoch(self) -> int:
        """Note this when a request that writes into a class starts; pass it to add_sample(since=...)."""
        return self._epoch

    def add_class(self, label: str) -> bool:
        validate_name(label, "class")
        with self._folders.shared():
            return self._add_class_shared(label)

    def _add_class_shared(self, label: str) -> bool:
        """mkdir + index row; the caller shares ``_folders`` (so no rename can move the folder in between)."""
        d = self.root / label
        created = not d.exists()
        try:
            d.mkdir(exist_ok=True)
        except FileExistsError:  # a file (not a folder) has that name
            raise ApiError(409, f"cannot create class {label!r} in dataset {self.name!r}: a file of that name is "
                                "in the way") from None
        if created:
            _fsync_dir(self.root)
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO classes VALUES (?, ?)", (label, time.time()))
        return created

    def _taken_away(self, label: str) -> None:
        """Record that `label`'s folder was renamed or deleted (caller holds ``_folders`` exclusively)."""
        self._epoch += 1
        self._removed[label] = self._epoch

    def _require_class(self, label: str) -> Path:
        validate_name(label, "class")
        d = self.root / label
        if not d.is_dir():
            raise ApiError(404, f"no class {label!r} in dataset {self.name!r}")
        return d

    def rename_class(self, label: str, new: str) -> None:
        validate_name(label, "class")
        validate_name(new, "class")
        if new == label:
            self._require_class(label)
            return
        with self._folders.exclusive():  # no upload, relabel or delete is writing into the folder now
            src = self._require_class(label)
            dst = self.root / new
            if dst.exists():
                raise ApiError(409, f"class {new!r} already exists in dataset {self.name!r}")
            with self._lock:
                os.rename(src, dst)
                _fsync_dir(self.root)
                self._taken_away(label)
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("UPDATE samples SET label=? WHERE label=?", (new, label))
                self._db.execute("DELETE FROM classes WHERE name=?", (new,))
                self._db.execute("UPDATE classes SET name=? WHERE name=?", (new, label))
                self._db.execute("INSERT OR IGNORE INTO classes VALUES (?, ?)", (new, time.time()))
                self._db.execute("COMMIT")
            # the label lives in each sample's JSON too: rewrite them so the folder and the JSON agree (still
            # exclusive, so no relabel moves a JSON meanwhile; the index lock is free for listings)
            for j in dst.glob("*.json"):
                meta = _read_json(j)
                if meta:
                    meta["label"] = new
                    _write_durable(j, json.dumps(meta).encode())

    def delete_class(self, label: str) -> str:
        validate_name(label, "class")
        with self._folders.exclusive():
            src = self._require_class(label)
            dst = self._trash_dir() / f"{_stamp()}-class-{label}"
            with self._lock:
                os.rename(src, dst)
                _fsync_dir(self.root)
                self._taken_away(label)
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("DELETE FROM samples WHERE label=?", (label,))
                self._db.execute("DELETE FROM classes WHERE name=?", (label,))
                self._db.execute("COMMIT")
        return str(dst.relative_to(self.root))

    # -- samples -----------------------------------------------------------------------------------------------
    def add_sample(self, label: str, image: bytes, keypoints: list[dict] | None, pose_score: float | None,
                   model: str | None, since: int | None = None) -> dict:
        """Store one capture. ``since``: class_epoch() when the request started; if its class was renamed or
        deleted after that, the upload is refused (409) rather than bringing the class back under its old name."""
        if since is None:
            since = self._epoch
        validate_name(label, "class")
        jpeg, width, height = verify_image(image)
        with self._folders.shared():  # from the first write to the commit: the class folder cannot move
            if self._removed.get(label, 0) > since:
                raise ApiError(409, f"class {label!r} was renamed or deleted during the upload")
            d = self.root / label
            if not d.is_dir():
                self._add_class_shared(label)
            now = time.time()
            sid = f"{int(now * 1000):013d}-{secrets.token_hex(4)}"
            meta = {"id": sid, "label": label, "timestamp": datetime.fromtimestamp(now, timezone.utc).isoformat(),
                    "model": model, "width": width, "height": height, "score": pose_score, "keypoints": keypoints,
                    "image": f"{sid}.jpg"}
            try:
                _write_durable(d / f"{sid}.jpg", jpeg)
                _write_durable(d / f"{sid}.json", json.dumps(meta).encode())
                _fsync_dir(d)
                with self._lock:
                    self._db.execute("INSERT OR IGNORE INTO classes VALUES (?, ?)", (label, now))
                    # OR REPLACE: a refresh() between the file writes and this commit may have indexed the files
                    self._db.execute("INSERT OR REPLACE INTO samples VALUES (?,?,?,?,?,?,?,?)",
                                     (sid, label, now, width, height, len(jpeg), int(bool(keypoints)), model))
            except BaseException as exc:
                # not acknowledged: leave nothing half-stored behind (disk full, folder moved away by hand, ...)
                for ext in (".jpg", ".json"):
                    (d / f"{sid}{ext}").unlink(missing_ok=True)
                if isinstance(exc, FileNotFoundError):
                    raise ApiError(409, f"class {label!r} was moved away during the upload") from None
                if isinstance(exc, OSError):
                    raise ApiError(507 if exc.errno == errno.ENOSPC else 500,
                                   f"could not store the sample: {exc.strerror or exc}") from None
                raise
        return self._row_dict((sid, label, now, width, height, len(jpeg), int(bool(keypoints)), model))

    def _row_dict(self, row) -> dict:
        sid, label, created, width, height, nbytes, has_kp, model = row
        return {"id": sid, "label": label, "created": created, "width": width, "height": height, "bytes": nbytes,
                "has_keypoints": bool(has_kp), "model": model,
                "image_url": f"/api/datasets/{self.name}/samples/{sid}/image"}

    def list_samples(self, label: str | None, offset: int, limit: int,
                     has_keypoints: bool | None = None) -> tuple[int, list[dict]]:
        conds, args = [], []
        if label:
            conds.append("label=?")
            args.append(label)
        if has_keypoints is not None:
            conds.append("has_keypoints=?")
            args.append(int(has_keypoints))
        where = ("WHERE " + " AND ".join(conds)) if conds else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM samples {where}", args).fetchone()[0]
            rows = self._db.execute(f"SELECT * FROM samples {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                                    (*args, limit, offset)).fetchall()
        return total, [self._row_dict(r) for r in rows]

    def get_sample(self, sid: str) -> dict:
        if not ID_RE.fullmatch(sid or ""):
            raise ApiError(400, f"invalid sample id {sid!r}")
        with self._lock:
            row = self._db.execute("SELECT * FROM samples WHERE id=?", (sid,)).fetchone()
        if row is None:
            raise ApiError(404, f"no sample {sid!r} in dataset {self.name!r} (deleted, or its files were moved "
                                "away); reload the list")
        return self._row_dict(row)

    def sample_path(self, sid: str, ext: str = ".jpg") -> Path:
        s = self.get_sample(sid)
        return self.root / s["label"] / f"{sid}{ext}"

    def _live_label_locked(self, sid: str) -> str:
        """The sample's class, re-read under the index lock, its image checked on disk. Files moved away behind
        the server (`data review --quarantine`, a file manager) are a 404 and their stale row is dropped: nothing
        is written for a sample that is not there."""
        row = self._db.execute("SELECT label FROM samples WHERE id=?", (sid,)).fetchone()
        if row is None:
            raise ApiError(404, f"no sample {sid!r} in dataset {self.name!r} (deleted, or its files were moved "
                                "away); reload the list")
        if not (self.root / row[0] / f"{sid}.jpg").is_file():
            self._db.execute("DELETE FROM samples WHERE id=?", (sid,))
            raise ApiError(404, f"sample {sid!r}: its files were moved away from class {row[0]!r} outside the "
                                "studio; reload the list")
        return row[0]

    def delete_sample(self, sid: str) -> str:
        self.get_sample(sid)
        with self._folders.shared(), self._lock:
            label = self._live_label_locked(sid)
            src_dir = self.root / label
            dst_dir = self._trash_dir() / "samples" / label
            dst_dir.mkdir(parents=True, exist_ok=True)
            for ext in (".jpg", ".json"):
                f = src_dir / f"{sid}{ext}"
                if f.exists():
                    os.replace(f, dst_dir / f.name)
            _fsync_dir(src_dir)
            _fsync_dir(dst_dir)
            self._db.execute("DELETE FROM samples WHERE id=?", (sid,))
        return str((dst_dir / f"{sid}.jpg").relative_to(self.root))

    def relabel_sample(self, sid: str, new_label: str) -> dict:
        """Move a sample to another class (a wrong label found in review): files move, JSON label rewritten. The
        image moves first: if it is gone nothing is written; if the JSON cannot be written it moves back; a crash in
        between is repaired at the next start (_rejoin_split_samples)."""
        s = self.get_sample(sid)
        validate_name(new_label, "class")
        if new_label == s["label"]:
            return s
        with self._folders.shared():
            with self._lock:
                label = self._live_label_locked(sid)
            if new_label == label:
                return self.get_sample(sid)
            if not (self.root / new_label).is_dir():
                self._add_class_shared(new_label)
            src_dir, dst_dir = self.root / label, self.root / new_label
            with self._lock:
                now_in = self._live_label_locked(sid)  # again: a concurrent relabel or delete may have moved it
                if now_in == new_label:
                    return self._row_dict(self._db.execute("SELECT * FROM samples WHERE id=?", (sid,)).fetchone())
                if now_in != label:
                    raise ApiError(409, f"sample {sid!r} was moved to class {now_in!r} meanwhile; reload the list")
                src_json = src_dir / f"{sid}.json"
                meta = _read_json(src_json) if src_json.exists() else None
                try:
                    os.replace(src_dir / f"{sid}.jpg", dst_dir / f"{sid}.jpg")
                except FileNotFoundError:
                    self._db.execute("DELETE FROM samples WHERE id=?", (sid,))
                    raise ApiError(404, f"sample {sid!r}: its files were moved away from class {label!r} outside "
                                        "the studio; reload the list") from None
                if meta is not None:
                    meta["label"] = new_label
                    try:
                        _write_durable(dst_dir / f"{sid}.json", json.dumps(meta).encode())
                    except BaseException:
                        os.replace(dst_dir / f"{sid}.jpg", src_dir / f"{sid}.jpg")
                        raise
                    src_json.unlink(missing_ok=True)
                _fsync_dir(dst_dir)
                _fsync_dir(src_dir)
                self._db.execute("UPDATE samples SET label=? WHERE id=?", (new_label, sid))
        return self.get_sample(sid)

    # -- trash: deleted samples can come back ---------------------------------------------------------------
    def _trashed_samples(self) -> list[tuple[str, str, Path]]:
        """(id, label, jpg path) of every sample in .trash/samples/<label>/ (newest deletion first). Folder
        names that are not valid class names are skipped: they cannot come back as classes."""
        base = self.root / TRASH / "samples"
        out = []
        if base.is_dir():
            for d in base.iterdir():
                if not d.is_dir() or not is_valid_name(d.name):
                    continue
                for f in d.glob("*.jpg"):
                    if ID_RE.fullmatch(f.stem):
                        out.append((f.stat().st_mtime, f.stem, d.name, f))
        out.sort(key=lambda e: (-e[0], e[1]))
        return [(sid, label, f) for _, sid, label, f in out]

    def list_trash(self) -> list[dict]:
        """Samples the review grid deleted (still on disk under .trash), newest deletion first."""
        return [{"id": sid, "label": label, "deleted": f.stat().st_mtime,
                 "image_url": f"/api/datasets/{self.name}/trash/{sid}/image"}
                for sid, label, f in self._trashed_samples()]

    def list_trashed_classes(self) -> list[dict]:
        """Classes deleted with their samples (.trash/<stamp>-class-<label>/), newest first."""
        out = []
        trash = self.root / TRASH
        for d in (trash.iterdir() if trash.is_dir() else []):
            m = CLASS_TRASH_RE.fullmatch(d.name)
            if d.is_dir() and m and is_valid_name(m.group(1)):
                out.append({"id": d.name, "label": m.group(1), "deleted": d.stat().st_mtime,
                            "count": sum(1 for f in d.glob("*.jpg") if ID_RE.fullmatch(f.stem))})
        out.sort(key=lambda c: (-c["deleted"], c["id"]))
        return out

    def restore_class(self, tid: str) -> dict:
        """Bring a deleted class back with its samples: the folder moves back when the name is free, else its
        samples join the class of that name (ids already live stay in the trash). The index is rebuilt from the
        folders (reconcile), the source of truth."""
        m = CLASS_TRASH_RE.fullmatch(tid or "")
        if not m or "/" in tid or "\\" in tid or ".." in tid:
            raise ApiError(400, f"invalid deleted-class id {tid!r}")
        label = validate_name(m.group(1), "class")
        src = self.root / TRASH / tid
        if not src.is_dir():
            raise ApiError(404, f"no deleted class {tid!r} in dataset {self.name!r}")
        dst = self.root / label
        with self._folders.exclusive(), self._lock:
            if not src.is_dir():  # restored by a concurrent request
                raise ApiError(404, f"no deleted class {tid!r} in dataset {self.name!r}")
            if not dst.exists():
                os.rename(src, dst)
                _fsync_dir(self.root)
            else:
                live = {r[0] for r in self._db.execute("SELECT id FROM samples")}
                for f in sorted(src.glob("*.jpg")):
                    if not ID_RE.fullmatch(f.stem) or f.stem in live or (dst / f.name).exists():
                        continue
                    if f.with_suffix(".json").exists():
                        os.replace(f.with_suffix(".json"), dst / f"{f.stem}.json")
                    os.replace(f, dst / f.name)
                _fsync_dir(dst)
                if not any(src.iterdir()):
                    src.rmdir()
        self.reconcile(remove_temps=False)  # uploads may be in flight
        return next(c for c in self.classes() if c["name"] == label)

    def trashed_sample_path(self, sid: str) -> Path:
        if not ID_RE.fullmatch(sid or ""):
            raise ApiError(400, f"invalid sample id {sid!r}")
        for tid, _label, f in self._trashed_samples():
            if tid == sid:
                return f
        raise ApiError(404, f"no deleted sample {sid!r} in dataset {self.name!r}")

    def restore_sample(self, sid: str) -> dict:
        """Move a deleted sample back into its class folder (re-created if it was removed since) and re-index it.
        The files move JSON first, then the image, so a crash in between leaves nothing reconcile() would index
        half; the row is committed only after both are in place."""
        src = self.trashed_sample_path(sid)
        label = validate_name(src.parent.name, "class")
        dst_dir = self.root / label
        with self._folders.shared():
            if not dst_dir.is_dir():
                self._add_class_shared(label)
            with self._lock:
                live = self._db.execute("SELECT label FROM samples WHERE id=?", (sid,)).fetchone()
                if live is not None:
                    raise ApiError(409, f"sample {sid!r} is already in class {live[0]!r}")
                if not src.exists():  # restored by a concurrent request
                    raise ApiError(404, f"no deleted sample {sid!r} in dataset {self.name!r}")
                if src.with_suffix(".json").exists():
                    os.replace(src.with_suffix(".json"), dst_dir / f"{sid}.json")
                os.replace(src, dst_dir / f"{sid}.jpg")
                _fsync_dir(src.parent)
                _fsync_dir(dst_dir)
                self._index_files(sid, label, dst_dir / f"{sid}.jpg")
                self._db.execute("INSERT OR IGNORE INTO classes VALUES (?, ?)", (label, time.time()))
        return self.get_sample(sid)

    def _trash_dir(self) -> Path:
        t = self.root / TRASH
        t.mkdir(exist_ok=True)
        return t


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S") + f"-{secrets.token_hex(3)}"


def _jpeg_response(path: Path, what: str, cache_control: str) -> Response:
    """The image's bytes, read in one go. Not a FileResponse: that stats the file, sends its length, then opens it,
    so a sample deleted or restored in between (the grid fetches while the user clicks) went out as a truncated
    body (Chromium: ERR_CONTENT_LENGTH_MISMATCH) instead of a clean 404. Captures are small."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        gone = f"{what}: its image file is gone from {path.parent.name!r} (deleted or moved); reload the list"
        raise ApiError(404, gone) from None
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": cache_control})


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


class CaptureStore:
    """All datasets under DATA/datasets. Every path is built from validated names and checked to stay inside."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir).resolve()
        self.root = self.data_dir / "datasets"
        self.root.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, Dataset] = {}
        self._lock = threading.Lock()

    def _path(self, name: str) -> Path:
        validate_name(name, "dataset")
        p = (self.root / name).resolve()
        if p.parent != self.root:
            raise ApiError(400, f"invalid dataset name {name!r}")
        return p

    def get(self, name: str, fresh: bool = False) -> Dataset:
        """The open dataset; ``fresh``: first re-index it if its folders changed on disk since it was last seen
        (listing routes ask for that, so files moved by hand or by `data review --quarantine` show up or vanish)."""
        p = self._path(name)
        with self._lock:
            ds = self._open.get(name)
            if ds is not None and not p.is_dir():  # the folder went away while open
                ds.close()
                del self._open[name]
                ds = None
            if ds is None:
                if not p.is_dir():
                    raise ApiError(404, f"no dataset {name!r}")
                return self._open.setdefault(name, Dataset(p))
        if fresh:
            ds.refresh()
        return ds

    def create(self, name: str) -> tuple[Dataset, bool]:
        p = self._path(name)
        created = not p.exists()
        p.mkdir(exist_ok=True)
        _fsync_dir(self.root)
        return self.get(name), created

    def names(self) -> list[str]:
        """Dataset folders the API can name (the rule of validate_name): a folder like `old run.` is skipped, not
        an error for every listing."""
        return sorted(d.name for d in self.root.iterdir() if d.is_dir() and is_valid_name(d.name))

    def close(self) -> None:
        with self._lock:
            for ds in self._open.values():
                ds.close()
            self._open.clear()


# -- typed API models ------------------------------------------------------------------------------------------
class NameIn(BaseModel):
    name: str = Field(..., description="dataset or class name: 1-64 letters/digits/space/_-+. , no '..' or '/'")


class LabelIn(BaseModel):
    label: str = Field(..., description="the class to move the sample to")


class ClassInfo(BaseModel):
    name: str
    count: int


class DatasetInfo(BaseModel):
    name: str
    total: int
    classes: list[ClassInfo]
    other_images: int = Field(0, description="images in the class folders that are not studio captures (not listed)")


class DatasetList(BaseModel):
    datasets: list[DatasetInfo]


class ClassList(BaseModel):
    dataset: str
    classes: list[ClassInfo]


class SampleInfo(BaseModel):
    id: str
    label: str
    created: float
    width: int | None
    height: int | None
    bytes: int | None
    has_keypoints: bool
    model: str | None
    image_url: str


class ReviewFlag(BaseModel):
    kind: str = Field(description="blank | duplicate | near_duplicate | no_pose | low_pose | mislabeled | unreadable")
    detail: str


class FlaggedSample(BaseModel):
    sample: SampleInfo
    flags: list[ReviewFlag] = Field(description="every reason this sample was flagged (one sample, one entry)")


class ReviewOut(BaseModel):
    dataset: str
    samples: int = Field(description="samples checked")
    feature_space: str | None = Field(description="where the label check compared samples (keypoints), or null")
    mislabel_note: str | None = Field(description="why the label check did not run, when it did not")
    counts: dict[str, int] = Field(description="flags per kind (a sample may have several)")
    flagged: list[FlaggedSample]


class SamplePage(BaseModel):
    dataset: str
    total: int
    offset: int
    limit: int
    samples: list[SampleInfo]


class Trashed(BaseModel):
    trashed: str


class TrashedSample(BaseModel):
    id: str
    label: str
    deleted: float
    image_url: str


class TrashedClass(BaseModel):
    id: str
    label: str
    deleted: float
    count: int


class TrashList(BaseModel):
    dataset: str
    samples: list[TrashedSample]
    classes: list[TrashedClass]


class RestoredList(BaseModel):
    dataset: str
    restored: list[SampleInfo]
    classes: list[ClassInfo]


class ErrorOut(BaseModel):
    error: str


# The upload is parsed by hand (streamed, size-limited, verified) so FastAPI cannot infer its schema: declare it.
UPLOAD_SCHEMA = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["image", "label"], "properties": {
        "image": {"type": "string", "format": "binary", "description": "the frame: JPEG (stored as is) or PNG"},
        "label": {"type": "string", "description": "class name (created if new)"},
        "keypoints": {"type": "string", "description": "JSON: [{name, x, y, score}] or {score, keypoints}"},
        "model": {"type": "string", "description": "pose model that produced the keypoints"}}}}}}}


def dataset_info(ds: Dataset) -> DatasetInfo:
    classes = ds.classes()
    return DatasetInfo(name=ds.name, total=sum(c["count"] for c in classes),
                       classes=[ClassInfo(**c) for c in classes], other_images=ds.other_images)


def build_router(store: CaptureStore):
    """The /api/datasets routes. Sync handlers on purpose: they run in the threadpool, so fsync never blocks the
    event loop serving other uploads."""
    r = APIRouter(prefix="/api/datasets", responses={400: {"model": ErrorOut}, 404: {"model": ErrorOut}})

    @r.get("", response_model=DatasetList)
    def list_datasets():
        out = []
        for n in store.names():
            try:
                out.append(dataset_info(store.get(n, fresh=True)))
            except ApiError:  # removed since names() looked
                continue
        return DatasetList(datasets=out)

    @r.post("", response_model=DatasetInfo, status_code=201)
    def create_dataset(body: NameIn):
        ds, created = store.create(body.name)
        return JSONResponse(dataset_info(ds).model_dump(), status_code=201 if created else 200)

    @r.get("/{dataset}", response_model=DatasetInfo)
    def get_dataset(dataset: str):
        return dataset_info(store.get(dataset, fresh=True))

    @r.get("/{dataset}/classes", response_model=ClassList)
    def list_classes(dataset: str):
        ds = store.get(dataset, fresh=True)
        return ClassList(dataset=ds.name, classes=[ClassInfo(**c) for c in ds.classes()])

    @r.post("/{dataset}/classes", response_model=ClassList, status_code=201)
    def add_class(dataset: str, body: NameIn):
        ds = store.get(dataset)
        created = ds.add_class(body.name)
        out = ClassList(dataset=ds.name, classes=[ClassInfo(**c) for c in ds.classes()])
        return JSONResponse(out.model_dump(), status_code=201 if created else 200)

    @r.patch("/{dataset}/classes/{label}", response_model=ClassList)
    def rename_class(dataset: str, label: str, body: NameIn):
        ds = store.get(dataset)
        ds.rename_class(label, body.name)
        return ClassList(dataset=ds.name, classes=[ClassInfo(**c) for c in ds.classes()])

    @r.delete("/{dataset}/classes/{label}", response_model=Trashed)
    def delete_class(dataset: str, label: str):
        return Trashed(trashed=store.get(dataset).delete_class(label))

    @r.post("/{dataset}/samples", response_model=SampleInfo, status_code=201,
            responses={413: {"model": ErrorOut}, 415: {"model": ErrorOut}}, openapi_extra=UPLOAD_SCHEMA)
    async def add_sample(dataset: str, request: Request):
        ctype = request.headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/form-data"):
            raise ApiError(415, f"wrong content type {ctype.split(';')[0] or '(none)'!r}: send multipart/form-data "
                                "with an 'image' file, a 'label' field and optional 'keypoints' JSON")
        ds = store.get(dataset)
        since = ds.class_epoch()  # a rename/delete of the class from now on refuses this upload (409)
        async with request.form(max_files=1, max_fields=8, max_part_size=MAX_KEYPOINTS_JSON) as form:
            image = form.get("image")
            label = form.get("label")
            if not isinstance(image, UploadFile):
                raise ApiError(400, "missing 'image' file field")
            if not isinstance(label, str):
                raise ApiError(400, "missing 'label' field")
            part_type = (image.content_type or "").lower()
            if part_type and not (part_type.startswith("image/") or part_type == "application/octet-stream"):
                raise ApiError(415, f"the 'image' part has content type {part_type!r}: "
                                    "expected image/jpeg or image/png")
            data = await image.read()
            kp_text = form.get("keypoints")
            model = form.get("model")
            if kp_text is not None and not isinstance(kp_text, str):
                raise ApiError(400, "'keypoints' must be a text field holding JSON")
        keypoints, score = parse_keypoints(kp_text)
        model = model if isinstance(model, str) and model else None
        if model is not None and len(model) > 128:
            raise ApiError(400, "model name too long")
        info = await run_in_threadpool(ds.add_sample, label, data, keypoints, score, model, since)
        return JSONResponse(info, status_code=201)

    @r.get("/{dataset}/samples", response_model=SamplePage)
    def list_samples(dataset: str, label: str | None = None, offset: int = Query(0, ge=0, le=2**62),
                     limit: int = Query(100, ge=1, le=1000), has_keypoints: bool | None = None):
        ds = store.get(dataset, fresh=True)
        if label:
            validate_name(label, "class")
        total, samples = ds.list_samples(label, offset, limit, has_keypoints)
        return SamplePage(dataset=ds.name, total=total, offset=offset, limit=limit,
                          samples=[SampleInfo(**s) for s in samples])

    @r.get("/{dataset}/review", response_model=ReviewOut)
    def review(dataset: str):
        """`huia data review` on the captures: blank frames, duplicates, frames without a person and, when every
        capture has keypoints, samples whose label disagrees with their nearest neighbours in keypoint space.
        Flags only: nothing is moved; the grid deletes or relabels what the user agrees with. Links in the
        dataset's folders are not followed (the studio never reads outside its data folder)."""
        from huia.data.review import review_dataset
        from huia.errors import HuiaError

        ds = store.get(dataset, fresh=True)
        total, with_kp = ds.list_samples(None, 0, 1)[0], ds.list_samples(None, 0, 1, True)[0]
        if total == 0:
            return ReviewOut(dataset=ds.name, samples=0, feature_space=None, counts={}, flagged=[],
                             mislabel_note="no samples yet: capture some first")
        # labels are compared in keypoint space only: on photos, raw pixels flag a third of a clean set (the CLI's
        # `--features handlandmark-full` is the tool for photos of hands)
        all_kp = with_kp == total
        with ds._folders.shared():  # a class rename or delete must not move files away mid-read
            try:
                res = review_dataset(ds.root, features="keypoints" if all_kp else "none", follow_links=False)
            except HuiaError as exc:
                raise ApiError(409, f"cannot check this dataset now: {exc}") from None
        note = res.mislabel_note
        if not all_kp:
            note = ("labels not compared: not every capture has keypoints (`huia data review --features "
                    "handlandmark-full` compares photos)")
        by_id: dict[str, FlaggedSample] = {}
        for f in res.flags:
            if with_kp == 0 and f.kind in ("no_pose", "low_pose"):
                continue  # captured without a pose model (the camera-image task): "no person" says nothing here
            sid = Path(f.path).stem
            if sid not in by_id:
                try:
                    by_id[sid] = FlaggedSample(sample=SampleInfo(**ds.get_sample(sid)), flags=[])
                except ApiError:  # a file the index does not know (moved in by hand): the grid cannot show it
                    continue
            by_id[sid].flags.append(ReviewFlag(kind=f.kind, detail=f.detail))
        counts: dict[str, int] = {}
        for fs in by_id.values():
            for f in fs.flags:
                counts[f.kind] = counts.get(f.kind, 0) + 1
        return ReviewOut(dataset=ds.name, samples=len(res.samples), feature_space=res.feature_space,
                         mislabel_note=note, counts=counts, flagged=list(by_id.values()))

    @r.get("/{dataset}/samples/{sid}", response_model=SampleInfo)
    def get_sample(dataset: str, sid: str):
        return SampleInfo(**store.get(dataset).get_sample(sid))

    @r.get("/{dataset}/samples/{sid}/image")
    def get_image(dataset: str, sid: str):
        return _jpeg_response(store.get(dataset).sample_path(sid), f"sample {sid!r}", "private, max-age=3600")

    @r.get("/{dataset}/samples/{sid}/meta")
    def get_meta(dataset: str, sid: str):
        path = store.get(dataset).sample_path(sid, ".json")
        return JSONResponse(_read_json(path))

    @r.patch("/{dataset}/samples/{sid}", response_model=SampleInfo)
    def relabel_sample(dataset: str, sid: str, body: LabelIn):
        # fresh, like the listings: files moved away behind the server are a 404, not a half-done move
        return SampleInfo(**store.get(dataset, fresh=True).relabel_sample(sid, body.label))

    @r.delete("/{dataset}/samples/{sid}", response_model=Trashed)
    def delete_sample(dataset: str, sid: str):
        return Trashed(trashed=store.get(dataset, fresh=True).delete_sample(sid))

    @r.get("/{dataset}/trash", response_model=TrashList)
    def list_trash(dataset: str):
        ds = store.get(dataset, fresh=True)
        return TrashList(dataset=ds.name, samples=[TrashedSample(**t) for t in ds.list_trash()],
                         classes=[TrashedClass(**c) for c in ds.list_trashed_classes()])

    @r.get("/{dataset}/trash/{sid}/image")
    def get_trashed_image(dataset: str, sid: str):
        return _jpeg_response(store.get(dataset).trashed_sample_path(sid), f"deleted sample {sid!r}", "no-cache")

    @r.post("/{dataset}/trash/{sid}/restore", response_model=SampleInfo, responses={409: {"model": ErrorOut}})
    def restore_sample(dataset: str, sid: str):
        return SampleInfo(**store.get(dataset).restore_sample(sid))

    @r.post("/{dataset}/trash/classes/{tid}/restore", response_model=ClassInfo)
    def restore_class(dataset: str, tid: str):
        return ClassInfo(**store.get(dataset).restore_class(tid))

    @r.post("/{dataset}/trash/restore", response_model=RestoredList)
    def restore_all(dataset: str):
        """Every deleted class and sample back (a sample whose id is live again is left in the trash)."""
        ds = store.get(dataset)
        classes = [ClassInfo(**ds.restore_class(c["id"])) for c in ds.list_trashed_classes()]
        restored = []
        for t in ds.list_trash():
            try:
                restored.append(SampleInfo(**ds.restore_sample(t["id"])))
            except ApiError as e:
                if e.status != 409:
                    raise
        return RestoredList(dataset=ds.name, restored=restored, classes=classes)

    return r
