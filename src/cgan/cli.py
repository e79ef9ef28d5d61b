"""The `cgan` command: parse arguments, call the library, print one clear line for a user's mistake."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import CganError

DATASET_NAMES = ("mnist", "fashion-mnist")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_train_parser(commands) -> None:
    p = commands.add_parser("train", help="train a conditional GAN into a run folder")
    p.add_argument("--dataset", default="mnist", help="mnist or fashion-mnist (default: mnist)")
    p.add_argument("--data-dir", help="folder with the four IDX files (default: search the usual places)")
    p.add_argument("--out", help="run folder to write (default: runs/<dataset>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this folder from its last checkpoint")
    p.add_argument(
        "--arch", choices=("dcgan", "mlp"), default="dcgan", help="network family (default: dcgan)"
    )
    p.add_argument("--epochs", type=positive_int, default=3, help="train until this epoch (default: 3)")
    p.add_argument("--max-steps", type=positive_int, help="stop after this many optimisation steps in all")
    p.add_argument("--batch-size", type=positive_int, default=64, help="images per step (default: 64)")
    p.add_argument(
        "--lr", type=float, default=2e-4, help="Adam learning rate of both networks (default: 2e-4)"
    )
    p.add_argument("--beta1", type=float, default=0.5, help="Adam beta1 (default: 0.5)")
    p.add_argument("--beta2", type=float, default=0.999, help="Adam beta2 (default: 0.999)")
    p.add_argument(
        "--latent-dim", type=positive_int, default=100, help="size of the noise vector (default: 100)"
    )
    p.add_argument("--g-width", type=positive_int, help="generator width (default: per architecture)")
    p.add_argument("--d-width", type=positive_int, help="discriminator width (default: per architecture)")
    p.add_argument(
        "--embed-dim", type=positive_int, default=16, help="generator label embedding size (default: 16)"
    )
    p.add_argument("--clip-grad", type=float, help="clip each network's gradient to this L2 norm")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same run (default: 0)")
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: PyTorch's choice)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--max-images", type=positive_int, help="train on the first N training images only")
    p.add_argument("--log-every", type=positive_int, default=10, help="steps between metrics.csv rows")
    p.add_argument(
        "--checkpoint-every", type=positive_int, help="steps between checkpoints (always: each epoch)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_train)


def run_train(args) -> int:
    from .train import RESUMABLE, TrainConfig, fit

    if args.resume:
        parser_defaults = TrainConfig()
        changed = [
            name
            for name in ("dataset", "arch", "batch_size", "lr", "latent_dim", "seed", "g_width", "d_width")
            if getattr(args, name) != getattr(parser_defaults, name) and getattr(args, name) is not None
        ]
        if changed or args.out:
            flags = ", ".join("--" + n.replace("_", "-") for n in changed + (["out"] if args.out else []))
            allowed = ", ".join("--" + n.replace("_", "-") for n in RESUMABLE)
            raise CganError(f"{flags} cannot change when resuming; only {allowed} can")
    config = TrainConfig(
        dataset=args.dataset,
        data_dir=args.data_dir,
        out=args.resume or args.out or f"runs/{args.dataset}",
        arch=args.arch,
        latent_dim=args.latent_dim,
        g_width=args.g_width,
        d_width=args.d_width,
        embed_dim=args.embed_dim,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        lr=args.lr,
        beta1=args.beta1,
        beta2=args.beta2,
        clip_grad=args.clip_grad,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
        max_images=args.max_images,
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
    )
    result = fit(config, resume=bool(args.resume), progress=not args.no_progress)
    summary = (
        f"{result.run_dir}: step {result.step} (epoch {result.epoch}), {result.wall_s:.1f} s, "
        f"{result.images_per_s:.0f} images/s"
    )
    if result.interrupted:
        print(f"stopped and saved at {summary}; continue with: cgan train --resume {result.run_dir}")
        return 130
    print(f"done: {summary}")
    return 0


def add_generate_parser(commands) -> None:
    p = commands.add_parser("generate", help="generate images of chosen classes")
    p.add_argument("run", nargs="?", help="run folder (default: the bundled generator of --dataset)")
    p.add_argument("--dataset", choices=DATASET_NAMES, help="use the bundled generator for this dataset")
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
    p.set_defaults(handler=run_generate)


MAX_GENERATE = 1_000_000


def run_generate(args) -> int:
    import math

    import numpy as np

    from .sampling import load_generator, make_grid, random_seed, save_npz, save_png
    from .train import resolve_device

    if bool(args.run) == bool(args.dataset):
        raise CganError("give either a run folder or --dataset NAME (for the bundled generator), not both")
    generator = load_generator(args.run or args.dataset, device=resolve_device(args.device))
    classes = range(len(generator.classes)) if args.all else [generator.label_index(x) for x in args.label]
    labels = np.repeat(np.array(list(classes), dtype=np.int64), args.count)
    if len(labels) > MAX_GENERATE:
        raise CganError(f"{len(labels)} images asked for; at most {MAX_GENERATE} at once")
    seed = random_seed() if args.seed is None else args.seed
    images = generator.generate(labels.tolist(), seed=seed)

    if args.out_dir:
        folder = Path(args.out_dir)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            save_png(folder / f"{i:05d}_{generator.classes[label]}.png", image, args.scale)
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


def add_data_parser(commands) -> None:
    p = commands.add_parser("data", help="find or download datasets")
    sub = p.add_subparsers(dest="data_command", required=True)
    download = sub.add_parser("download", help="download a dataset from its official mirrors, verified")
    download.add_argument("dataset", help="mnist or fashion-mnist")
    download.add_argument("--dest", help="target folder (default: the user cache, ~/.cache/cgan/<dataset>)")
    download.set_defaults(handler=run_data_download)
    where = sub.add_parser("where", help="print the folder a dataset would be read from")
    where.add_argument("dataset", help="mnist or fashion-mnist")
    where.add_argument("--data-dir", help="folder to look in first")
    where.set_defaults(handler=run_data_where)


def run_data_download(args) -> int:
    from . import data

    folder = data.download(args.dataset, dest=args.dest, progress=sys.stderr.isatty())
    print(f"{data.get_spec(args.dataset).name} is ready in {folder}")
    return 0


def run_data_where(args) -> int:
    from . import data

    print(data.find_data_dir(args.dataset, args.data_dir))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cgan", description="Class-conditional GANs: train, generate, evaluate."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    add_train_parser(commands)
    add_generate_parser(commands)
    add_data_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except CganError as exc:
        print(f"cgan: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
