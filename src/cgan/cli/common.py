"""What several commands share: the dataset names of the bundled generators, and choosing a generator by a
run folder or --dataset."""

from __future__ import annotations

from ..errors import CganError

DATASET_NAMES = ("mnist", "fashion-mnist")


def add_source_arguments(p) -> None:
    p.add_argument("run", nargs="?", help="run folder (default: the bundled generator of --dataset)")
    p.add_argument("--dataset", choices=DATASET_NAMES, help="use the bundled generator for this dataset")


def generator_source(args) -> str:
    """The run folder or bundled name the arguments choose: exactly one of them."""
    if bool(args.run) == bool(args.dataset):
        raise CganError("give either a run folder or --dataset NAME (for the bundled generator), not both")
    return args.run or args.dataset
