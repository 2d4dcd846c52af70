"""The studio web app: static pages + vendored TF.js + bundled/user models + the JSON API.

`create_app(data_dir)` builds it (tests use it with httpx); `huia studio` runs it with uvicorn.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from huia import __version__, paths
from huia.errors import HuiaError
from huia.server.capture import ApiError, CaptureStore, build_router, validate_name
from huia.server.jobs import JobRunner, build_router as build_jobs_router
from huia.server.static import LONG_CACHE, NO_CACHE, IsolationHeadersMiddleware, not_found, safe_join, serve_from

DEFAULT_MAX_UPLOAD = 10 * 1024 * 1024
# /api/models reads every export's model.json: one that is huge (metadata bloated by hand or by a bug) is named, not
# parsed (a 200 MB one took 100 s and GBs), and what is sent back of each model's metadata is bounded
MAX_LISTED_MODEL_JSON = 16 * 1024 * 1024
MAX_METADATA_ITEM = 1024 * 1024  # bytes of JSON per top-level userDefinedMetadata key
MAX_METADATA = 2 * 1024 * 1024  # bytes of JSON of one model's metadata in the listing
# what the pages read from the listing to pick models (the rest they read from model.json itself): listed first
LISTED_FIRST = ("huia", "task", "kind", "labels", "input", "backbone", "normalization", "input_size", "description")


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` while they stream: a declared Content-Length over the limit is
    answered 413 before a single body byte is read; a chunked body is counted as it arrives and cut off at the limit
    (so a 50 MB upload never sits in memory or in a temp file)."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        msg = f"request body too large: the limit is {limit} bytes ({limit / 2**20:g} MB; see `huia studio --max-upload`)"
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    await _json(send, 400, "invalid Content-Length header")
                    return
                if declared > limit:
                    await _json(send, 413, msg, close=True)
                    return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _json(send, 413, msg, close=True)


class SameOriginWritesMiddleware:
    """Refuses API writes coming from another site. A multipart POST is a CORS "simple request" that a browser
    sends without preflight, so without this any web page the user visits could upload into (or, with a form,
    spam) the local studio. Browsers always send Origin on cross-origin POSTs; tools like curl send none.
    `Origin: null` (a sandboxed iframe, a file:// page, some redirects) is another site too: the studio's own
    pages are same-origin and never send it, and browsers without Sec-Fetch-Site would otherwise let it through."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(scope.get("headers", []))
            origin = headers.get(b"origin", b"").decode("latin-1")
            host = headers.get(b"host", b"").decode("latin-1")
            site = headers.get(b"sec-fetch-site", b"").decode("latin-1")
            if site == "cross-site" or (origin and origin.split("://", 1)[-1] != host):
                who = "an opaque origin (Origin: null)" if origin == "null" else origin or "another site"
                await _json(send, 403, f"cross-origin request from {who} refused: "
                                       "the studio API only accepts writes from its own pages")
                return
        await self.app(scope, receive, send)


async def _json(send: Send, status: int, message: str, close: bool = False) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _text(v: Any) -> str:
    return v if isinstance(v, str) else ""


def _bounded_metadata(meta: dict) -> tuple[dict, list[str]]:
    """userDefinedMetadata as listed: each top-level key whose JSON is at most MAX_METADATA_ITEM bytes, up to
    MAX_METADATA in all, the keys the pages pick models by first; and the names of the keys left out."""
    kept, omitted, total = {}, [], 0
    for k in sorted(meta, key=lambda k: (k not in LISTED_FIRST, LISTED_FIRST.index(k) if k in LISTED_FIRST else 0)):
        try:
            size = len(json.dumps(meta[k]))
        except (TypeError, ValueError, RecursionError):
            size = MAX_METADATA + 1
        if size > MAX_METADATA_ITEM or total + size > MAX_METADATA:
            omitted.append(str(k))
        else:
            kept[k] = meta[k]
            total += size
    return kept, omitted


def _user_models(data_dir: Path) -> list[dict]:
    out = []
    exports = data_dir / "exports"
    if exports.is_dir():
        for d in sorted(exports.iterdir()):
            mj = d / "model.json"
            if d.is_dir() and mj.is_file():
                out.append(_user_model_entry(d, mj, exports))
    return out


def _user_model_entry(d: Path, mj: Path, exports: Path) -> dict:
    """One export's line in the model list. Whatever is wrong with it (bad JSON, a file that links out of
    DATA/exports, a model.json too big to read, an error nobody foresaw) is this entry's `problem`: one bad export
    never empties every page's model picker."""
    entry = {"name": d.name, "source": "user", "format": None, "kind": "user", "description": "",
             "url": f"/models/user/{d.name}/model.json", "metadata": {}}
    if safe_join(exports, f"{d.name}/model.json") is None:  # the folder or its model.json links out
        entry["problem"] = "the export links outside the data folder's exports/ (not read, not served)"
        return entry
    try:
        size = mj.stat().st_size
        if size > MAX_LISTED_MODEL_JSON:
            entry["problem"] = f"model.json is {size / 2**20:.0f} MB, too large to list"
            return entry
        doc, problem = _read_export(mj)
    except Exception as exc:  # noqa: BLE001 -- see the docstring
        entry["problem"] = f"model.json could not be read ({type(exc).__name__}: {str(exc)[:200]})"
        return entry
    meta = doc.get("userDefinedMetadata") if isinstance(doc.get("userDefinedMetadata"), dict) else {}
    huia_meta = meta.get("huia") if isinstance(meta.get("huia"), dict) else {}
    entry.update(format=_text(doc.get("format")) or None,
                 kind=_text(huia_meta.get("task")) or _text(meta.get("task")) or _text(meta.get("kind")) or "user",
                 description=_text(meta.get("description"))[:1000])
    entry["metadata"], omitted = _bounded_metadata(meta)
    if omitted:
        entry["metadata_omitted"] = omitted  # too big to list; the page reads them from model.json if it needs them
    if problem:
        entry["problem"] = problem  # listed (so the user sees why it is unusable), never offered to load
    return entry


def _read_export(mj: Path) -> tuple[dict, str | None]:
    """model.json of an export and what stops TF.js from loading it (None: nothing found). The loader's own checks
    of the JSON and its weightsManifest (shards present, none outside the folder) without reading the shards, so the
    model list can say "broken: ..." instead of the page failing later with TF.js's "byte length of Float32Array
    should be a multiple of 4"."""
    from huia.tfjs.artifacts import manifest_groups, read_model_json

    try:
        doc = read_model_json(mj)
    except HuiaError as e:
        return {}, e.message
    if "weightsManifest" not in doc:
        return doc, "model.json has no weightsManifest"
    try:
        manifest_groups(doc, mj)
    except HuiaError as e:
        return doc, e.message  # (doc still says what the model was meant to be)
    return doc, None


def _builtin_models(d: Path) -> list[dict]:
    from huia.models import KNOWN

    out = []
    if d.is_dir():
        for mj in sorted(d.glob("*.json")):
            info = KNOWN.get(mj.stem)
            if info is None:
                continue
            out.append({"name": mj.stem, "source": "builtin", "kind": info.kind, "description": info.description,
                        "url": f"/models/builtin/{mj.stem}.json", "format": "graph-model", "metadata": {}})
    return out


def create_app(data_dir: str | Path, *, web_dir: str | Path | None = None, max_upload: int = DEFAULT_MAX_UPLOAD,
               allowed_hosts: list[str] | None = None):
    """The studio ASGI app. `data_dir` holds datasets/ (captures) and exports/ (user models served under
    /models/user/); nothing is ever read or written outside it or web/. `allowed_hosts` (Host header names, e.g.
    ["127.0.0.1", "localhost"]) blocks DNS-rebinding pages from talking to a loopback-only studio."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    web = Path(web_dir).resolve() if web_dir else paths.WEB_DIR.resolve()
    node_modules = web / "node_modules"
    models_dir = node_modules / "@vladmandic" / "human-models" / "models"
    store = CaptureStore(data_dir)
    jobs = JobRunner(data_dir, store)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        jobs.shutdown()  # a training child never outlives the studio
        store.close()

    app = FastAPI(title="huia studio", version=__version__, docs_url=None, openapi_url="/api/openapi.json",
                  redoc_url=None, lifespan=lifespan)
    app.state.store = store
    app.state.data_dir = data_dir
    app.state.jobs = jobs

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError):
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception):
        # still JSON, still one line: the page shows it instead of "Internal Server Error"
        return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
            parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
        return JSONResponse({"error": "invalid request: " + "; ".join(parts)}, status_code=422)

    @app.get("/api/health")
    def health():
        return {"ok": True, "version": __version__, "data_dir": str(data_dir),
                "node_modules": node_modules.is_dir()}

    @app.get("/api/models")
    def list_models():
        if not models_dir.is_dir():
            return JSONResponse({"error": f"bundled models missing: {paths.INSTALL_HINT}", "models": _user_models(
                data_dir)}, status_code=503)
        return {"models": _builtin_models(models_dir) + _user_models(data_dir)}

    app.include_router(build_router(store))
    app.include_router(build_jobs_router(jobs))

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def api_not_found(rest: str):
        raise ApiError(404, f"no API endpoint /api/{rest}")

    @app.api_route("/node_modules/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def vendored(rest: str):
        if not node_modules.is_dir():
            return JSONResponse({"error": f"{node_modules} is missing: {paths.INSTALL_HINT}"}, status_code=503)
        return serve_from(node_modules, rest, LONG_CACHE)

    @app.api_route("/models/builtin/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def builtin_model(rest: str):
        if not models_dir.is_dir():
            return JSONResponse({"error": f"bundled models missing: {paths.INSTALL_HINT}"}, status_code=503)
        return serve_from(models_dir, rest, LONG_CACHE)

    @app.api_route("/models/user/{name}/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def user_model(name: str, rest: str):
        try:
            validate_name(name, "model")
        except ApiError:
            return not_found(f"models/user/{name}")
        # user exports are rewritten in place by `huia export`: revalidate instead of caching for a year. Joined
        # under exports/ (not under exports/NAME): an export folder or file that links out of it is not served
        return serve_from(data_dir / "exports", f"{name}/{rest}", NO_CACHE)

    @app.api_route("/favicon.ico", methods=["GET", "HEAD"], include_in_schema=False)
    def favicon():
        icon = web / "favicon.ico"
        return serve_from(web, "favicon.ico", NO_CACHE) if icon.is_file() else Response(status_code=204)

    @app.api_route("/{rest:path}", methods=["GET", "HEAD"], include_in_schema=False)
    def web_files(rest: str):
        if rest.split("/", 1)[0] == "node_modules":
            return not_found(rest)
        return serve_from(web, rest, NO_CACHE, index="index.html")

    # Isolation headers outermost so even a 413 from the body limiter carries them.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_upload)
    app.add_middleware(SameOriginWritesMiddleware)
    if allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)
    app.add_middleware(IsolationHeadersMiddleware)
    return app
