"""`cgan synth`: a synthetic labelled dataset from a generator, as a folder of PNGs, an .npz or IDX files."""

from __future__ import annotations

import argparse
import sys

from ..units import positive_int, seed_number
from .common import add_precision_argument, add_source_arguments, generator_source


def proportions(text: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated weights such as 1,1,2, got {text!r}") from None


def add_parser(commands) -> None:
    p = commands.add_parser(
        "synth",
        help="write a synthetic labelled dataset (folder of PNGs, .npz or IDX) that other tools can train on",
    )
    add_source_arguments(p)
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--per-class", type=positive_int, help="images of every class")
    size.add_argument("--count", type=positive_int, help="images in all, split by --proportions")
    p.add_argument("--proportions", type=proportions, help="weights per class, e.g. 1,1,4,... (default: equal)")
    p.add_argument("--seed", type=seed_number, default=0, help="random seed: same seed, same dataset (default: 0)")
    p.add_argument(
        "--format", choices=("folder", "npz", "idx"), help="(default: npz for an --out ending in .npz, else folder)"
    )
    p.add_argument("--out", required=True, help="the folder (folder, idx) or .npz file to write")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_precision_argument(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..generation import load_generator
    from ..synth import class_counts, synthesize

    generator = load_generator(generator_source(args), precision=args.precision)
    counts = class_counts(len(generator.classes), args.per_class, args.count, args.proportions)
    source = f"--dataset {args.dataset}" if args.dataset else args.run
    size = f"--per-class {args.per_class}" if args.per_class else f"--count {args.count}"
    if args.proportions:
        size += " --proportions " + ",".join(f"{w:g}" for w in args.proportions)
    fmt = f" --format {args.format}" if args.format else ""
    command = f"cgan synth {source} {size} --seed {args.seed}{fmt} --out {args.out}"
    result = synthesize(
        generator, args.out, counts, args.seed, args.format, progress=not args.no_progress and sys.stderr.isatty(),
        command=command,
    )  # fmt: skip
    images, classes = sum(counts), sum(count > 0 for count in counts)  # classes left out (weight 0) not counted
    print(
        f"wrote {result.path}: {images} image{'s' * (images != 1)} of {classes} class{'es' * (classes != 1)} "
        f"({result.manifest['format']}, seed {args.seed})"
    )
    return 0
