"""Training and run-folder holes a hostile or clumsy user found (issue 11): each is one clear line now,
and nothing is left half-made."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import time

import pytest

from cgan.cli import main
from cgan.errors import CganError, CheckpointError
from cgan.run_folder import RunFolder
from cgan.training import fit


def test_a_second_run_into_a_busy_folder_is_refused(tiny_config, tmp_path, shared_data):
    run = tmp_path / "run"
    with RunFolder(run).lock():  # what a running `cgan train --out run` holds
        with pytest.raises(CganError, match="in use by another training run"):
            fit(tiny_config(run), progress=False)
    fit(tiny_config(run, epochs=1), progress=False)  # free again once the holder is gone


def test_the_lock_is_held_across_processes(tiny_config, tmp_path, shared_data):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from cgan.run_folder import RunFolder\nwith RunFolder({str(run)!r}).lock(): "
         "print('held', flush=True); import time; time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CganError, match="in use"):
            fit(tiny_config(run), progress=False)
    finally:
        holder.kill()
        holder.wait()


def test_a_fresh_run_does_not_append_to_a_dead_runs_log(tiny_config, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("step,epoch\n10,1\n140,14\n")  # killed before its first checkpoint
    fit(tiny_config(run, epochs=1), progress=False)
    steps = RunFolder(run).metrics.read()["step"]
    assert list(steps) == sorted(steps) and steps[0] == 1


def test_temporary_files_of_killed_writes_are_removed(tiny_config, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    leftover = run / "checkpoints" / ".last.safetensors.abc123.tmp"
    leftover.write_bytes(b"x" * 100)
    mine = run / "notes.tmp"  # not one of cgan's temporary names: kept
    mine.write_text("mine")
    fit(tiny_config(run, epochs=1), progress=False)
    assert not leftover.exists() and mine.exists()


def test_weight_files_are_readable_by_others(tiny_run):
    for path in (tiny_run / "generator.safetensors", tiny_run / "checkpoints" / "last.safetensors"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044, oct(path.stat().st_mode)


def test_a_diverging_run_stops_and_saves_nothing_non_finite(tiny_config, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(CganError, match="diverged.*--lr"):
        fit(tiny_config(run, epochs=1, lr=3e38), progress=False)  # finite, but the weights overflow
    assert not (run / "checkpoints" / "last.safetensors").exists()
    assert not (run / "generator.safetensors").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lr", "inf"], "--lr must be a finite number"),
        (["--lr", "nan"], "--lr must be a finite number"),
        (["--seed", "18446744073709551616"], "--seed must lie in"),
        (["--device", "meta"], "cpu or cuda"),
    ],
)
def test_train_refuses_values_that_used_to_crash(argv, message, tmp_path, capsys, shared_data):
    run = tmp_path / "run"
    code = main(["train", "--data-dir", str(shared_data / "mnist"), "--out", str(run), "--no-progress", *argv])
    assert code == 2 and message in capsys.readouterr().err


def test_out_naming_a_file_is_one_line(tmp_path, capsys, shared_data):
    target = tmp_path / "file"
    target.write_text("mine")
    assert main(["train", "--data-dir", str(shared_data / "mnist"), "--out", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and target.read_text() == "mine"


def test_a_huge_seed_within_range_trains(tiny_config, tmp_path):
    assert fit(tiny_config(tmp_path / "run", epochs=1, seed=2**63 - 1), progress=False).step == 10


@pytest.mark.parametrize("label", ["-1", "+3", "- 2"])
def test_a_signed_label_is_not_a_class(label, tmp_path, capsys):
    code = main(["generate", "--dataset", "mnist", "--label", label, "--out", str(tmp_path / "x.png")])
    assert code == 2 and "is not a class" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"batch_size": "big"}, "--batch-size must be int"),
        ({"lr": None}, "--lr must be float"),
        ({"seed": None}, "--seed must be int"),
        ({"epochs": 1.5}, "--epochs must be int"),
    ],
)
def test_config_json_is_checked_by_type_on_resume(tiny_run_copy, change, message):
    config = json.loads((tiny_run_copy / "config.json").read_text())
    config.update(change)
    (tiny_run_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message):
        fit(_config_of(tiny_run_copy), resume=True, progress=False)


def test_config_json_missing_a_field_is_refused(tiny_run_copy):
    config = json.loads((tiny_run_copy / "config.json").read_text())
    del config["seed"]  # used to become 0 silently
    (tiny_run_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="lacks seed"):
        fit(_config_of(tiny_run_copy), resume=True, progress=False)


def test_a_damaged_metrics_log_is_one_line(tiny_run_copy):
    with open(tiny_run_copy / "metrics.csv", "a") as f:
        f.write("many,1,2\n")
    with pytest.raises(CheckpointError, match="not a readable cgan metrics log"):
        fit(_config_of(tiny_run_copy), resume=True, progress=False)


@pytest.fixture
def tiny_run_copy(tiny_run, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    time.sleep(0)  # the copy is complete: copytree returns after the last file
    return copy


def _config_of(run):
    from cgan.training import TrainConfig

    return TrainConfig(out=str(run), epochs=3)
