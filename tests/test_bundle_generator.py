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
    finished = command(config, finished=True)
    assert finished == "cgan train --dataset mnist --epochs 60 --batch-size 1024 --lr 0.002"
    # A --max-time that stopped the run is part of what made it.
    assert command(config, finished=False) == finished.replace("--epochs 60", "--epochs 60 --max-time 290.0")
    parsed = build_parser().parse_args(shlex.split(command(config, finished=False))[1:])
    assert (parsed.epochs, parsed.batch_size, parsed.lr, parsed.max_seconds) == (60, 1024, 0.002, 290.0)
