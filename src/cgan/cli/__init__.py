"""The `cgan` command: each sub-command's module parses its arguments, calls the library and prints; a user's
mistake (a CganError) or what the operating system refused (an OSError) becomes one clear line and exit
status 2."""

from __future__ import annotations

import argparse
import sys

from ..errors import CganError
from . import data, evaluate, export, generate, serve, study, synth, train, tune, visuals


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cgan", description="Class-conditional GANs: train, generate, evaluate."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train.add_parser(commands)
    generate.add_parser(commands)
    data.add_parser(commands)
    evaluate.add_parsers(commands)
    study.add_parser(commands)
    tune.add_parser(commands)
    export.add_parser(commands)
    synth.add_parser(commands)
    visuals.add_parsers(commands)
    serve.add_parser(commands)
    return parser


def error_line(text: str) -> None:
    """One line to stderr in one write: print() writes the text and its newline separately, and the ranks of a
    torchrun run share one stderr, so two ranks' lines could run together."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CganError as exc:
        error_line(f"cgan: error: {exc}")
        return 2
    except OSError as exc:  # what the operating system refused: a read-only folder, a full disk, ...
        where = f"{exc.filename}: " if exc.filename else ""
        error_line(f"cgan: error: {where}{exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        error_line("cgan: interrupted; what was finished is saved")
        return 130


if __name__ == "__main__":
    sys.exit(main())
