"""`cgan generate`: images of chosen classes as a PNG grid, an .npz or a folder of PNGs."""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import CganError
from ..units import positive_int
from .common import add_source_arguments, generator_source

MAX_GENERATE = 1_000_000


def add_parser(commands) -> None:
    p = commands.add_parser("generate", help="generate images of chosen classes")
    add_source_arguments(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--label", nargs="+", help="class index or name, e.g. 7 or sneaker; several give rows")
    which.add_argument("--all", action="store_true", help="every class, one row each")
    p.add_argument("--count", type=positive_int, default=16, help="images per class (default: 16)")
    p.add_argument("--seed", type=int, help="random seed (default: a fresh one, printed)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="a .png grid or an .npz with images (N,H,W) uint8 and labels (N,)")
    target.add_argument("--out-dir", help="a folder to receive one PNG per image")
    p.add_argument("--scale", type=positive_int, default=1, help="enlarge PNG output this many times")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.set_defaults(handler=run)


def run(args) -> int:
    import numpy as np

    from ..generation import load_generator, random_seed
    from ..images import make_grid, save_npz, save_png, save_pngs
    from ..training.loop import resolve_device

    generator = load_generator(generator_source(args), device=resolve_device(args.device))
    classes = range(len(generator.classes)) if args.all else [generator.label_index(x) for x in args.label]
    labels = np.repeat(np.array(list(classes), dtype=np.int64), args.count)
    if len(labels) > MAX_GENERATE:
        raise CganError(f"{len(labels)} images asked for; at most {MAX_GENERATE} at once")
    seed = random_seed() if args.seed is None else args.seed
    images = generator.generate(labels.tolist(), seed=seed)
    if args.out_dir:
        folder = Path(args.out_dir)
        names = [f"{i:05d}_{generator.classes[label]}.png" for i, label in enumerate(labels)]
        save_pngs(folder, list(zip(names, images, strict=True)), args.scale)
        written = f"{len(images)} PNGs in {folder}"
    else:
        out = Path(args.out)
        if out.suffix.lower() == ".npz":
            save_npz(out, images, labels)
        elif out.suffix.lower() == ".png":
            one_class = len(set(labels.tolist())) == 1
            columns = math.ceil(math.sqrt(len(images))) if one_class else args.count
            save_png(out, make_grid(images, columns), args.scale)
        else:
            raise CganError(f"--out must end in .png or .npz, got {out.name!r}")
        written = str(out)
    names = ", ".join(generator.classes[i] for i in classes)
    print(f"wrote {written}: {len(images)} images of {names} (seed {seed})")
    return 0


