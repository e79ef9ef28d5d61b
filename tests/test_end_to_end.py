"""The user's path through the command line: train a few hundred steps on real MNIST, resume, generate, evaluate."""

import json

import numpy as np
import pytest
from PIL import Image

from cgan.cli import main


@pytest.mark.slow
def test_train_resume_generate_evaluate(shared_data, tmp_path, capsys):
    run = tmp_path / "mnist"
    data_dir = str(shared_data / "mnist")
    common = ["--data-dir", data_dir, "--no-progress"]
    # 6,400 images at batch 64: 100 steps per epoch; 2 epochs, then resume to 4 (400 steps in all).
    train = [
        "train",
        "--out",
        str(run),
        "--max-images",
        "6400",
        "--batch-size",
        "64",
        "--epochs",
        "2",
        "--seed",
        "3",
        *common,
    ]
    assert main(train) == 0
    assert main(["train", "--resume", str(run), "--epochs", "4", *common]) == 0
    assert "step 400 (epoch 4)" in capsys.readouterr().out
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"epoch_00{i}.png" for i in range(1, 5)]

    grid = tmp_path / "grid.png"
    assert main(["generate", str(run), "--all", "--count", "10", "--seed", "1", "--out", str(grid)]) == 0
    assert Image.open(grid).size == (10 * 30 + 2, 10 * 30 + 2)
    samples = tmp_path / "samples.npz"
    assert main(["generate", str(run), "--all", "--count", "100", "--seed", "1", "--out", str(samples)]) == 0
    assert np.load(samples)["images"].std() > 20  # not blank, not one flat grey
    capsys.readouterr()

    evaluate = [
        "evaluate",
        str(samples),
        "--dataset",
        "mnist",
        "--data-dir",
        data_dir,
        "--no-cas",
        "--no-floor",
        "--json",
    ]
    assert main(evaluate) == 0
    report = json.loads(capsys.readouterr().out)
    # 400 steps are far from done, but the labels must already steer the digits well above chance (0.1).
    assert report["class_accuracy"] > 0.3, report["class_accuracy"]
