"""`cgan train`: its flags are generated from TrainConfig's fields, so each flag is written once."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from ..errors import CganError
from ..training import TrainResult, fit
from ..training.config import (
    DATASET_DEFAULTS,
    TrainConfig,
    dataset_defaults,
    default_of,
    flag,
    train_arguments,
)


def describe_default(f) -> str:
    if f.default is None or f.metadata.get("cli_default", f.default) is None:
        return f.metadata.get("unset", "none")
    if isinstance(f.default, bool):
        return "on" if f.default else "off"
    return f"{f.default:g}" if isinstance(f.default, float) else str(f.default)


def cli_default(f):
    """What an option that was not given means on the command line."""
    return f.metadata.get("cli_default", default_of(f.name))


def config_values(args: argparse.Namespace) -> tuple[dict, set[str]]:
    """The TrainConfig values a parsed `cgan train` command line means, and the names of the options it gave."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values = {f.name: cli_default(f) for f in fields(TrainConfig)}
    return {**values, **dataset_defaults(given), **given}, set(given)


def add_parser(commands) -> None:
    own = "; ".join(f"{name}: {' '.join(train_arguments(options))}" for name, options in DATASET_DEFAULTS.items())
    p = commands.add_parser(
        "train",
        help="train a conditional GAN into a run folder",
        epilog=f"Built-in datasets with defaults of their own (--arch dcgan), used where not given: {own} "
        "(docs/training.md).",
    )
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its last checkpoint")
    for f in fields(TrainConfig):
        meta = dict(f.metadata)
        kwargs: dict[str, object] = {
            "dest": f.name,
            "default": argparse.SUPPRESS,  # absent unless given: a resumed run keeps what was not given
            "help": f"{meta['help']} (default: {describe_default(f)})",
        }
        if f.type == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = meta.get("parse", str)
            for key in ("choices", "metavar"):
                if key in meta:
                    kwargs[key] = meta[key]
            if "const" in meta:
                kwargs.update(nargs="?", const=meta["const"])
        p.add_argument(flag(f.name), **kwargs)
    p.add_argument("--no-progress", action="store_true", help="no progress bar (there is none unless stderr is a terminal)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..training.distributed import Distributed, end_process

    if args.resume and getattr(args, "out", None):
        raise CganError("--out cannot change when resuming: the run stays in its folder")
    values, given = config_values(args)
    values["out"] = args.resume or values["out"] or f"runs/{values['dataset']}"
    config = TrainConfig(**values)
    own = {} if args.resume else dataset_defaults({name: values[name] for name in given})
    rank = Distributed.from_environment()
    if own and rank.is_main:
        config.validate()  # a mistake in the options is the one line printed
        print(f"{values['dataset']}: its own defaults {' '.join(train_arguments(own))} (docs/training.md)")
    progress = not args.no_progress and sys.stderr.isatty()
    result = fit(config, resume=bool(args.resume), progress=progress, given=given)
    status = report(result)
    if rank.active:
        end_process(status)  # this rank's run is over and saved: past gloo's teardown (end_process)
    return status


def report(result: TrainResult) -> int:
    """The run's last line (from rank 0 alone under torchrun) and the exit status: 130 when interrupted."""
    status = 130 if result.interrupted else 0
    if not result.is_main:
        return status
    if result.images == 0 and not result.interrupted:
        print(
            f"{result.run_dir} had already ended at step {result.step} (epoch {result.epoch}): nothing was "
            f"trained; to go on, resume with a larger --epochs or --max-steps"
        )
        return status
    summary = (
        f"{result.run_dir}: step {result.step} (epoch {result.epoch}), {result.wall_s:.1f} s, "
        f"{result.images_per_s:.0f} images/s"
    )
    if result.interrupted:
        print(f"stopped and saved at {summary}; continue with: cgan train --resume {result.run_dir}")
    else:
        print(f"done: {summary}")
    return status
