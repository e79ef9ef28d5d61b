"""`cgan generate`: images of chosen classes as a PNG grid, an .npz or a folder of PNGs."""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import CganError
from ..units import positive_int, seed_number
from .common import add_precision_argument, add_source_arguments, generator_source

MAX_GENERATE = 1_000_000


def add_parser(commands) -> None:
    p = commands.add_parser("generate", help="generate images of chosen classes")
    add_source_arguments(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--label", nargs="+", help="class index or name, e.g. 7 or sneaker; several give rows")
    which.add_argument("--all", action="store_true", help="every class, one row each")
    p.add_argument("--count", type=positive_int, default=16, help="images per class (default: 16)")
    p.add_argument("--seed", type=seed_number, help="random seed (default: a fresh one, printed)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="a .png grid or an .npz with images (N,H,W) uint8 and labels (N,)")
    target.add_argument("--out-dir", help="a folder to receive one PNG per image")
    p.add_argument("--scale", type=positive_int, default=1, help="enlarge PNG output this many times")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    add_precision_argument(p)
    p.set_defaults(handler=run)


def grid_columns(labels, count: int) -> int:
    """A square grid for one class, else a row of `count` images per class."""
    return math.ceil(math.sqrt(len(labels))) if len(set(labels.tolist())) == 1 else count


def run(args) -> int:
    import numpy as np

    from ..generation import load_generator, random_seed
    from ..images import check_pixels, grid_shape, make_grid, save_npz, save_png, save_pngs
    from ..training.loop import resolve_device

    if not (args.out or args.out_dir):
        raise CganError(f"{'--out' if args.out is not None else '--out-dir'} is empty; name a file or folder")
    kind = "folder" if args.out_dir else Path(args.out).suffix.lower()
    if kind not in ("folder", ".png", ".npz"):
        raise CganError(f"--out must end in .png or .npz, got {Path(args.out).name!r}")
    generator = load_generator(
        generator_source(args), device=resolve_device(args.device), precision=args.precision
    )
    classes = range(len(generator.classes)) if args.all else [generator.label_index(x) for x in args.label]
    labels = np.repeat(np.array(list(classes), dtype=np.int64), args.count)
    if len(labels) > MAX_GENERATE:
        raise CganError(f"{len(labels)} images asked for; at most {MAX_GENERATE} at once")
    height, width = generator.arch.image_shape[1:]
    if kind == "folder":
        check_pixels(width * args.scale, height * args.scale, len(labels))
    elif kind == ".png":
        grid_height, grid_width = grid_shape(len(labels), height, width, grid_columns(labels, args.count))
        check_pixels(grid_width * args.scale, grid_height * args.scale)
    seed = random_seed() if args.seed is None else args.seed
    images = generator.generate(labels.tolist(), seed=seed)
    if kind == "folder":
        names = [f"{i:05d}_{generator.classes[label]}.png" for i, label in enumerate(labels)]
        save_pngs(Path(args.out_dir), list(zip(names, images, strict=True)), args.scale)
        written = f"{len(images)} PNGs in {args.out_dir}"
    elif kind == ".npz":
        save_npz(Path(args.out), images, labels)
        written = args.out
    else:
        save_png(Path(args.out), make_grid(images, grid_columns(labels, args.count)), args.scale)
        written = args.out
    class_names = ", ".join(generator.classes[i] for i in classes)
    print(f"wrote {written}: {len(images)} image{'s' * (len(images) != 1)} of {class_names} (seed {seed})")
    return 0
