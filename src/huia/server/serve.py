"""`huia serve DIR`: a static server for exported TF.js models, the `http-server -c1 --cors` of the detection
article done properly: explicit CORS origins (echoed only when allowed, `Vary: Origin`; `*` only when asked),
answered preflights, no directory listing, no path traversal, correct MIME types."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from huia.server.static import NO_CACHE, serve_from

ALLOWED_METHODS = "GET, HEAD, OPTIONS"


class ModelServer:
    """ASGI app serving `root`. `cors`: list of allowed origins (exact `scheme://host[:port]`), or ["*"]."""

    def __init__(self, root: str | Path, *, cors: list[str] | None = None, no_cache: bool = True):
        self.root = Path(root).resolve()
        self.origins = [o.rstrip("/") for o in (cors or [])]
        self.any_origin = "*" in self.origins
        self.cache = "no-store" if no_cache else NO_CACHE

    def _cors_headers(self, origin: str | None) -> dict[str, str]:
        h = {"Vary": "Origin"}
        if self.any_origin:
            h["Access-Control-Allow-Origin"] = "*"
        elif origin and origin in self.origins:
            h["Access-Control-Allow-Origin"] = origin
        if "Access-Control-Allow-Origin" in h:
            # a page with COEP: require-corp may embed these files too
            h["Cross-Origin-Resource-Policy"] = "cross-origin"
            h["Access-Control-Expose-Headers"] = "Content-Length, Content-Type, ETag"
        return h

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        cors = self._cors_headers(origin)
        method = scope["method"]
        if method == "OPTIONS":
            if "Access-Control-Allow-Origin" in cors:
                cors.update({"Access-Control-Allow-Methods": ALLOWED_METHODS, "Access-Control-Max-Age": "600"})
                req_headers = headers.get("access-control-request-headers")
                if req_headers:
                    cors["Access-Control-Allow-Headers"] = req_headers
                response: Response = Response(status_code=204, headers=cors)
            else:
                response = JSONResponse({"error": f"origin {origin!r} is not allowed (huia serve --cors ORIGIN)"},
                                        status_code=403, headers=cors)
        elif method not in ("GET", "HEAD"):
            response = JSONResponse({"error": f"method {method} not allowed: this server is read-only"},
                                    status_code=405, headers={**cors, "Allow": ALLOWED_METHODS})
        else:
            path = scope["path"]
            if path == "/" and not (self.root / "index.html").is_file():
                # no listing (what a folder holds is not for any page to enumerate), but a line that says what to ask
                response = JSONResponse({"error": "huia serve: no page here; it serves model files: load "
                                                  "/NAME/model.json (huia serve printed the URLs when it started)"},
                                        status_code=404, headers={**cors, "Cache-Control": "no-store"})
            elif path == "/" or path.endswith("/"):
                response = serve_from(self.root, path.lstrip("/"), self.cache, index="index.html",
                                      extra_headers=cors)
            else:
                response = serve_from(self.root, path.lstrip("/"), self.cache, extra_headers=cors)
            for k, v in cors.items():
                response.headers.setdefault(k, v)
        await response(scope, receive, send)


def run_serve(root: Path, *, host: str, port: int, cors: list[str], no_cache: bool) -> int:
    import uvicorn

    from huia.errors import HuiaError

    if not root.is_dir():
        raise HuiaError("not a directory", root)
    for o in cors:
        if "," in o or " " in o.strip():
            raise HuiaError(f"--cors {o!r}: one origin per --cors (repeat the option: --cors A --cors B)")
        if o != "*" and not (o.startswith("http://") or o.startswith("https://")):
            raise HuiaError(f"--cors {o!r}: give an origin like http://localhost:8080 (or '*' to allow any)")
        if o != "*" and "/" in o.split("://", 1)[1].rstrip("/"):
            raise HuiaError(f"--cors {o!r}: an origin is scheme://host[:port], without a path")
    from huia.server.cli import bind_socket

    app = ModelServer(root, cors=cors, no_cache=no_cache)
    sock = bind_socket(host, port)
    port = sock.getsockname()[1]  # --port 0: the port the system picked, not 0
    models = sorted(p.relative_to(root) for p in root.rglob("model.json"))
    print(f"huia serve: {root} at http://{host}:{port}/")
    for m in models[:20]:
        print(f"  http://{host}:{port}/{m.as_posix()}")
    print(f"  CORS: {'any origin (*)' if '*' in cors else ', '.join(cors) if cors else 'same-origin only'}; "
          f"cache: {'off' if no_cache else 'on'}", flush=True)  # before serving: a pipe reader sees the URLs now
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    server.run(sockets=[sock])
    return 0 if server.started else 1
