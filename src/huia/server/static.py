"""Static files for the studio and `huia serve`: safe path joining, explicit MIME types, cache and isolation headers.

Why not `StaticFiles` as-is: the browser refuses wasm/ES modules served with a guessed type (`.mjs`, `.wasm`, `.bin`
vary by platform mimetypes tables), and TF.js wasm threads need COOP/COEP on every response, errors included.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.responses import FileResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Explicit table so the answer never depends on the host's /etc/mime.types.
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".bin": "application/octet-stream",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".glb": "model/gltf-binary",
    ".gltf": "model/gltf+json",
    ".task": "application/octet-stream",
    ".tflite": "application/octet-stream",
    ".y4m": "application/octet-stream",
}

NO_CACHE = "no-cache"  # always revalidate (ETag/Last-Modified make that cheap): app files change while developing
LONG_CACHE = "public, max-age=31536000, immutable"  # versioned vendored packages and model weights

ISOLATION_HEADERS = [
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-embedder-policy", b"require-corp"),
    (b"x-content-type-options", b"nosniff"),
]


def mime_type(path: str | Path) -> str:
    return MIME_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def safe_join(root: Path, relpath: str) -> Path | None:
    """`root/relpath` if it names a file inside `root`, else None. Refuses `..`, absolute parts, NUL, backslashes and
    symlinks that lead outside `root` or loop (the resolved path must stay under the resolved root)."""
    if "\x00" in relpath or "\\" in relpath:
        return None
    parts = [p for p in relpath.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or (os.name == "nt" and parts and ":" in parts[0]):
        return None
    try:
        root_resolved = root.resolve()
        candidate = (root_resolved.joinpath(*parts)).resolve() if parts else root_resolved
        candidate.relative_to(root_resolved)
    except (ValueError, OSError, RuntimeError):  # outside the root, or a symlink loop
        return None
    return candidate


def file_response(path: Path, cache_control: str, extra_headers: dict[str, str] | None = None) -> Response:
    headers = {"Cache-Control": cache_control}
    if extra_headers:
        headers.update(extra_headers)
    return FileResponse(path, media_type=mime_type(path), headers=headers)


def not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": f"not found: {what}"}, status_code=404, headers={"Cache-Control": "no-store"})


def serve_from(root: Path, relpath: str, cache_control: str, *, index: str | None = None,
               extra_headers: dict[str, str] | None = None) -> Response:
    """Serve `relpath` under `root` (404 JSON for anything missing or outside it; never a directory listing)."""
    path = safe_join(root, relpath)
    if path is None:
        return not_found(relpath)
    if path.is_dir() and index is not None:
        path = path / index
    if not path.is_file():
        return not_found(relpath)
    return file_response(path, cache_control, extra_headers)


class IsolationHeadersMiddleware:
    """Adds COOP/COEP (cross-origin isolation, needed for SharedArrayBuffer = wasm threads) and nosniff to every
    response, including errors produced by other middleware."""

    def __init__(self, app: ASGIApp, extra: list[tuple[bytes, bytes]] | None = None):
        self.app = app
        self.headers = ISOLATION_HEADERS + list(extra or [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (k, v) for k, v in self.headers if k not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)
