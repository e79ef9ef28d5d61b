"""Copy a trained run's generator into the package as a bundled model, with a model card.

    python scripts/bundle_generator.py RUN DATASET --data-dir DIR [--trained-on "one NVIDIA H100 (--device cuda) ..."]

Writes src/cgan/pretrained/<dataset>/{generator.safetensors, model.json, MODEL_CARD.md}. The card holds the
exact training command (rebuilt from the run's config.json), the training wall time (from metrics.csv),
the machine (this one, unless --trained-on names the one the run was trained on), and the `cgan evaluate`
table of the bundled generator beside the real-data floor.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import sys
from pathlib import Path

import torch

from cgan.cli import main as cgan_main
from cgan.data import get_spec
from cgan.evaluation.api import evaluate_generator
from cgan.generation import load_generator
from cgan.run_folder import RunFolder
from cgan.training import TrainConfig
from cgan.training.config import flag

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cgan" / "pretrained"
# Options that only say where things are or how the machine is used; left out of the published command.
NOT_IN_COMMAND = {"out", "data_dir", "threads", "device", "max_images", "log_every", "checkpoint_every"}


def training_command(config: dict, stopped_at_step: int | None) -> str:
    """The run's `cgan train` command. A run that --max-time stopped before its last epoch gets
    `--max-steps` at the step it reached instead: the same schedule, stopped at the same step on any machine."""
    defaults = vars(TrainConfig())
    parts = [f"cgan train --dataset {config['dataset']}"]
    left_out = NOT_IN_COMMAND | {"dataset", "max_seconds"}
    if stopped_at_step is not None:
        config = {**config, "max_steps": stopped_at_step}
    for name, value in config.items():
        if name in left_out or value == defaults.get(name):
            continue
        spelled = flag(name)
        if isinstance(value, bool):
            parts.append(spelled if value else "--no-" + spelled[2:])
        else:
            parts.append(f"{spelled} {value}")
    return " ".join(parts)


def stopped_by_time(config: dict, last_epoch: int) -> bool:
    return last_epoch < config["epochs"] and config["max_steps"] is None and config["max_seconds"] is not None


def extent(config: dict, last_epoch: int, last_step: int) -> str:
    """How far the run went, for the card: its epochs, or where and why it stopped before its last one."""
    if last_epoch >= config["epochs"]:
        return f"{last_epoch} epochs"
    text = f"{last_epoch} of {config['epochs']} epochs, {last_step} steps"
    if stopped_by_time(config, last_epoch):
        text += (
            f": `--max-time {config['max_seconds']:.0f}s` stopped it there, and `--max-steps {last_step}` stops it "
            "at the same step"
        )
    return text


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{os.cpu_count()} CPU cores ({cpu}), PyTorch {torch.__version__}, Python {platform.python_version()}"
    )


SPREAD_SEEDS = (0, 1, 2)


def seed_spread(name: str, data_dir: str | None) -> str:
    """The four headline metrics of the bundled generator over several evaluation seeds."""
    generator = load_generator(name)
    runs = [evaluate_generator(generator, seed=seed, cas=False, data_dir=data_dir) for seed in SPREAD_SEEDS]
    cells = []
    for key in ("class_accuracy", "fd_evaluator", "precision", "recall"):
        values = [run[key] for run in runs]
        cells.append(f"{key} {sum(values) / len(values):.4f} [{min(values):.4f}, {max(values):.4f}]")
    return "; ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run")
    parser.add_argument("dataset")
    parser.add_argument("--data-dir", help="the dataset's folder, for the evaluation")
    parser.add_argument("--trained-on", help="the machine the run was trained on, where it was not this one")
    args = parser.parse_args()

    run = Path(args.run)
    name = get_spec(args.dataset).name
    folder = RunFolder(args.run)
    config, metrics = folder.read_config(), folder.metrics.read()
    target = PACKAGE / name
    target.mkdir(parents=True, exist_ok=True)
    for file in ("generator.safetensors", "model.json"):
        shutil.copyfile(run / file, target / file)

    evaluate_args = ["evaluate", "--dataset", name] + (["--data-dir", args.data_dir] if args.data_dir else [])
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        if cgan_main(evaluate_args) != 0:
            sys.exit("evaluation failed")
    # The table names the weights (file or folder) it evaluated: shown as the bundled name.
    evaluated = table.getvalue().strip().replace(str(target / "generator.safetensors"), str(target))
    evaluated = evaluated.replace(str(target), f"bundled {name}")
    spread = seed_spread(name, args.data_dir)
    quality = [
        f"| {int(e)} | {t:.0f} | {a:.4f} | {fd:.2f} | {p:.3f} | {r:.3f} |"
        for e, t, a, fd, p, r in zip(
            metrics["epoch"], metrics["elapsed_s"], metrics["class_accuracy"], metrics["fd_evaluator"],
            metrics["precision"], metrics["recall"], strict=True,
        )
        if a == a  # rows written by --eval-every; NaN elsewhere
    ]  # fmt: skip
    last_epoch, last_step = int(metrics["epoch"][-1]), int(metrics["step"][-1])
    stopped_at = last_step if stopped_by_time(config, last_epoch) else None
    card = f"""# Bundled {name} generator

Trained with cgan's own training command, seed {config["seed"]}:

    {training_command(config, stopped_at)} --data-dir DIR

- training wall time: {metrics["elapsed_s"][-1]:.0f} s for {extent(config, last_epoch, last_step)} (evaluation time excluded),
  on {args.trained_on or machine()}, with `--threads {config["threads"] or "default"}`
- architecture: `{json.dumps(json.loads((run / "model.json").read_text())["arch"])}`
- weights: `generator.safetensors` ({(target / "generator.safetensors").stat().st_size / 1e6:.2f} MB)

## Evaluation

`cgan evaluate --dataset {name}` (1,000 images per class, seed 0, against the real test
split; the real-data floor is real train images measured the same way):

```
{evaluated}
```

Over evaluation seeds {", ".join(map(str, SPREAD_SEEDS))} (1,000 images per class each; mean, then the lowest
and highest): {spread}. The generator was trained once (seed {config["seed"]}); the spread is that of
the measurement.

## Quality during training (`--eval-every`, 500 images per class)

| epoch | training s | class accuracy | fd_evaluator | precision | recall |
| --- | --- | --- | --- | --- | --- |
{chr(10).join(quality)}
"""
    (target / "MODEL_CARD.md").write_text(card)
    print(card)


if __name__ == "__main__":
    main()
