"""Time to quality: how soon the default configuration draws good, correct images, against a baseline.

    python bench/time_to_quality.py --dataset mnist [--budget 3m] [--baseline-budget 15m] [--eval-every 15s]

Trains, from the same seed in the same invocation:
- the project's defaults (what `cgan train --dataset DATASET` does), for --budget of training time;
- any --also variants (as `cgan study` names them, e.g. precision=fp32), for --budget each;
- the classic MLP CGAN baseline (`--arch mlp`, batch 64, Adam 2e-4, fp32, vanilla loss, label concatenated
  in both networks, no spectral norm, no EMA), for --baseline-budget.
Each is measured by the project's evaluator every --eval-every of training time (the evaluation's own time
is not counted). Printed: the curves, the time at which each class-accuracy threshold is first reached,
counted from the start of this process (start-up included) and in training time alone, and how much sooner
the defaults reach the quality the baseline has at the end of its budget. Absolute times vary between
machines; the ratio is the figure to compare.
"""

from __future__ import annotations

import time

START = time.perf_counter()  # before the heavy imports: start-up counts

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from cgan.study import summarise_run, variant_options  # noqa: E402
from cgan.training import TrainConfig, fit  # noqa: E402
from cgan.units import duration  # noqa: E402

IMPORTS_S = time.perf_counter() - START

BASELINE = dict(
    arch="mlp", batch_size=64, lr=2e-4, precision="fp32", channels_last=False, loss="vanilla",
    cond_g="concat", cond_d="concat", spectral_norm=False, ema=None, augment=None, r1=None,
)  # fmt: skip


def train(name: str, options: dict, args, out: Path) -> dict:
    config = TrainConfig.for_dataset(
        dataset=args.dataset,
        data_dir=args.data_dir,
        out=str(out / name),
        seed=args.seed,
        epochs=1_000_000,
        max_seconds=options.pop("budget"),
        eval_every_s=args.eval_every,
        eval_per_class=args.eval_per_class,
        threads=args.threads,
        **options,
    )
    result = fit(config, progress=False)
    summary = summarise_run(result.run_dir, config.batch_size)
    # What a `cgan train` command spends before its first step: the interpreter's imports (measured once,
    # before the first run) and fit's own set-up (reading data, building the networks).
    summary["startup_s"] = IMPORTS_S + result.setup_s
    summary["config"] = {k: v for k, v in vars(config).items() if k not in ("out", "data_dir")}
    return summary


def first_reached(curve: list[dict], accuracy: float | None = None, fd: float | None = None) -> float | None:
    """Training seconds at the first measurement meeting every threshold given; None if never."""
    for point in curve:
        if (accuracy is None or point["class_accuracy"] >= accuracy) and (
            fd is None or point["fd_evaluator"] <= fd
        ):
            return point["elapsed_s"]
    return None


def show(seconds: float | None, startup: float = 0.0) -> str:
    return "not reached" if seconds is None else f"{seconds + startup:7.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-dir")
    parser.add_argument("--budget", type=duration, default=180.0, help="training time of the defaults (3m)")
    parser.add_argument("--baseline-budget", type=duration, default=900.0, help="of the baseline (15m)")
    parser.add_argument(
        "--eval-every", type=duration, default=15.0, help="training time between measurements"
    )
    parser.add_argument("--eval-per-class", type=int, default=500)
    parser.add_argument("--accuracy", default="0.90,0.95,0.97,0.98", help="class-accuracy thresholds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int)
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="VARIANT",
        help="another configuration to train for --budget, as in `cgan study`, e.g. precision=fp32",
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    thresholds = [float(x) for x in args.accuracy.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        runs = {"defaults": train("defaults", {"budget": args.budget}, args, Path(tmp))}
        for variant in args.also:
            runs[variant] = train(
                variant, {**variant_options(variant), "budget": args.budget}, args, Path(tmp)
            )
        runs["baseline"] = train("baseline", {**BASELINE, "budget": args.baseline_budget}, args, Path(tmp))
    print(f"{args.dataset}, torch {torch.__version__}, {torch.get_num_threads()} threads, seed {args.seed}")
    for name, run in runs.items():
        print(f"\n{name}: {run['images_per_s']:.0f} images/s, start-up {run['startup_s']:.1f} s")
        for point in run["curve"]:
            print(
                f"  {point['elapsed_s']:7.1f} s  class accuracy {point['class_accuracy']:.4f}  "
                f"fd_evaluator {point['fd_evaluator']:7.3f}  precision {point['precision']:.3f}  "
                f"recall {point['recall']:.3f}"
            )
    print("\nfirst reached (from process start, start-up included | training time alone):")
    for accuracy in thresholds:
        cells = []
        for name, run in runs.items():
            reached = first_reached(run["curve"], accuracy=accuracy)
            cells.append(f"{name} {show(reached, run['startup_s'])} | {show(reached)}")
        print(f"  class accuracy >= {accuracy:.2f}:  " + "   ".join(cells))

    final = runs["baseline"]["curve"][-1]
    reached = first_reached(runs["defaults"]["curve"], final["class_accuracy"], final["fd_evaluator"])
    target = (
        f"class accuracy >= {final['class_accuracy']:.4f} and fd_evaluator <= {final['fd_evaluator']:.3f}"
    )
    print(f"\nthe baseline's quality after {final['elapsed_s']:.0f} s ({target}):")
    if reached is None:
        print(f"  defaults: not reached within {args.budget:.0f} s")
    else:
        ratio = final["elapsed_s"] / reached
        print(f"  defaults reach it at {reached:.1f} s of training: {ratio:.1f}x sooner")
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
