"""`cgan data`: download a built-in dataset, say where it would be read from, or describe any dataset."""

from __future__ import annotations

import sys

from ..data.userdata import SIZES

BUILTIN = "mnist, fashion-mnist or cifar10"


def add_parser(commands) -> None:
    p = commands.add_parser("data", help="find, download or describe datasets")
    sub = p.add_subparsers(dest="data_command", required=True)
    download = sub.add_parser("download", help="download a dataset from its official mirrors, verified")
    download.add_argument("dataset", help=BUILTIN)
    download.add_argument("--dest", help="target folder (default: the user cache, ~/.cache/cgan/<dataset>)")
    download.set_defaults(handler=run_download)
    where = sub.add_parser("where", help="print the folder a dataset would be read from")
    where.add_argument("dataset", help=BUILTIN)
    where.add_argument("--data-dir", help="folder to look in first")
    where.set_defaults(handler=run_where)
    info = sub.add_parser(
        "info",
        help="describe a dataset: classes, image counts, shape, fingerprint, where it is read and cached",
    )
    info.add_argument(
        "source", help=f"{BUILTIN}, a folder of images (one sub-folder per class) or an .npz file"
    )
    info.add_argument(
        "--data-dir", help="folder with a built-in dataset's files (default: search the usual places)"
    )
    info.add_argument(
        "--image-size",
        type=int,
        choices=SIZES,
        help="folders and .npz: their own size when 28, 32 or 64, else 32",
    )
    info.add_argument(
        "--channels", type=int, choices=(1, 3), help="folders and .npz: 1 or 3 (default: detected)"
    )
    info.set_defaults(handler=run_info)


def run_download(args) -> int:
    from .. import data

    folder = data.download(args.dataset, dest=args.dest, progress=sys.stderr.isatty())
    print(f"{data.get_spec(args.dataset).name} is ready in {folder}")
    return 0


def run_where(args) -> int:
    from .. import data

    print(data.find_data_dir(args.dataset, args.data_dir))
    return 0


def run_info(args) -> int:
    import numpy as np

    from .. import data

    dataset = data.resolve_dataset(args.source, args.data_dir, args.image_size, args.channels)
    counts = {s: np.bincount(dataset.split(s)[1], minlength=dataset.num_classes) for s in ("train", "test")}
    channels, height, width = dataset.image_shape
    print(dataset.describe())
    if dataset.kind == "builtin":
        print(f"files:       {data.find_data_dir(dataset.name, dataset.location)}")
    if dataset.cache_file is not None:
        print(f"cache:       {dataset.cache_file}")
    print(f"image shape: {channels} x {height} x {width} (channels x height x width)")
    print(f"fingerprint: {dataset.fingerprint}")
    print(
        f"evaluator:   {dataset.evaluator_file}{'' if dataset.evaluator_file.is_file() else ' (not trained yet)'}"
    )
    print(f"images:      {counts['train'].sum()} train, {counts['test'].sum()} test")
    column = max(len(name) for name in dataset.classes)
    print(f"{dataset.num_classes} classes:")
    for index, name in enumerate(dataset.classes):
        print(
            f"  {index:>3}  {name:<{column}}  {counts['train'][index]:>7} train  {counts['test'][index]:>6} test"
        )
    return 0
