import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from cgan.checkpoint import GENERATOR_FORMAT, atomic_write, load_tensors, save_tensors
from cgan.errors import CheckpointError


def test_round_trip_keeps_tensors_and_metadata(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5), "scalar": torch.tensor(2.5)}
    save_tensors(tmp_path / "w.safetensors", tensors, GENERATOR_FORMAT, {"step": 7, "names": ["x"]})
    loaded, meta = load_tensors(tmp_path / "w.safetensors", GENERATOR_FORMAT)
    assert meta == {"step": 7, "names": ["x"]}
    assert loaded.keys() == tensors.keys()
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)


def test_a_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("good")

    def write_half_then_die(tmp):
        Path(tmp).write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, write_half_then_die)
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no weights file"):
        load_tensors(tmp_path / "absent.safetensors", GENERATOR_FORMAT)


def test_truncated_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save_tensors(path, {"a": torch.randn(100, 100)}, GENERATOR_FORMAT, {})
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_tensors(path, GENERATOR_FORMAT)


def test_garbage_file(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x80\x04\x95 this is a pickle, not safetensors")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_tensors(path, GENERATOR_FORMAT)


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file({"weight": torch.randn(2)}, str(path))
    with pytest.raises(CheckpointError, match="not a cgan-generator file"):
        load_tensors(path, GENERATOR_FORMAT)


def test_checkpoint_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    save_tensors(path, {"a": torch.zeros(1)}, "cgan-training-state", {})
    with pytest.raises(CheckpointError, match="found: cgan-training-state"):
        load_tensors(path, GENERATOR_FORMAT)


def test_damaged_metadata(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(
        {"a": torch.zeros(1)}, str(path), metadata={"format": GENERATOR_FORMAT, "version": "1", "meta": "{"}
    )
    with pytest.raises(CheckpointError, match="damaged metadata"):
        load_tensors(path, GENERATOR_FORMAT)
    assert json  # the header is JSON inside a string: the damage is caught, not raised as JSONDecodeError


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        atomic_write(tmp_path / "f", lambda tmp: Path(tmp).write_text("x"))
    finally:
        os.umask(mask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644
