"""`cgan evaluate` (the numbers of a generator or of sample files, beside the real-data floor) and
`cgan train-evaluator` (the classifier those numbers are measured with)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..checkpoint import check_writable
from ..errors import CganError
from ..progress import bars_on_terminal
from ..units import positive_int, seed_number, thread_count
from .common import DATASET_NAMES, output_path


def add_parsers(commands) -> None:
    add_train_evaluator_parser(commands)
    add_evaluate_parser(commands)


def add_train_evaluator_parser(commands) -> None:
    p = commands.add_parser("train-evaluator", help="train the classifier that `cgan evaluate` measures with")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--dataset", help="a built-in dataset: mnist, fashion-mnist or cifar10 (default: mnist)")
    which.add_argument("--data", metavar="PATH", help="your own images: a folder of class sub-folders or an .npz")
    p.add_argument("--image-size", type=int, choices=(28, 32, 64), help="image size of --data (as cgan train's)")
    p.add_argument("--channels", type=int, choices=(1, 3), help="1 or 3 channels for --data (as cgan train's)")
    p.add_argument(
        "--epochs", type=positive_int, help="default: 6 for mnist, 10 for the others, more for small ones"
    )
    p.add_argument(
        "--out",
        help="folder for <dataset>.safetensors (default: ./evaluators for a built-in dataset; for --data, the "
        "user cache, where cgan evaluate and --eval-every look)",
    )
    p.add_argument("--data-dir", help="folder with the dataset's files (default: search the usual places)")
    p.add_argument("--seed", type=seed_number, default=0, help="random seed (default: 0)")
    p.add_argument("--threads", type=thread_count, help="CPU threads (default: PyTorch's choice)")
    p.set_defaults(handler=run_train_evaluator)


def run_train_evaluator(args) -> int:
    import torch

    from ..data import resolve_dataset
    from ..evaluation.evaluator import default_epochs, evaluator_target, train_evaluator

    if args.threads:
        torch.set_num_threads(args.threads)
    source = args.data or args.dataset or "mnist"
    dataset = resolve_dataset(source, args.data_dir, args.image_size, args.channels)
    epochs = args.epochs or default_epochs(dataset)
    chosen = f"--data {args.data}" if args.data else f"--dataset {dataset.name}"
    command = f"cgan train-evaluator {chosen} --epochs {epochs} --seed {args.seed}"
    command += (f" --out {args.out}" if args.out else "") + (f" --threads {args.threads}" if args.threads else "")
    with bars_on_terminal():
        meta = train_evaluator(dataset, None, epochs, args.seed, args.out, progress=True, command=command)
    print(
        f"wrote {evaluator_target(dataset, args.out)}: test accuracy {meta['test_accuracy']:.4f} "
        f"after {epochs} epochs ({meta['wall_s']:.0f} s)"
    )
    return 0


def add_evaluate_parser(commands) -> None:
    p = commands.add_parser("evaluate", help="measure generated images against the real test split")
    p.add_argument(
        "source", nargs="?", help="run folder, samples .npz or folder of PNGs (default: bundled generator)"
    )
    p.add_argument(
        "--dataset",
        choices=DATASET_NAMES,
        help="dataset of an .npz or PNG folder; alone: its bundled generator",
    )
    p.add_argument("--real", action="store_true", help="evaluate real train images instead (the floor)")
    p.add_argument("--per-class", type=positive_int, help="images per class to generate (default: 1000)")
    p.add_argument("--seed", type=seed_number, default=0, help="seed of every random choice (default: 0)")
    p.add_argument("--no-cas", action="store_true", help="skip the classification accuracy score (faster)")
    p.add_argument("--no-floor", action="store_true", help="skip the real-data floor beside the numbers")
    p.add_argument("--inception", action="store_true", help="add the Inception FID (needs torch-fidelity)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw a .png: per-class accuracy beside the real floor, and the confusion matrix",
    )
    p.add_argument("--data-dir", help="folder with the four IDX files (default: search the usual places)")
    p.add_argument("--evaluator", help="evaluator weights file (default: the one shipped with cgan)")
    p.add_argument("--threads", type=thread_count, help="CPU threads (default: PyTorch's choice)")
    p.set_defaults(handler=run_evaluate)


EVALUATE_ROWS = (
    "class_accuracy",
    "fd_evaluator",
    "fd_evaluator_per_class_mean",
    "precision",
    "recall",
    "cas",
    "cas_real",
    "fid_inception",
)


def print_table(title: str, columns: dict[str, dict]) -> None:
    names = list(columns)
    print(title)
    print(f"{'':30}" + "".join(f"{name:>14}" for name in names))
    for key in EVALUATE_ROWS:
        if any(key in column for column in columns.values()):
            cells = [columns[name].get(key) for name in names]
            print(f"{key:30}" + "".join(f"{'-' if v is None else format(v, '.4f'):>14}" for v in cells))
    classes = next(iter(columns.values()))["classes"]
    for name, column in columns.items():
        accuracies = column["per_class_accuracy"]
        per_class = ", ".join(
            f"{c} {'-' if a is None else format(a, '.3f')}" for c, a in zip(classes, accuracies, strict=True)
        )
        print(f"per-class accuracy, {name}: {per_class}")


def plot_path(text: str) -> Path:
    """--plot's file, checked before the slow evaluation: a .png in a folder that exists and takes files."""
    path = output_path(text, (".png",), "--plot")
    if path.is_dir():
        raise CganError(f"--plot {path} is a folder; name a .png file in it")
    if not path.parent.is_dir():
        what = "is not a folder" if path.parent.exists() else "does not exist"
        raise CganError(f"--plot {path}: the folder {path.parent} {what}")
    check_writable(path.parent)
    return path


def run_evaluate(args) -> int:
    import json
    import time

    import torch

    from ..evaluation import evaluate_source
    from ..evaluation.api import DEFAULT_PER_CLASS

    plot = plot_path(args.plot) if args.plot is not None else None
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    with bars_on_terminal():
        output = evaluate_source(
            args.source,
            args.dataset,
            args.per_class,
            real=args.real,
            floor=not args.no_floor,
            seed=args.seed,
            cas=not args.no_cas,
            inception=args.inception,
            evaluator_file=args.evaluator,
            data_dir=args.data_dir,
        )
    output["wall_s"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(output))
    else:
        result = {key: value for key, value in output.items() if key not in ("source", "floor", "wall_s")}
        if args.real:
            per_class = args.per_class or DEFAULT_PER_CLASS
            title = f"{args.dataset}: real train images ({per_class} per class)"
            columns = {"real train": result}
        else:
            title, columns = f"{result['dataset']}: {output['source']}", {"generated": result}
            if "floor" in output:
                columns["real floor"] = output["floor"]
        print_table(f"{title}, seed {args.seed}, {output['wall_s']:.1f} s", columns)
    if plot is not None:
        write_plot(plot, output, args)
    return 0


def write_plot(path: Path, output: dict, args) -> None:
    from ..images import save_bytes
    from ..visuals.plots import evaluation_plot_png

    name = "real train" if args.real else "generated"
    what = args.source or ("real train images" if args.real else "the bundled generator")
    title = f"{output['dataset']}: {what}, {output['num_images']} images, seed {output['seed']}"
    save_bytes(path, evaluation_plot_png(output, title=title, name=name))
    # With --json, stdout holds the one JSON object only.
    print(
        f"wrote {path}: per-class accuracy and confusion matrix", file=sys.stderr if args.json else sys.stdout
    )
