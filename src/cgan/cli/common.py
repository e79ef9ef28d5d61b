"""What several commands share: the dataset names of the bundled generators, choosing a generator by a
run folder or --dataset, and checking the name of a file to write."""

from __future__ import annotations

from pathlib import Path

from ..errors import CganError

DATASET_NAMES = ("mnist", "fashion-mnist")


def add_source_arguments(p) -> None:
    p.add_argument("run", nargs="?", help="run folder (default: the bundled generator of --dataset)")
    p.add_argument("--dataset", choices=DATASET_NAMES, help="use the bundled generator for this dataset")


def add_precision_argument(p) -> None:
    p.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="arithmetic of the generator on the CPU: auto (bf16 where the CPU computes it natively; images "
        "within a few grey levels of fp32's) or fp32 (the network's own) (default: auto)",
    )


def generator_source(args) -> str:
    """The run folder or bundled name the arguments choose: exactly one of them."""
    if args.run and args.dataset:
        raise CganError("give either a run folder or --dataset NAME (for the bundled generator), not both")
    if not (args.run or args.dataset):
        raise CganError("give a run folder or --dataset NAME (for the bundled generator)")
    return args.run or args.dataset


def output_path(text: str, suffixes: tuple[str, ...], flag: str = "--out") -> Path:
    path = Path(text)
    if path.suffix.lower() not in suffixes:
        raise CganError(f"{flag} must end in {' or '.join(suffixes)}, got {path.name!r}")
    return path
