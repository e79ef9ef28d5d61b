"""`cgan data`: download a dataset, or say where it would be read from."""

from __future__ import annotations

import sys


def add_parser(commands) -> None:
    p = commands.add_parser("data", help="find or download datasets")
    sub = p.add_subparsers(dest="data_command", required=True)
    download = sub.add_parser("download", help="download a dataset from its official mirrors, verified")
    download.add_argument("dataset", help="mnist or fashion-mnist")
    download.add_argument("--dest", help="target folder (default: the user cache, ~/.cache/cgan/<dataset>)")
    download.set_defaults(handler=run_download)
    where = sub.add_parser("where", help="print the folder a dataset would be read from")
    where.add_argument("dataset", help="mnist or fashion-mnist")
    where.add_argument("--data-dir", help="folder to look in first")
    where.set_defaults(handler=run_where)


def run_download(args) -> int:
    from .. import data

    folder = data.download(args.dataset, dest=args.dest, progress=sys.stderr.isatty())
    print(f"{data.get_spec(args.dataset).name} is ready in {folder}")
    return 0


def run_where(args) -> int:
    from .. import data

    print(data.find_data_dir(args.dataset, args.data_dir))
    return 0
