"""`cgan study`: variants parsed from recipes and settings, trained for the same budget, reported, resumable."""

import json

import pytest

from cgan.cli import build_parser, main
from cgan.cli.train import config_values
from cgan.errors import CganError
from cgan.study import StudyConfig, variant_options
from cgan.training.config import train_arguments


def test_variants_compose_recipes_and_settings():
    assert variant_options("hinge+ema+lr=6e-4+batch_size=128") == {
        "loss": "hinge", "ema": 0.999, "lr": 6e-4, "batch_size": 128
    }  # fmt: skip
    assert variant_options("wgan-gp")["n_critic"] == 5
    assert variant_options("no-sn+augment=translation+ema=none") == {
        "spectral_norm": False, "augment": "translation", "ema": None
    }  # fmt: skip
    assert variant_options("acgan+cbn") == {"cond_d": "acgan", "cond_g": "cbn"}


@pytest.mark.parametrize(
    "variant, message",
    [
        ("hinge+wasserstein", "unknown variant part 'wasserstein'"),
        ("lr=fast", "not a valid float"),
        ("spectral_norm=maybe", "not a valid bool"),
        ("colour=red", "unknown option 'colour'"),
        ("hinge+seed=3", "set by the study"),
    ],
)
def test_bad_variants_are_clear_errors(variant, message):
    with pytest.raises(CganError, match=message):
        variant_options(variant)


def test_an_invalid_variant_fails_before_any_training(tmp_path):
    study = StudyConfig(variants=["hinge", "mlp+cond_g=cbn"], out=str(tmp_path / "s"))
    with pytest.raises(CganError, match="dcgan only"):
        study.variant_config("mlp+cond_g=cbn")


@pytest.mark.parametrize(
    "options",
    [
        {"lr": 3e-4, "loss": "hinge", "ema": None, "spectral_norm": False, "augment": "translation,cutout"},
        {"max_seconds": 90.0, "eval_every_s": 2.5, "r1": 1.0, "g_width": 16, "channels_last": True},
        {"lr": 6e-4, "batch_size": 128, "out": "runs/x"},
    ],
)
def test_train_arguments_spell_options_as_cgan_train_reads_them(options):
    arguments = train_arguments(options)
    assert "0.0006" not in arguments and "128" not in arguments  # defaults are left out
    parsed, _ = config_values(build_parser().parse_args(["train", *arguments]))
    assert {name: parsed[name] for name in options} == options


def run_cli(shared_data, out, variants, *more):
    return main(
        ["study", "--dataset", "mnist", "--data-dir", str(shared_data / "mnist"), "--out", str(out),
         "--variants", variants, "--budget", "1s", "--evaluations", "2", "--eval-per-class", "10",
         "--set", "g_width=8", "--set", "d_width=8", "--set", "latent_dim=16", "--set", "max_images=320",
         "--set", "batch_size=32", "--no-progress", *more]
    )  # fmt: skip


@pytest.mark.slow
def test_study_trains_each_variant_for_the_budget_and_reports(shared_data, tmp_path, capsys):
    out = tmp_path / "study"
    assert run_cli(shared_data, out, "hinge,wgan-gp+n_critic=2") == 0
    assert "best:" in capsys.readouterr().out
    report = json.loads((out / "study.json").read_text())
    assert [r["variant"] for r in report["results"]] == ["hinge", "wgan-gp+n_critic=2"]
    for result in report["results"]:
        assert 1.0 <= result["training_s"] < 2.5
        assert len(result["curve"]) == 2 and result["curve"][0]["elapsed_s"] < result["curve"][1]["elapsed_s"]
        assert 0 <= result["class_accuracy"] <= 1 and result["images_per_s"] > 0
        assert result["best_fd_evaluator"] <= result["fd_evaluator"]
    config = json.loads((out / "wgan-gp+n_critic=2" / "config.json").read_text())
    assert (config["loss"], config["n_critic"], config["g_width"], config["max_seconds"]) == (
        "wgan-gp",
        2,
        8,
        1.0,
    )
    table = (out / "study.md").read_text()
    assert "| hinge |" in table and "| wgan-gp+n_critic=2 |" in table and "fd_evaluator against" in table

    # Run again with one variant more: the finished ones are kept as they were, only the new one trains.
    assert run_cli(shared_data, out, "hinge,wgan-gp+n_critic=2,lsgan") == 0
    again = json.loads((out / "study.json").read_text())
    assert again["results"][:2] == report["results"]
    assert again["results"][2]["variant"] == "lsgan" and again["results"][2]["steps"] > 0
    assert "kept" in capsys.readouterr().out


def test_a_folder_holding_another_study_is_refused(shared_data, tmp_path, capsys):
    out = tmp_path / "study"
    assert run_cli(shared_data, out, "hinge") == 0
    code = main(["study", "--variants", "hinge", "--out", str(out), "--budget", "2s", "--no-progress"])
    assert code == 2 and "holds a study with other settings" in capsys.readouterr().err


def test_cli_reports_a_bad_variant_without_a_traceback(shared_data, tmp_path, capsys):
    assert run_cli(shared_data, tmp_path / "s", "hinge,magic") == 2
    assert "unknown variant part 'magic'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_jobs_train_variants_side_by_side_as_processes(shared_data, tmp_path, capsys):
    out = tmp_path / "study"
    assert run_cli(shared_data, out, "hinge,lsgan", "--jobs", "2") == 0
    report = json.loads((out / "study.json").read_text())
    assert [r["variant"] for r in report["results"]] == ["hinge", "lsgan"]
    for result in report["results"]:
        assert result["training_s"] >= 1.0 and len(result["curve"]) == 2 and not result["resumed"]
    configs = [json.loads((out / v / "config.json").read_text()) for v in ("hinge", "lsgan")]
    assert [(c["loss"], c["threads"], c["g_width"]) for c in configs] == [("hinge", 1, 8), ("lsgan", 1, 8)]
    # Side by side: each run began (config.json) before the other one wrote its final generator.
    began = [(out / v / "config.json").stat().st_mtime for v in ("hinge", "lsgan")]
    ended = [(out / v / "generator.safetensors").stat().st_mtime for v in ("hinge", "lsgan")]
    assert max(began) < min(ended)
    table = (out / "study.md").read_text()
    assert "| hinge |" in table and "threads: 1, 2 variants at a time." in table
    assert "best:" in capsys.readouterr().out


def test_a_failing_process_is_one_line(shared_data, tmp_path, capsys):
    assert run_cli(shared_data, tmp_path / "s", "hinge+batch_size=400", "--jobs", "2") == 2
    assert capsys.readouterr().err.strip() == (
        "cgan: error: hinge+batch_size=400: --batch-size 400 is larger than the 320 training images; "
        "use --batch-size 320 or less"
    )
