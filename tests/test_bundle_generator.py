"""scripts/bundle_generator.py: the training command its model cards publish."""

import importlib.util
import shlex
from dataclasses import asdict
from pathlib import Path

from cgan.cli import build_parser
from cgan.training import TrainConfig

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bundle_generator.py"


def bundle_script():
    spec = importlib.util.spec_from_file_location("bundle_generator", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_card_command_is_the_runs_own_without_where_and_how_it_ran():
    config = asdict(
        TrainConfig(
            dataset="mnist", out="/tmp/runs/x", device="cuda", threads=2, epochs=60, batch_size=1024, lr=0.002,
            max_seconds=290.0,
        )
    )  # fmt: skip
    command = bundle_script().training_command
    finished = command(config, stopped_at_step=None)
    assert finished == "cgan train --dataset mnist --epochs 60 --batch-size 1024 --lr 0.002"
    # A run that --max-time stopped early is published with the step it reached, which any machine repeats.
    stopped = command(config, stopped_at_step=3790)
    assert stopped == finished.replace("--epochs 60", "--epochs 60 --max-steps 3790")
    parsed = build_parser().parse_args(shlex.split(stopped)[1:])
    assert (parsed.epochs, parsed.batch_size, parsed.lr, parsed.max_steps) == (60, 1024, 0.002, 3790)
    assert getattr(parsed, "max_seconds", None) is None


def test_the_card_says_how_far_the_run_went_and_what_stopped_it():
    script = bundle_script()
    config = asdict(TrainConfig(dataset="fashion-mnist", epochs=80, max_seconds=430.0))
    assert script.extent(config, 80, 4640) == "80 epochs"
    assert script.extent(config, 66, 3790) == (
        "66 of 80 epochs, 3790 steps: `--max-time 430s` stopped it there, and `--max-steps 3790` stops it at "
        "the same step"
    )
    # Stopped by its own --max-steps (already in the command), or interrupted: no --max-time to speak of.
    assert script.extent({**config, "max_steps": 3790}, 66, 3790) == "66 of 80 epochs, 3790 steps"
    assert script.extent({**config, "max_seconds": None}, 66, 3790) == "66 of 80 epochs, 3790 steps"
    assert not script.stopped_by_time({**config, "max_seconds": None}, 66)
