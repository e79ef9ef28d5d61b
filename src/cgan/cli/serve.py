"""`cgan serve`: the REST API and web page of cgan.serve on a port (needs: pip install 'cgan[serve]')."""

from __future__ import annotations

import argparse
import socket

from ..errors import CganError


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {port}")
    return port


def add_parser(commands) -> None:
    p = commands.add_parser(
        "serve",
        help="serve a REST API and a web page that generate images",
        description="Serves POST /generate, /gen_images, /interpolate, GET /models, /health, the API docs at "
        "/docs and a page at / to pick a model and class and see the images.",
    )
    p.add_argument(
        "models",
        nargs="*",
        metavar="MODEL",
        help="run folders, weights files or bundled names (default: the bundled mnist and fashion-mnist)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0: every network (default: 127.0.0.1)",
    )
    p.add_argument("--port", type=port_number, default=8000, help="port to listen on (default: 8000)")
    p.add_argument(
        "--allowed-hosts",
        type=host_names,
        metavar="NAMES",
        help="comma-separated host names the server answers to, any port, e.g. 'cgan.example.org,10.0.0.5'; "
        "'*': any; another Host header gets 400 (default: localhost,127.0.0.1,[::1] when --host is a "
        "loopback address, else any)",
    )
    p.set_defaults(handler=run_serve)


def host_names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected host names separated by commas, e.g. 'example.org,10.0.0.5'")
    return names


def default_allowed_hosts(host: str) -> list[str]:
    """Loopback names for a loopback bind (so a rebound DNS name is refused), else any host."""
    from ..serve import LOOPBACK_HOSTS

    loopback = host in ("localhost", "::1") or host.startswith("127.")
    return list(LOOPBACK_HOSTS) if loopback else ["*"]


def run_serve(args) -> int:
    try:
        import uvicorn

        from ..serve import create_app
    except ImportError as exc:
        raise CganError(f"cgan serve needs {exc.name}: pip install 'cgan[serve]'") from None
    allowed_hosts = args.allowed_hosts or default_allowed_hosts(args.host)
    sock = listening_socket(args.host, args.port)  # a taken port or unknown host: one line, before any model loads
    with sock:
        # Loads every model now: a broken one stops here, with its reason.
        app = create_app(args.models or None, allowed_hosts=allowed_hosts)
        host, port = sock.getsockname()[:2]
        print(f"cgan serve: http://{f'[{host}]' if ':' in host else host}:{port}/ (Ctrl-C stops it)", flush=True)
        uvicorn.Server(uvicorn.Config(app)).run(sockets=[sock])
    return 0


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port, as uvicorn would bind it, or a CganError saying why it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise CganError(f"cannot listen on {host}: {getattr(exc, 'strerror', None) or exc}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise CganError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock
