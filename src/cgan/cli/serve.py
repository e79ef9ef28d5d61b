"""`cgan serve`: the REST API and web page of cgan.serve on a port (needs: pip install 'cgan[serve]')."""

from __future__ import annotations

import argparse

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
    p.set_defaults(handler=run_serve)


def run_serve(args) -> int:
    try:
        import uvicorn

        from ..serve import create_app
    except ImportError as exc:
        raise CganError(f"cgan serve needs {exc.name}: pip install 'cgan[serve]'") from None
    app = create_app(args.models or None)  # loads every model now: a broken one stops here, with its reason
    uvicorn.run(app, host=args.host, port=args.port)
    return 0
