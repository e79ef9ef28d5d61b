"""Does synthetic data help? A classifier trained on N real images per class against the same classifier trained
on those N plus images from a cgan trained on the same N images alone, tested on the whole real test split.

    python bench/synthetic_helps.py [--datasets mnist,fashion-mnist] [--per-class 10,50,200] [--seeds 0,1,2]
        [--budget 1200] [--gan-recipe augment] [--synthetic-per-class 500] [--classifier-steps 600] [--threads 1]
        [--data-dir DIR] [--out raw.json]

For each dataset, N and seed:
1. N real train images of each class are drawn with the seed (`evaluation.metrics.choose_per_class`, a stream
   of its own) and written as an .npz in Keras' layout: x_train the subset, x_test the real test split, so
   that `cgan train --data` trains on exactly these images (a one-set .npz would hold out 10% of them);
2. `cgan.fit` trains on it (`TrainConfig(data=...)`) from the same seed with the defaults plus --gan-recipe,
   spelt as `cgan study` spells variants: by default `augment` (DiffAugment, translation and cutout: on 100
   images the defaults alone lose nearly all variety, docs/data.md), `default` for the defaults
   alone. It trains for --budget: optimisation steps (`--budget 1200`, the default: the same work on any
   machine) or training time (`--budget 90s`). The batch is the default 128, or all N x classes images when
   there are fewer; the per-epoch sample grids hold 1 image per class, since an epoch of 100 images is one
   step;
3. the trained generator (its EMA weights, generator.safetensors) draws --synthetic-per-class images of each
   class from the seed: 500 by default, for every N, so that only the cgan's training set changes with N
   (a multiple of N would also change how many synthetic images there are); the classifier's cost depends
   on its steps, not on the size of its set, so more images cost only their generation;
4. the CAS classifier (`evaluation.cas.train_and_test_classifier`) is trained on (a) the N real images per
   class, (b) those plus the synthetic ones, simply put together (a batch draws real and synthetic images in
   proportion to their numbers: 100 of 5,100 at N = 10), (c) the synthetic ones alone, each for the same
   --classifier-steps batches of 64 from the same initial weights (the seed): an epoch of (b) is far longer
   than one of (a), so equal epochs would give (b) more optimisation and equal steps are the fair
   comparison. Each is tested on the whole real test split.

Printed: for each dataset and N, the mean ± standard deviation over the seeds of (a), (b) and (c), of the
paired difference (b) - (a), and in how many seeds (b) beat (a); then the command line and the wall time.
--out writes every raw number as JSON. Temporary files (the subsets, the run folders) go to a temporary
folder that is removed at the end.
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cgan import CganError, TrainConfig, fit, load_generator, resolve_dataset  # noqa: E402
from cgan.data import Dataset  # noqa: E402
from cgan.evaluation.cas import CAS_BATCH, train_and_test_classifier  # noqa: E402
from cgan.evaluation.metrics import choose_per_class  # noqa: E402
from cgan.study import variant_options  # noqa: E402
from cgan.units import duration  # noqa: E402

SUBSET_STREAM = 2  # choose_per_class's streams 0 and 1 are evaluation's reference images and the CAS floor
DEFAULT_BATCH = 128


def budget(text: str) -> dict:
    """TrainConfig's extent for --budget: '1000' steps, or a duration with its unit ('90s', '2m')."""
    if text.isdigit():
        if int(text) < 1:
            raise argparse.ArgumentTypeError("needs at least 1 step")
        return {"max_steps": int(text)}
    return {"max_seconds": duration(text)}


def numbers(kind):
    return lambda text: [kind(part) for part in text.split(",") if part.strip()]


def write_subset(path: Path, dataset: Dataset, images: np.ndarray, labels: np.ndarray) -> None:
    """The subset as a dataset cgan trains on whole: Keras' layout, the real test split as its test set."""
    test_images, test_labels = dataset.split("test")
    np.savez(
        path,
        x_train=images,
        y_train=labels,
        x_test=test_images,
        y_test=test_labels,
        class_names=np.array(dataset.classes),
    )


def one_case(dataset: Dataset, per_class: int, seed: int, args, tmp: Path) -> dict:
    started = time.perf_counter()
    train_images, train_labels = dataset.split("train")
    chosen = choose_per_class(train_labels, [per_class] * dataset.num_classes, seed, stream=SUBSET_STREAM)
    real_images, real_labels = train_images[chosen], train_labels[chosen]
    case = tmp / f"{dataset.name}-{per_class}-{seed}"
    case.mkdir()
    write_subset(case / "subset.npz", dataset, real_images, real_labels)
    config = TrainConfig(
        data=str(case / "subset.npz"),
        out=str(case / "run"),
        seed=seed,
        epochs=1_000_000,  # the budget stops training
        batch_size=min(DEFAULT_BATCH, len(real_images)),
        samples_per_class=1,
        threads=args.threads,
        **args.budget,
        **variant_options(args.gan_recipe),
    )
    trained = fit(config, progress=False)
    generator = load_generator(trained.run_dir)
    synthetic_labels = np.repeat(np.arange(dataset.num_classes, dtype=np.int64), args.synthetic_per_class)
    synthetic_images = generator.generate(synthetic_labels.tolist(), seed=seed)
    sets = {
        "real": (real_images, real_labels),
        "real_plus_synthetic": (
            np.concatenate([real_images, synthetic_images]),
            np.concatenate([real_labels, synthetic_labels]),
        ),
        "synthetic": (synthetic_images, synthetic_labels),
    }
    accuracies = {
        name: train_and_test_classifier(images, labels, dataset, seed, steps=args.classifier_steps)
        for name, (images, labels) in sets.items()
    }
    return {
        "dataset": dataset.name,
        "per_class": per_class,
        "seed": seed,
        **accuracies,
        "gan_steps": trained.step,
        "gan_epochs": trained.epoch,
        "gan_wall_s": round(trained.wall_s, 1),
        "case_wall_s": round(time.perf_counter() - started, 1),
    }


def spread(values: list[float], sign: str = "") -> str:
    """mean ± sample standard deviation (0 for one value)."""
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):{sign}.4f} ± {deviation:.4f}"


def table(results: list[dict]) -> str:
    lines = [
        "| dataset | N real per class | (a) real only | (b) real + synthetic | (b) - (a) | (b) better | "
        "(c) synthetic only |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, int], list[dict]] = {}
    for result in results:
        groups.setdefault((result["dataset"], result["per_class"]), []).append(result)
    for (name, per_class), group in groups.items():
        real = [r["real"] for r in group]
        mixed = [r["real_plus_synthetic"] for r in group]
        gains = [m - r for m, r in zip(mixed, real, strict=True)]
        lines.append(
            f"| {name} | {per_class} | {spread(real)} | {spread(mixed)} | {spread(gains, '+')} | "
            f"{sum(g > 0 for g in gains)}/{len(gains)} | {spread([r['synthetic'] for r in group])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=numbers(str), default=["mnist", "fashion-mnist"])
    parser.add_argument(
        "--per-class", type=numbers(int), default=[10, 50, 200], help="N, real images per class"
    )
    parser.add_argument("--seeds", type=numbers(int), default=[0, 1, 2])
    parser.add_argument(
        "--budget",
        type=budget,
        default=budget("1200"),
        help="each cgan's training: steps (1200) or a time (90s)",
    )
    parser.add_argument(
        "--gan-recipe",
        default="augment",
        help="the cgan's options beyond the defaults, as `cgan study` names "
        "variants (augment: DiffAugment; default: the defaults alone)",
    )
    parser.add_argument("--synthetic-per-class", type=int, default=500)
    parser.add_argument(
        "--classifier-steps", type=int, default=600, help=f"batches of {CAS_BATCH}, every set"
    )
    parser.add_argument("--data-dir")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--out", help="write every raw number here (JSON)")
    args = parser.parse_args()
    try:
        variant_options(args.gan_recipe)  # a misspelt recipe fails now, not after the first case
    except CganError as exc:
        parser.error(f"--gan-recipe: {exc}")
    if args.threads:
        torch.set_num_threads(args.threads)
    command = shlex.join(["python", *sys.argv])
    results = []
    cases = len(args.datasets) * len(args.per_class) * len(args.seeds)
    with tempfile.TemporaryDirectory(prefix="synthetic_helps.") as tmp:
        for name in args.datasets:
            dataset = resolve_dataset(name, args.data_dir)
            for per_class in args.per_class:
                for seed in args.seeds:
                    result = one_case(dataset, per_class, seed, args, Path(tmp))
                    results.append(result)
                    print(
                        f"{name} N={per_class} seed {seed}: real {result['real']:.4f}  real+synthetic "
                        f"{result['real_plus_synthetic']:.4f}  synthetic {result['synthetic']:.4f}  (cgan "
                        f"{result['gan_steps']} steps in {result['gan_wall_s']:.0f} s; case "
                        f"{result['case_wall_s']:.0f} s)",
                        flush=True,
                    )
                    if len(results) == 1 and cases > 1:
                        estimate = (time.perf_counter() - START) * cases / 60
                        print(
                            f"  about {estimate:.0f} min for all {cases} cases, judged by the first",
                            flush=True,
                        )
    wall = time.perf_counter() - START
    budget_text = ", ".join(f"{key} {value:g}" for key, value in args.budget.items())
    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; seeds "
        f"{','.join(map(str, args.seeds))}; cgan: defaults + {args.gan_recipe}, "
        f"{budget_text}, batch min({DEFAULT_BATCH}, N x classes); {args.synthetic_per_class} synthetic images per "
        f"class; every classifier {args.classifier_steps} steps of {CAS_BATCH}; accuracy on the real test split, "
        "mean ± std over seeds\n"
    )
    print(table(results))
    print(f"\ncommand: {command}\nwall time: {wall:.0f} s ({wall / 60:.1f} min)")
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "command": command,
                    "wall_s": round(wall, 1),
                    "settings": {k: v for k, v in vars(args).items() if k != "out"},
                    "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                    "results": results,
                },
                indent=2,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
