"""Training on a slice of the real MNIST: run folder contents, resume equivalence, Ctrl-C, bad arguments."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from cgan.errors import CganError, CheckpointError
from cgan.run_folder import RunFolder
from cgan.training import TrainConfig, fit
from cgan.training.loop import resumed_config


def checkpoint_tensors(run):
    return load_file(str(run / "checkpoints" / "last.safetensors"))


def test_run_folder_has_everything(tiny_config, tmp_path):
    run = tmp_path / "run"
    result = fit(tiny_config(run), progress=False)
    assert (result.step, result.epoch, result.interrupted) == (20, 2, False)
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    assert (run / "generator.safetensors").is_file()
    config = json.loads((run / "config.json").read_text())
    assert config["batch_size"] == 32 and config["lr"] == TrainConfig().lr and config["arch"] == "dcgan"
    model = json.loads((run / "model.json").read_text())
    assert model["classes"] == [str(i) for i in range(10)] and model["arch"]["latent_dim"] == 16
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(1, 21))
    for column in ("d_loss", "g_loss", "d_real", "d_fake", "g_grad_norm", "d_grad_norm", "images_per_s"):
        assert all(float(r[column]) >= 0 for r in rows), column
    assert 0 < float(rows[0]["d_real"]) < 1


@pytest.mark.parametrize(
    "options",
    [
        {"arch": "dcgan"},
        {"arch": "mlp"},
        {"arch": "dcgan", "ema": 0.9, "cond_d": "concat", "spectral_norm": False},
    ],
    ids=["dcgan", "mlp-with-dropout", "dcgan-ema-concat"],
)
def test_stopped_and_resumed_run_ends_with_the_same_weights(tiny_config, tmp_path, options):
    straight = tmp_path / "straight"
    fit(tiny_config(straight, epochs=3, **options), progress=False)

    resumed = tmp_path / "resumed"
    first = fit(tiny_config(resumed, epochs=3, max_steps=13, **options), progress=False)
    assert first.step == 13  # stopped mid-epoch
    fit(tiny_config(resumed, epochs=3, **options), resume=True, progress=False)

    a, b = checkpoint_tensors(straight), checkpoint_tensors(resumed)
    assert a.keys() == b.keys()
    different = [name for name in a if not torch.equal(a[name], b[name])]
    assert not different, f"tensors differ after resume: {different[:5]}"
    with open(resumed / "metrics.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == list(range(1, 31))


def test_resume_extends_to_more_epochs(tiny_config, tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(run, epochs=1), progress=False)
    result = fit(tiny_config(run, epochs=2), resume=True, progress=False)
    assert (result.step, result.epoch) == (20, 2)
    assert (run / "samples" / "epoch_002.png").is_file()


def test_existing_run_is_not_overwritten(tiny_config, tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(run, epochs=1), progress=False)
    before = (run / "generator.safetensors").read_bytes()
    with pytest.raises(CganError, match="--resume"):
        fit(tiny_config(run, epochs=1), progress=False)
    assert (run / "generator.safetensors").read_bytes() == before


def test_resume_needs_a_checkpoint(tiny_config, tmp_path):
    with pytest.raises(CheckpointError, match="there is no folder .*nothing"):
        fit(tiny_config(tmp_path / "nothing"), resume=True, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        fit(tiny_config(tmp_path / "empty"), resume=True, progress=False)
    assert not (tmp_path / "nothing").exists() and list((tmp_path / "empty").iterdir()) == []


def test_truncated_checkpoint_gives_a_clear_error(tiny_config, tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(run, epochs=1), progress=False)
    path = run / "checkpoints" / "last.safetensors"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="truncated"):
        fit(tiny_config(run, epochs=2), resume=True, progress=False)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"batch_size": 0}, "--batch-size"),
        ({"lr": -1.0}, "--lr"),
        ({"beta1": 1.5}, "betas"),
        ({"batch_size": 1000}, "larger than the 320 training images; use --batch-size 320 or less"),
        ({"dataset": "cifar"}, "cifar"),
        ({"device": "tpu9"}, "device"),
    ],
)
def test_bad_arguments(tiny_config, tmp_path, overrides, message):
    with pytest.raises(CganError, match=message):
        fit(tiny_config(tmp_path / "run", **overrides), progress=False)
    assert not (tmp_path / "run").exists()  # refused before its first write: no folder left behind


def test_clip_grad_records_the_norm_before_clipping(tiny_config, tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(run, epochs=1, clip_grad=1e-3), progress=False)
    with open(run / "metrics.csv") as f:
        norms = [float(r["d_grad_norm"]) for r in csv.DictReader(f)]
    assert max(norms) > 1e-3


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_cleanly_with_a_checkpoint(shared_data, tmp_path, stop):
    run = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "cgan",
        "train",
        "--data-dir",
        str(shared_data / "mnist"),
        "--out",
        str(run),
        "--max-images",
        "640",
        "--batch-size",
        "32",
        "--epochs",
        "1000",
        "--g-width",
        "8",
        "--d-width",
        "8",
        "--log-every",
        "1",
        "--no-progress",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (run / "metrics.csv").exists() or (run / "metrics.csv").stat().st_size < 500:
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.1)
    os.kill(process.pid, stop)  # schedulers and containers send SIGTERM first: it saves like Ctrl-C
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "cgan train --resume" in out
    step = int(out.split("step ")[1].split()[0])
    assert step > 0
    saved = json.loads((run / "model.json").read_text())
    assert saved["step"] == step


def test_ema_generator_is_what_generator_safetensors_holds(tiny_config, tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(run, epochs=1, ema=0.5), progress=False)
    state = checkpoint_tensors(run)
    weights = load_file(str(run / "generator.safetensors"))
    name = "project.0.weight"
    assert torch.equal(weights[f"generator.{name}"], state[f"ema.{name}"])
    assert not torch.equal(state[f"ema.{name}"], state[f"generator.{name}"])


def test_cli_resume_refuses_to_change_the_run(tiny_config, tmp_path, capsys):
    from cgan.cli import main

    run = tmp_path / "run"
    fit(tiny_config(run, epochs=1), progress=False)
    assert main(["train", "--resume", str(run), "--lr", "0.1", "--epochs", "2"]) == 2
    assert "--lr cannot change when resuming" in capsys.readouterr().err


def test_cli_resume_takes_a_given_option_even_at_its_default_value(tiny_config, tmp_path):
    from cgan.cli import main

    run = tmp_path / "run"
    fit(tiny_config(run, epochs=1, log_every=2), progress=False)
    # 3 epochs and a log every 10 steps are the defaults: given, they still replace the run's 1 and 2.
    assert main(["train", "--resume", str(run), "--epochs", "3", "--log-every", "10", "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["epochs"], config["log_every"]) == (3, 10)
    assert json.loads((run / "model.json").read_text())["step"] == 30
    # Not given: kept.
    assert main(["train", "--resume", str(run), "--epochs", "4", "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["log_every"] == 10


def test_cli_resume_of_a_finished_run_says_there_was_nothing_to_train(tiny_config, tmp_path, capsys):
    from cgan.cli import main

    run = tmp_path / "run"
    fit(tiny_config(run, epochs=1), progress=False)
    checkpoint = (run / "checkpoints" / "last.safetensors").read_bytes()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "had already ended at step 10 (epoch 1): nothing was trained" in out and "images/s" not in out
    assert (run / "checkpoints" / "last.safetensors").read_bytes() == checkpoint


def test_ema_update_maths(tiny_config, tmp_path):
    from cgan.training.step import GANStep

    config = tiny_config(tmp_path / "run", ema=0.9)
    trainer = GANStep(config, config.arch_config(10, (1, 28, 28)), torch.device("cpu"))
    trainer.step = 1000  # past the warm-up, where the decay is (1 + step) / (10 + step)
    before = [p.detach().clone() for p in trainer.ema.parameters()]
    with torch.no_grad():
        for p in trainer.generator.parameters():
            p.add_(1.0)
    trainer.update_ema()
    for old, new, current in zip(
        before, trainer.ema.parameters(), trainer.generator.parameters(), strict=True
    ):
        assert torch.allclose(new, 0.9 * old + 0.1 * current)


def test_ema_decay_warms_up(tiny_config, tmp_path):
    from cgan.training.step import GANStep

    config = tiny_config(tmp_path / "run", ema=0.999)
    trainer = GANStep(config, config.arch_config(10, (1, 28, 28)), torch.device("cpu"))
    before = [p.detach().clone() for p in trainer.ema.parameters()]
    with torch.no_grad():
        for p in trainer.generator.parameters():
            p.add_(1.0)
    trainer.update_ema()  # step 0: decay 0.1, so the average moves 90% of the way
    for old, new, current in zip(
        before, trainer.ema.parameters(), trainer.generator.parameters(), strict=True
    ):
        assert torch.allclose(new, 0.1 * old + 0.9 * current)


def test_resume_without_options_goes_on_to_the_runs_own_last_epoch(tiny_config, tmp_path):
    run = tmp_path / "run"
    assert fit(tiny_config(run, epochs=4, max_steps=13), progress=False).step == 13
    folder = RunFolder(run)
    # `cgan train --resume RUN`, as the stop message suggests: the run's --epochs, its early stop asked anew.
    again = resumed_config(TrainConfig(out=str(run)), folder)
    assert (again.epochs, again.max_steps) == (4, None)
    assert fit(again, resume=True, progress=False).step == 40
    # A given --epochs replaces the run's.
    assert fit(TrainConfig(out=str(run), epochs=5), resume=True, progress=False).step == 50


def test_resume_keeps_the_runs_own_options_unless_given(tiny_config, tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(run, epochs=1, log_every=2), progress=False)
    fit(tiny_config(run, epochs=2, log_every=10), resume=True, progress=False)  # 10 is the default
    config = json.loads((run / "config.json").read_text())
    assert (config["epochs"], config["log_every"]) == (2, 2)
