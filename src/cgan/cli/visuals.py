"""The visual commands of `cgan`: interpolate, latent-grid, plot, evolution, compare-real and report.

Each works on a run folder or, with --dataset, on a bundled generator; each takes --seed, and the same seed
gives the same bytes. Heavy modules (torch, matplotlib) are imported by the handlers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import CganError
from ..run_folder import RunFolder, resolve_generator_file
from ..units import frame_ms, positive_int, seed_number
from .common import add_source_arguments as add_generator_arguments
from .common import generator_source, output_path

DEFAULT_SEED = 0  # a fixed default, so that the same command draws the same picture
MAX_IMAGES = 10_000  # what one picture may ask the generator for


def at_least_two(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {value}")
    return value


def add_source_arguments(p, seed_help: str = "random seed: same seed, same picture (default: 0)") -> None:
    add_generator_arguments(p)
    p.add_argument("--seed", type=seed_number, default=DEFAULT_SEED, help=seed_help)


def folder_of(args) -> RunFolder:
    """The run folder or bundled generator's folder named by the arguments."""
    return RunFolder(resolve_generator_file(generator_source(args)).parent)


def add_parsers(commands) -> None:
    add_interpolate_parser(commands)
    add_latent_grid_parser(commands)
    add_plot_parser(commands)
    add_evolution_parser(commands)
    add_compare_real_parser(commands)
    add_report_parser(commands)


def add_interpolate_parser(commands) -> None:
    p = commands.add_parser(
        "interpolate",
        help="morph one class into another (fixed noise) or walk within one class (noise to noise)",
    )
    add_source_arguments(p)
    p.add_argument("--from", dest="start", metavar="CLASS", help="class to start from (index or name)")
    p.add_argument("--to", dest="end", metavar="CLASS", help="class to end at")
    p.add_argument("--label", metavar="CLASS", help="instead: stay in this class and slerp the noise")
    p.add_argument("--steps", type=at_least_two, default=20, help="images from start to end (default: 20)")
    p.add_argument(
        "--count",
        type=positive_int,
        default=1,
        help="interpolations side by side, each its own noise (default: 1)",
    )
    p.add_argument(
        "--out",
        required=True,
        help=".gif (plays there and back, looping) or .png (one row per interpolation)",
    )
    p.add_argument("--scale", type=positive_int, default=4, help="enlarge this many times (default: 4)")
    p.add_argument(
        "--frame-ms", type=frame_ms, default=80, help="milliseconds per GIF frame (default: 80)"
    )
    p.set_defaults(handler=run_interpolate)


def add_latent_grid_parser(commands) -> None:
    p = commands.add_parser("latent-grid", help="a 2-D walk through noise space for one class")
    add_source_arguments(p)
    p.add_argument("--label", required=True, metavar="CLASS", help="class index or name, e.g. 5 or sneaker")
    p.add_argument("--size", type=at_least_two, default=10, help="images per side (default: 10)")
    p.add_argument("--out", required=True, help="the .png to write")
    p.add_argument("--scale", type=positive_int, default=3, help="enlarge this many times (default: 3)")
    p.set_defaults(handler=run_latent_grid)


def add_plot_parser(commands) -> None:
    p = commands.add_parser(
        "plot", help="training curves of a run: losses, D(x) and D(G(z)), gradient norms, quality metrics"
    )
    add_source_arguments(p, seed_help="accepted like every visual command's; the curves hold no randomness")
    p.add_argument("--out", help="the .png to write (default: RUN/training_curves.png)")
    p.set_defaults(handler=run_plot)


def add_evolution_parser(commands) -> None:
    p = commands.add_parser("evolution", help="a run's per-epoch sample grids as one looping GIF")
    add_source_arguments(
        p, seed_help="accepted like every visual command's; the grids were drawn in training"
    )
    p.add_argument("--out", required=True, help="the .gif to write")
    p.add_argument(
        "--scale",
        type=positive_int,
        default=1,
        help="enlarge this many times (default: 1; grids are 2x already)",
    )
    p.add_argument("--frame-ms", type=frame_ms, default=400, help="milliseconds per epoch (default: 400)")
    p.add_argument(
        "--every",
        type=positive_int,
        default=1,
        help="only every N-th epoch, with the first and last (default: 1)",
    )
    p.set_defaults(handler=run_evolution)


def add_compare_real_parser(commands) -> None:
    p = commands.add_parser("compare-real", help="real test images beside generated ones, one row per class")
    add_source_arguments(p, seed_help="chooses the real images and the noise (default: 0)")
    p.add_argument("--count", type=positive_int, default=8, help="images of each kind per class (default: 8)")
    p.add_argument("--out", required=True, help="the .png to write")
    p.add_argument("--scale", type=positive_int, default=2, help="enlarge this many times (default: 2)")
    p.add_argument("--data-dir", help="folder with the four IDX files (default: search the usual places)")
    p.set_defaults(handler=run_compare_real)


def add_report_parser(commands) -> None:
    p = commands.add_parser("report", help="one self-contained report.html with all of the pictures above")
    add_source_arguments(p)
    p.add_argument(
        "--out",
        help="the .html to write (default: RUN/report.html, or <dataset>_report.html for a bundled one)",
    )
    p.add_argument(
        "--label",
        default="0",
        metavar="CLASS",
        help="class of the within-class walk and latent grid (default: 0)",
    )
    p.add_argument("--data-dir", help="folder with the four IDX files, for real images beside generated ones")
    p.set_defaults(handler=run_report)


def run_interpolate(args) -> int:
    from ..generation import load_generator
    from ..images import save_bytes
    from ..visuals.pictures import interpolation

    by_classes = args.start is not None or args.end is not None
    if by_classes == (args.label is not None):
        raise CganError("give --from CLASS --to CLASS (between classes) or --label CLASS (within one)")
    if by_classes and (args.start is None or args.end is None):
        raise CganError("a class-to-class interpolation needs both --from and --to")
    if args.steps * args.count > MAX_IMAGES:
        raise CganError(f"{args.steps * args.count} images asked for; at most {MAX_IMAGES} in one picture")
    out = output_path(args.out, (".gif", ".png"))
    generator = load_generator(generator_source(args))
    if by_classes:
        classes = [generator.label_index(args.start), generator.label_index(args.end)]
        if classes[0] == classes[1]:
            raise CganError("--from and --to name the same class; to walk within one class use --label")
        what = f"from {generator.classes[classes[0]]} to {generator.classes[classes[1]]}"
    else:
        classes = None
        what = f"within class {generator.classes[generator.label_index(args.label)]}"
    picture = interpolation(
        generator,
        out.suffix.lower()[1:],
        args.steps,
        args.count,
        args.seed,
        classes=classes,
        label=None if by_classes else args.label,
        scale=args.scale,
        frame_ms=args.frame_ms,
    )
    save_bytes(out, picture)
    side_by_side = f", {args.count} side by side" if args.count > 1 else ""
    print(f"wrote {out}: {args.steps} steps {what}{side_by_side} (seed {args.seed})")
    return 0


def run_latent_grid(args) -> int:
    from ..generation import load_generator
    from ..images import save_bytes
    from ..visuals.pictures import latent_grid_png

    if args.size**2 > MAX_IMAGES:
        raise CganError(f"{args.size}x{args.size} images asked for; at most {MAX_IMAGES} in one picture")
    out = output_path(args.out, (".png",))
    generator = load_generator(generator_source(args))
    save_bytes(out, latent_grid_png(generator, args.label, args.size, args.seed, args.scale))
    name = generator.classes[generator.label_index(args.label)]
    print(f"wrote {out}: {args.size}x{args.size} images of {name} (seed {args.seed})")
    return 0


def run_plot(args) -> int:
    from ..images import save_bytes
    from ..visuals.plots import training_curves_png

    folder = folder_of(args)
    out = output_path(args.out, (".png",)) if args.out else folder.path / "training_curves.png"
    save_bytes(out, training_curves_png(folder))
    print(f"wrote {out}: training curves of {folder.path}")
    return 0


def run_evolution(args) -> int:
    from ..images import save_bytes
    from ..visuals.pictures import evolution_gif

    folder = folder_of(args)
    out = output_path(args.out, (".gif",))
    save_bytes(out, evolution_gif(folder, args.scale, args.frame_ms, args.every))
    print(
        f"wrote {out}: the sample grids of {len(folder.sample_grids())} epochs of {folder.path}, every {args.every}"
    )
    return 0


def run_compare_real(args) -> int:
    from ..generation import load_generator
    from ..images import save_bytes
    from ..visuals.pictures import real_vs_generated

    if args.count * 10 > MAX_IMAGES:  # every dataset cgan knows has 10 classes
        raise CganError(
            f"--count {args.count} asks for too many images; at most {MAX_IMAGES // 10} per class"
        )
    out = output_path(args.out, (".png",))
    generator = load_generator(generator_source(args))
    save_bytes(out, real_vs_generated(generator, args.count, args.seed, args.scale, args.data_dir))
    print(f"wrote {out}: {args.count} real and {args.count} generated images per class (seed {args.seed})")
    return 0


def run_report(args) -> int:
    from ..generation import load_generator
    from ..images import save_bytes
    from ..visuals.report import build_report

    generator = load_generator(generator_source(args))
    folder = RunFolder(Path(generator.source).parent)
    if args.out:
        out = output_path(args.out, (".html",))
    else:
        out = Path(f"{folder.path.name}_report.html") if folder.is_bundled else folder.path / "report.html"
    save_bytes(out, build_report(generator, args.seed, args.data_dir, args.label).encode())
    print(f"wrote {out}: a self-contained report on {folder.path} (seed {args.seed}); open it in a browser")
    return 0
