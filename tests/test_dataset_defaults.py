"""A built-in dataset's own defaults (DATASET_DEFAULTS): `cgan train`, studies and tunes take them for the
options a new run does not set; given options, other architectures, --data and resumed runs keep theirs."""

import json

import pytest

from cgan.cli import build_parser, main
from cgan.cli.train import config_values
from cgan.study import StudyConfig
from cgan.training import TrainConfig
from cgan.training.config import DATASET_DEFAULTS, train_arguments

FASHION = DATASET_DEFAULTS["fashion-mnist"]
PLAIN = {name: getattr(TrainConfig(), name) for name in FASHION}


def parsed(*arguments: str) -> dict:
    values, _ = config_values(build_parser().parse_args(["train", *arguments]))
    return {name: values[name] for name in FASHION}


def test_fashion_mnist_has_its_own_defaults_and_they_differ_from_the_plain_ones():
    assert FASHION == {"loss": "hinge", "g_width": 64, "cond_g": "cbn", "mode_seeking": 0.1}
    assert all(PLAIN[name] != value for name, value in FASHION.items())


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (["--dataset", "fashion-mnist"], FASHION),
        (["--dataset", "FashionMNIST"], FASHION),  # any spelling of the dataset
        (["--dataset", "fashion_mnist", "--loss", "lsgan", "--mode-seeking", "0"],
         {**FASHION, "loss": "lsgan", "mode_seeking": None}),  # given options win, "off" included
        (["--dataset", "mnist"], PLAIN),
        (["--dataset", "cifar10"], PLAIN),
        (["--dataset", "fashion-mnist", "--arch", "mlp"], PLAIN),  # the recipe is the dcgan's
        (["--data", "my_images.npz"], PLAIN),
    ],
)  # fmt: skip
def test_cgan_train_takes_the_datasets_defaults_for_options_not_given(arguments, expected):
    assert parsed(*arguments) == expected


def test_the_python_api_takes_them_through_for_dataset():
    config = TrainConfig.for_dataset(dataset="fashion-mnist", loss="vanilla")
    assert {name: getattr(config, name) for name in FASHION} == {**FASHION, "loss": "vanilla"}
    assert TrainConfig(dataset="fashion-mnist").cond_g == "concat"  # the dataclass keeps the plain defaults


@pytest.mark.parametrize(
    "options",
    [
        {
            "dataset": "fashion-mnist",
            "loss": "lsgan",
            "cond_g": "concat",
            "g_width": 32,
            "mode_seeking": None,
        },
        {"dataset": "fashion-mnist", "loss": "hinge", "lr": 3e-4},
        {"dataset": "fashion-mnist", "arch": "mlp", "loss": "hinge"},
    ],
)
def test_train_arguments_spell_a_plain_default_that_the_dataset_would_replace(options):
    """What `cgan study --jobs` and `cgan tune`'s best command hand to `cgan train` means the same run."""
    arguments = train_arguments(options)
    values, _ = config_values(build_parser().parse_args(["train", *arguments]))
    assert {name: values[name] for name in options} == options
    if options.get("arch") != "mlp":
        assert "--g-width" not in arguments or options["g_width"] != 64


def test_a_study_of_fashion_mnist_varies_its_defaults(tmp_path):
    study = StudyConfig(dataset="fashion-mnist", variants=["cond_g=concat"], out=str(tmp_path / "s"))
    config = study.variant_config("cond_g=concat")
    assert (config.cond_g, config.loss, config.g_width, config.mode_seeking) == ("concat", "hinge", 64, 0.1)


def tiny_fashion(shared_data, out, *more: str) -> list[str]:
    return ["train", "--dataset", "fashion-mnist", "--data-dir", str(shared_data / "fashion-mnist"),
            "--out", str(out), "--max-images", "320", "--batch-size", "32", "--d-width", "8",
            "--latent-dim", "16", "--samples-per-class", "2", "--no-progress", *more]  # fmt: skip


def test_a_fashion_mnist_run_is_trained_and_resumed_with_them(shared_data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(tiny_fashion(shared_data, run, "--epochs", "1", "--max-steps", "3", "--loss", "vanilla")) == 0
    said = capsys.readouterr().out
    assert "fashion-mnist: its own defaults --g-width 64 --cond-g cbn --mode-seeking 0.1 (docs/training.md)" in said
    config = json.loads((run / "config.json").read_text())
    assert {name: config[name] for name in FASHION} == {**FASHION, "loss": "vanilla"}
    assert json.loads((run / "model.json").read_text())["arch"]["cond_g"] == "cbn"
    assert main(["train", "--resume", str(run), "--epochs", "1", "--no-progress"]) == 0
    assert "own defaults" not in capsys.readouterr().out  # a resumed run goes on with its config.json
    assert json.loads((run / "model.json").read_text())["step"] == 10


def test_a_run_made_without_them_resumes_as_it_was(shared_data, tmp_path, capsys):
    """A run's own options are kept on resume: the dataset's defaults are only for new runs."""
    run = tmp_path / "run"
    plain = ["--loss", "lsgan", "--g-width", "8", "--cond-g", "concat", "--mode-seeking", "0"]
    assert main(tiny_fashion(shared_data, run, "--epochs", "1", "--max-steps", "3", *plain)) == 0
    assert "own defaults" not in capsys.readouterr().out  # none was taken
    assert main(["train", "--resume", str(run), "--epochs", "1", "--no-progress"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert (config["loss"], config["g_width"], config["cond_g"], config["mode_seeking"]) == (
        "lsgan",
        8,
        "concat",
        None,
    )
