"""A user's own colour images through the whole tool: train on the folder, generate by class name, train
its evaluator, evaluate against its held-out images, export, serve and synthesise. The images are real
MNIST digits of three classes, tinted and enlarged, in folders named as people name things."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from conftest import COLOUR_CLASSES
from PIL import Image

import cgan
from cgan.cli import main
from cgan.errors import CganError, CheckpointError
from cgan.training import TrainConfig, fit

# The user's folders (`photos`) and the run trained on them (`colour_run`) are conftest.py's, shared with the
# browser tests of the web page and the web demo.


@pytest.fixture(scope="module")
def run(colour_run):
    return colour_run


def test_training_on_a_colour_folder_makes_a_colour_generator(run):
    generator = cgan.load_generator(run)
    assert generator.classes == tuple(sorted(COLOUR_CLASSES.values()))
    assert generator.arch.image_shape == (3, 32, 32)
    images = generator.generate(["sept bleu e", "green one", "Red Zero"], seed=1)  # names as people type them
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
    model = json.loads((run / "model.json").read_text())
    name = model["data"].rstrip("/").rsplit("/", 1)[-1]  # the folder's name, e.g. photos0
    assert model["dataset"] == name and model["fingerprint"].startswith(f"{name}-")
    with Image.open(run / "samples" / "epoch_002.png") as grid:
        assert grid.mode == "RGB"


def test_evaluation_needs_the_folders_evaluator_and_then_measures_against_held_out_images(run, photos, cache):
    with pytest.raises(CheckpointError, match=f"cgan train-evaluator --data {photos} --image-size 32"):
        cgan.evaluate_source(run, per_class=10, cas=False)
    assert main(["train-evaluator", "--data", photos, "--image-size", "32", "--epochs", "20"]) == 0
    result = cgan.evaluate_source(run, per_class=10, cas=True)
    assert result["classes"] == sorted(COLOUR_CLASSES.values()) and result["num_images"] == 30
    floor = result["floor"]
    assert floor["class_accuracy"] > 0.9  # the evaluator tells the real classes apart
    assert 0 <= result["class_accuracy"] <= 1 and result["fd_evaluator"] > floor["fd_evaluator"]


def test_generate_export_serve_and_synth_work_on_colour(run, tmp_path, capsys):
    assert main(["generate", str(run), "--label", "Green One", "--count", "4", "--out", str(tmp_path / "g.png")]) == 0
    with Image.open(tmp_path / "g.png") as picture:
        assert picture.mode == "RGB"
    assert main(["export", str(run), "--onnx", str(tmp_path / "g.onnx")]) == 0
    onnx = cgan.load_generator(tmp_path / "g.onnx")
    torch_images = cgan.load_generator(run, precision="fp32").generate(["red zero"] * 5, seed=3)
    assert np.abs(onnx.generate(["red zero"] * 5, seed=3).astype(int) - torch_images).max() <= 1
    assert main(["synth", str(run), "--per-class", "3", "--out", str(tmp_path / "synthetic")]) == 0
    assert sorted(p.name for p in (tmp_path / "synthetic").iterdir() if p.is_dir()) == sorted(COLOUR_CLASSES.values())
    import httpx
    from live_server import running

    from cgan.serve import create_app

    with running(create_app([str(run)])) as url:
        body = {"label": "sept bleu é", "count": 2, "seed": 1, "format": "json"}
        answer = httpx.post(f"{url}/generate", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
        assert unquote(answer.headers["x-model"]) == run.name  # "colour фото": percent-encoded, as a header must be
    with pytest.raises(CganError, match="class 'blue'"):
        cgan.load_generator(run).generate(["blue"])


def test_train_refuses_dataset_and_data_together(photos, tmp_path):
    with pytest.raises(CganError, match="--dataset or --data, not both"):
        fit(TrainConfig(dataset="fashion-mnist", data=photos, out=str(tmp_path / "x")), progress=False)
    assert not (tmp_path / "x").exists()


# A tiny network for a few steps of `cgan train --data` (at 32 pixels, the colour run's size)
TINY = ["--image-size", "32", "--batch-size", "32", "--g-width", "8", "--d-width", "8", "--latent-dim", "16"]
QUICK = ["--threads", "1", "--no-progress"]


def test_a_run_on_a_relative_data_path_resumes_from_any_folder(photos, tmp_path, monkeypatch, capsys):
    """config.json keeps --data absolute: the path as typed would name nothing from another folder."""
    monkeypatch.chdir(Path(photos).parent)
    argv = ["train", "--data", Path(photos).name, *TINY, *QUICK, "--max-steps", "4", "--out", str(tmp_path / "run")]
    assert main(argv) == 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"] == photos
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--resume", "run", *QUICK, "--max-steps", "8"]) == 0
    assert "step 8" in capsys.readouterr().out


def test_resuming_after_a_class_folder_was_added_says_so(photos, tmp_path, capsys):
    mine = tmp_path / "photos"
    shutil.copytree(photos, mine)
    run = tmp_path / "run"
    assert main(["train", "--data", str(mine), *TINY, *QUICK, "--max-steps", "4", "--out", str(run)]) == 0
    shutil.copytree(mine / "sept bleu é", mine / "huit")
    before = (run / "checkpoints" / "last.safetensors").read_bytes()
    capsys.readouterr()
    assert main(["train", "--resume", str(run), *QUICK, "--max-steps", "8"]) == 2
    error = capsys.readouterr().err
    assert "photos now has 4 classes" in error and f"{run} was trained on 3" in error
    assert len(error.splitlines()) == 1
    assert (run / "checkpoints" / "last.safetensors").read_bytes() == before
