"""`huia studio` (the local web studio) and `huia serve` (a static TF.js model server with proper CORS)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from huia.cli import int_range, positive_float
from huia.errors import HuiaError

port_number = int_range(0, 65535, name="port")


def _cmd_studio(args: argparse.Namespace) -> int:
    import threading
    import webbrowser

    import uvicorn

    from huia import paths
    from huia.server.app import create_app

    web = paths.WEB_DIR
    if not (web / "index.html").is_file():
        raise HuiaError("the studio web app is missing (index.html not found)", web)
    if not paths.NODE_MODULES.is_dir():
        print(f"huia studio: warning: {paths.NODE_MODULES} is missing, pages cannot load TF.js: {paths.INSTALL_HINT}",
              file=sys.stderr)
    data = Path(args.data)
    lock = lock_data_folder(data)  # noqa: F841 -- held (open) for the life of this process
    try:
        loopback = args.host in ("127.0.0.1", "localhost", "::1")
        app = create_app(data, max_upload=int(args.max_upload * 1024 * 1024),
                         allowed_hosts=["127.0.0.1", "localhost", "[::1]", "::1"] if loopback else None)
    except OSError as exc:
        raise HuiaError(f"cannot use the data folder: {exc.strerror}", data) from None
    cert, key = tls_files(args, data)
    sock = bind_socket(args.host, args.port)
    port = sock.getsockname()[1]  # --port 0: the port the system picked, not 0
    scheme = "https" if cert else "http"
    shown_host = "127.0.0.1" if args.host in ("0.0.0.0", "") else args.host
    url = f"{scheme}://{shown_host}:{port}/"
    print(f"huia studio: {url}  (data: {data.resolve()}; Ctrl+C to stop)", flush=True)
    if args.host in ("0.0.0.0", "", "::"):
        for ip in lan_addresses():
            print(f"huia studio: on this network: {scheme}://{ip}:{port}/", flush=True)
    if not args.no_browser and _has_gui():
        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    if args.host not in ("127.0.0.1", "localhost", "::1") and not cert:
        print("huia studio: note: browsers only allow the camera on localhost or https: add --https to open the "
              "pages from a phone or another machine on this network", file=sys.stderr)
    elif cert and args.cert is None:
        print(f"huia studio: note: --https uses a self-signed certificate ({cert}): the browser warns once; "
              "accept it to use the camera (or pass your own --cert and --key)", file=sys.stderr)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level,
                            timeout_graceful_shutdown=3, ssl_certfile=cert, ssl_keyfile=key)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else 1


LOCK_NAME = ".studio.lock"
TLS_DIR = ".tls"


def tls_files(args: argparse.Namespace, data: Path) -> tuple[str | None, str | None]:
    """(certificate, key) for https, or (None, None). A phone's browser gives the camera only to https pages
    (localhost excepted), so serving the studio to a phone on the same network needs TLS: --cert/--key use yours,
    --https alone makes a self-signed one (openssl) in DATA/.tls, reused on later starts."""
    if (args.cert is None) != (args.key is None):
        raise HuiaError("--cert and --key go together (the certificate and its private key, PEM files)")
    if args.cert is not None:
        for f in (args.cert, args.key):
            if not Path(f).is_file():
                raise HuiaError("no such file", f)
        check_tls_pair(args.cert, args.key)
        return str(args.cert), str(args.key)
    if not args.https:
        return None, None
    folder = data / TLS_DIR
    cert, key = folder / "cert.pem", folder / "key.pem"
    if cert.is_file() and key.is_file():
        return str(cert), str(key)
    return self_signed_certificate(folder, [args.host, "127.0.0.1", "localhost", *lan_addresses()])


def check_tls_pair(cert: str | Path, key: str | Path) -> None:
    """Load the pair the way the server will, before anything is printed or bound: a file that is not PEM, or a key
    that does not belong to the certificate, is one line instead of a traceback after the URL."""
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(cert), str(key))
    except ssl.SSLError as exc:
        why = ("the key does not belong to this certificate" if exc.reason == "KEY_VALUES_MISMATCH"
               else "not a PEM certificate and its private key (--cert and --key take PEM files)")
        raise HuiaError(why, cert) from None
    except OSError as exc:
        raise HuiaError(f"cannot read the certificate or key: {exc.strerror or exc}", cert) from None


def self_signed_certificate(folder: Path, hosts: list[str]) -> tuple[str, str]:
    """A self-signed certificate for ``hosts`` (IP addresses and names) made with the openssl command, valid
    825 days (what browsers accept); the key is readable by its owner only."""
    import ipaddress
    import os
    import shutil
    import subprocess

    exe = shutil.which("openssl")
    if exe is None:
        raise HuiaError("--https needs the openssl command to make a self-signed certificate; install it, or pass "
                        "your own --cert and --key")
    names = []
    for h in dict.fromkeys(h for h in hosts if h and h not in ("0.0.0.0", "::")):
        try:
            names.append(f"IP:{ipaddress.ip_address(h)}")
        except ValueError:
            names.append(f"DNS:{h}")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    tmp_cert, tmp_key = folder / "cert.pem.tmp", folder / "key.pem.tmp"
    old = os.umask(0o077)
    try:
        r = subprocess.run([exe, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825", "-subj",
                            "/CN=huia studio", "-addext", f"subjectAltName={','.join(names)}",
                            "-keyout", str(tmp_key), "-out", str(tmp_cert)], capture_output=True, text=True)
    finally:
        os.umask(old)
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["failed"])[-1]
        raise HuiaError(f"openssl could not make a certificate: {why}", folder)
    tmp_key.replace(key)
    tmp_cert.replace(cert)
    return str(cert), str(key)


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses on its networks (what a phone types), loopback excluded; no packet is sent."""
    import socket

    found = []
    try:
        found += [a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    try:  # the address of the default route's interface (a UDP "connect" only picks a route)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.connect(("10.255.255.255", 9))
            found.append(u.getsockname()[0])
    except OSError:
        pass
    return [a for a in dict.fromkeys(found) if not a.startswith("127.")]


def lock_data_folder(data: Path):
    """One studio per data folder: its capture-store locks and its training jobs are per process, so a second
    studio on the same folder would race the first on the captures and would take the first's running job for
    one left over by a crash (and remove its run folder). An advisory lock (flock, released by the kernel when the
    process ends, even on kill -9) refuses the second with one line naming the first's pid. Returns the open
    lock file; keep it."""
    import os

    try:
        import fcntl
    except ImportError:  # (Windows: no flock; one studio per folder is then the user's care)
        return None
    import stat

    path = data / LOCK_NAME
    try:
        data.mkdir(parents=True, exist_ok=True)
        # O_NOFOLLOW: a link planted in the lock's place must not make the studio truncate the file it points to
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        why = "is a symbolic link (remove it)" if os.path.islink(path) else exc.strerror
        raise HuiaError(f"cannot use the studio's lock file: {why}", path) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise HuiaError("cannot use the studio's lock file: it is not a regular file (remove it)", path)
    f = os.fdopen(fd, "r+", encoding="utf-8")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        pid = f.read().strip() or "?"
        f.close()
        raise HuiaError(f"another huia studio (pid {pid}) is using this data folder; stop it or start this one with "
                        "another --data (two studios on one folder would race on its captures and training "
                        "jobs)", data) from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def _has_gui() -> bool:
    """Open a tab only where there is a desktop: on a headless Linux box webbrowser would start a terminal browser
    (lynx/w3m) that takes over the console."""
    import os

    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def bind_socket(host: str, port: int):
    """Bind before printing the URL, so a busy port is a clear one-line error (not a uvicorn log line + exit 3)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise HuiaError(f"cannot listen on {host}:{port}: {exc.strerror} (pick another port with --port)") from None
    # inherited by accepted connections; without it small responses wait ~40 ms on Nagle + delayed ACK
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.set_inheritable(True)
    return sock


def _cmd_serve(args: argparse.Namespace) -> int:
    from huia.server.serve import run_serve

    return run_serve(Path(args.dir), host=args.host, port=args.port, cors=args.cors or [], no_cache=args.no_cache)


def register(sub) -> None:
    p = sub.add_parser(
        "studio", help="start the local web studio (live pose, capture, gesture trainer, detector, Huia)",
        description="Start the local web studio: live pose estimation, sample capture with a countdown timer and "
        "pose-classifier training from the captures (held-out accuracy, export for the Huia page), in-browser "
        "gesture training, detector view and the interactive Huia. Everything runs locally: TF.js and the models "
        "are served from web/node_modules, captures, runs and exports are stored under --data (one studio per "
        "data folder).")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1; 0.0.0.0 for "
                   "every network, then add --https: the camera only works on localhost or https)")
    p.add_argument("--port", type=port_number, default=8000, help="port (default 8000)")
    p.add_argument("--data", default="huia-data", help="data folder: datasets/ (captures), runs/ and jobs/ (training from the "
                   "Capture page) and exports/ (your models served at /models/user/NAME/) (default ./huia-data)")
    p.add_argument("--max-upload", type=positive_float, default=10.0, metavar="MB",
                   help="largest accepted upload in MB (default 10)")
    p.add_argument("--https", action="store_true",
                   help="serve over https with a self-signed certificate (made with openssl, kept in DATA/.tls): "
                        "with --host 0.0.0.0, a phone on the same network can open the pages and use its camera "
                        "(browsers give the camera only to https pages or localhost); the browser warns once")
    p.add_argument("--cert", default=None, metavar="PEM", help="https with this certificate (with --key)")
    p.add_argument("--key", default=None, metavar="PEM", help="the certificate's private key (with --cert)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                   help="server log level (default warning)")
    p.set_defaults(func=_cmd_studio)

    s = sub.add_parser(
        "serve", help="serve a folder of exported TF.js models over HTTP with explicit CORS origins",
        description="Serve DIR (e.g. an export folder with model.json + shards) over HTTP for tf.loadGraphModel / "
        "tf.loadLayersModel from another page. Like `http-server -c1 --cors`, but CORS is granted only to the "
        "origins you list (use --cors '*' to allow any), preflights are answered, and nothing outside DIR is served.")
    s.add_argument("dir", help="folder to serve")
    s.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    s.add_argument("--port", type=port_number, default=8080, help="port (default 8080)")
    s.add_argument("--cors", action="append", metavar="ORIGIN", default=[],
                   help="an allowed origin, e.g. http://localhost:3000; repeat the option for several "
                   "(--cors A --cors B); '*' = any origin (default: none, same-origin only)")
    s.add_argument("--no-cache", action="store_true", help="send Cache-Control: no-store (default: no-cache, "
                   "i.e. always revalidate with ETag)")
    s.set_defaults(func=_cmd_serve)
