"""The generators shipped in the package: they load offline, draw the class asked for, and are documented."""

import numpy as np
import pytest
import torch
from PIL import Image

import cgan
from cgan.cli import main
from cgan.evaluation import default_evaluator
from cgan.images import to_float as to_input
from cgan.run_folder import BUNDLED_DIR


@pytest.mark.parametrize(
    "name, alias, floor", [("mnist", "mnist", 0.97), ("fashion-mnist", "fashion_mnist", 0.85)]
)
def test_bundled_generator_draws_the_requested_class(name, alias, floor):
    generator = cgan.load_generator(alias)
    assert generator.dataset == name and len(generator.classes) == 10
    labels = np.repeat(np.arange(10), 50)
    images = generator.generate(labels.tolist(), seed=0)
    with torch.inference_mode():
        predicted = default_evaluator(name)(to_input(images)).argmax(1).numpy()
    assert (predicted == labels).mean() >= floor
    # not one image repeated: the 50 images of a class differ from each other
    assert len({image.tobytes() for image in images[:50]}) == 50


def test_bundled_generator_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "sneakers.png"
    assert (
        main(
            [
                "generate",
                "--dataset",
                "fashion-mnist",
                "--label",
                "sneaker",
                "--count",
                "4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert Image.open(out).size == (2 * 30 + 2, 2 * 30 + 2)
    assert "sneaker" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_model_card_names_the_command_and_the_evaluation(name):
    card = (BUNDLED_DIR / name / "MODEL_CARD.md").read_text()
    assert f"cgan train --dataset {name} " in card
    assert "class_accuracy" in card and "real floor" in card


def test_run_folder_and_dataset_together_is_an_error(tiny_run, tmp_path, capsys):
    args = ["generate", str(tiny_run), "--dataset", "mnist", "--all", "--out", str(tmp_path / "x.png")]
    assert main(args) == 2
    assert "not both" in capsys.readouterr().err
