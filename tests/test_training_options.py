"""Losses, conditioning methods and stabilisers in real (tiny) training runs: they compose, are recorded,
resume exactly, refuse invalid combinations; the best generator by fd_evaluator is kept."""

import csv
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from cgan.checkpoint import load_tensors
from cgan.cli import main
from cgan.errors import CganError
from cgan.generation import load_generator
from cgan.run_folder import RunFolder
from cgan.training import TrainConfig, fit
from cgan.training.loop import Training
from cgan.training.step import GANStep


def metric_rows(run):
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("loss", ["vanilla", "hinge", "lsgan", "wgan-gp"])
@pytest.mark.parametrize("cond", [("concat", "projection"), ("concat", "concat"), ("cbn", "acgan")])
def test_every_loss_trains_with_every_conditioning(tiny_config, tmp_path, loss, cond):
    cond_g, cond_d = cond
    run = tmp_path / "run"
    fit(tiny_config(run, epochs=1, loss=loss, cond_g=cond_g, cond_d=cond_d), progress=False)
    rows = metric_rows(run)
    assert len(rows) == 10
    for column in ("d_loss", "g_loss", "g_grad_norm", "d_grad_norm"):
        assert all(math.isfinite(float(r[column])) for r in rows), column
    assert float(rows[-1]["g_grad_norm"]) > 0 and float(rows[-1]["d_grad_norm"]) > 0
    config = json.loads((run / "config.json").read_text())
    assert (config["loss"], config["cond_g"], config["cond_d"]) == (loss, cond_g, cond_d)
    model = json.loads((run / "model.json").read_text())
    assert (model["arch"]["cond_g"], model["arch"]["cond_d"]) == (cond_g, cond_d)
    images = load_generator(run).generate([0, 9], seed=1)  # model.json alone rebuilds the generator
    assert images.shape == (2, 28, 28)


def test_n_critic_updates_the_generator_every_nth_step(tiny_config, tmp_path):
    run = tmp_path / "run"
    fit(tiny_config(run, epochs=1, max_steps=6, n_critic=3, loss="wgan-gp"), progress=False)
    state = load_file(str(run / "checkpoints" / "last.safetensors"))
    g_steps = {float(v) for k, v in state.items() if k.startswith("opt_g.") and k.endswith(".step")}
    d_steps = {float(v) for k, v in state.items() if k.startswith("opt_d.") and k.endswith(".step")}
    assert (g_steps, d_steps) == ({2.0}, {6.0})
    rows = metric_rows(run)
    assert [r["g_loss"] != "" for r in rows] == [False, False, True, False, False, True]


def test_all_stabilisers_together_resume_to_the_same_weights(tiny_config, tmp_path):
    options = dict(
        epochs=2, loss="wgan-gp", n_critic=2, cond_g="cbn", cond_d="acgan", augment="translation,cutout",
        r1=0.5, ema=0.9,
    )  # fmt: skip
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    fit(tiny_config(straight, **options), progress=False)
    assert fit(tiny_config(resumed, max_steps=7, **options), progress=False).step == 7
    fit(tiny_config(resumed, **options), resume=True, progress=False)
    a = load_file(str(straight / "checkpoints" / "last.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "last.safetensors"))
    assert a.keys() == b.keys()
    assert not [name for name in a if not torch.equal(a[name], b[name])]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"loss": "wgan"}, "--loss must be one of vanilla, hinge, lsgan, wgan-gp, got 'wgan'"),
        ({"gp_weight": 5.0}, "--gp-weight applies to --loss wgan-gp only"),
        ({"loss": "wgan-gp", "gp_weight": 0.0}, "--gp-weight must be positive"),
        ({"n_critic": 0}, "--n-critic"),
        ({"r1": -1.0}, "--r1 must be positive"),
        ({"augment": "rotate"}, "--augment takes"),
        ({"arch": "mlp", "cond_g": "cbn"}, "dcgan only"),
        ({"cond_d": "softmax"}, "--cond-d must be one of"),
        ({"max_seconds": 0.0}, "--max-time must be positive"),
        ({"eval_every_s": -1.0}, "--eval-every-time must be positive"),
        ({"lr": float("inf")}, "--lr must be a finite number"),
        ({"batch_size": "big"}, "--batch-size must be int"),
        ({"seed": 2**64}, "--seed must lie in"),
    ],
)
def test_invalid_options_are_refused_before_training(tiny_config, tmp_path, overrides, message):
    run = tmp_path / "run"
    with pytest.raises(CganError, match=message):
        fit(tiny_config(run, **overrides), progress=False)
    assert not run.exists()


def test_cli_takes_every_option(tiny_config, tmp_path, capsys):
    run = tmp_path / "run"
    base = tiny_config(run)
    code = main(
        ["train", "--data-dir", base.data_dir, "--out", str(run), "--max-images", "320", "--batch-size", "32",
         "--epochs", "1", "--g-width", "8", "--d-width", "8", "--latent-dim", "16", "--no-progress",
         "--loss", "wgan-gp", "--n-critic", "2", "--gp-weight", "5", "--cond-g", "cbn", "--cond-d", "acgan",
         "--augment", "--r1", "1", "--ema", "0.99", "--max-time", "1m"]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())
    expected = {"loss": "wgan-gp", "n_critic": 2, "gp_weight": 5.0, "cond_g": "cbn", "cond_d": "acgan",
                "augment": "translation,cutout", "r1": 1.0, "ema": 0.99, "max_seconds": 60.0}  # fmt: skip
    assert {k: config[k] for k in expected} == expected


def test_keep_if_best_keeps_the_lowest_fd(tiny_config, tmp_path):
    config = tiny_config(tmp_path / "run")
    (tmp_path / "run").mkdir()
    trainer = Training(
        config, config.resolve_dataset(), RunFolder(tmp_path / "run"), resume=False, progress=False, started=0.0
    )
    best = tmp_path / "run" / "best.safetensors"
    assert trainer.keep_if_best({"fd_evaluator": 5.0, "class_accuracy": 0.5})
    trainer.gan.step = 7
    assert not trainer.keep_if_best({"fd_evaluator": 6.0, "class_accuracy": 0.9})
    assert load_tensors(best, "cgan-generator")[1]["fd_evaluator"] == 5.0
    assert trainer.keep_if_best({"fd_evaluator": 2.0, "class_accuracy": 0.4})
    meta = load_tensors(best, "cgan-generator")[1]
    assert (meta["fd_evaluator"], meta["step"]) == (2.0, 7)


def test_best_checkpoint_follows_fd_and_survives_resume(tiny_config, tmp_path):
    run = tmp_path / "run"
    options = dict(eval_every=1, eval_per_class=20, lr=2e-3)
    fit(tiny_config(run, epochs=2, **options), progress=False)
    fit(tiny_config(run, epochs=4, **options), resume=True, progress=False)
    measured = [(int(r["step"]), float(r["fd_evaluator"])) for r in metric_rows(run) if r["fd_evaluator"]]
    assert [step for step, _ in measured] == [10, 20, 30, 40]
    best_step, best_fd = min(measured, key=lambda m: m[1])
    _, meta = load_tensors(run / "best.safetensors", "cgan-generator")
    assert (meta["step"], meta["fd_evaluator"]) == (best_step, pytest.approx(best_fd, abs=1e-6))
    generator = load_generator(run / "best.safetensors")
    assert generator.generate(["3"], seed=0).shape == (1, 28, 28)


def test_time_budget_and_timed_evaluations(tiny_config, tmp_path):
    run = tmp_path / "run"
    result = fit(
        tiny_config(run, epochs=10_000, max_seconds=1.5, eval_every_s=0.5, eval_per_class=10), progress=False
    )
    assert not result.interrupted
    measured = [float(r["elapsed_s"]) for r in metric_rows(run) if r["fd_evaluator"]]
    assert 3 <= len(measured) <= 4, measured  # at 0.5, 1.0, 1.5 s, and the final state if it was not one
    assert measured == sorted(measured) and 1.5 <= measured[-1] < 3.0
    assert (run / "best.safetensors").is_file()
    # A resumed run with no time left trains nothing more.
    again = fit(tiny_config(run, epochs=10_000, max_seconds=1.5), resume=True, progress=False)
    assert again.step == result.step


def test_defaults_are_the_study_winner_with_the_fast_path():
    """docs/studies/: lsgan + lr 6e-4 + batch 128 + EMA 0.999 won on MNIST and Fashion-MNIST."""
    config = TrainConfig()
    chosen = (config.loss, config.lr, config.batch_size, config.ema, config.cond_g, config.cond_d)
    assert chosen == ("lsgan", 6e-4, 128, 0.999, "concat", "projection")
    assert (config.spectral_norm, config.precision, config.channels_last) == (True, "auto", False)
    assert (config.n_critic, config.gp_weight, config.r1, config.augment) == (1, 10.0, None, None)


@pytest.mark.parametrize("precision", ["bf16", "auto"])
def test_fast_path_trains_resumes_and_records(tiny_config, tmp_path, precision):
    options = dict(epochs=2, precision=precision, channels_last=True, loss="wgan-gp", r1=0.5, ema=0.9)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    fit(tiny_config(straight, **options), progress=False)
    fit(tiny_config(resumed, max_steps=13, **options), progress=False)
    fit(tiny_config(resumed, **options), resume=True, progress=False)
    a = load_file(str(straight / "checkpoints" / "last.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "last.safetensors"))
    assert not [name for name in a if not torch.equal(a[name], b[name])]
    assert all(t.dtype != torch.bfloat16 for t in a.values()), "weights stay fp32 under autocast"
    rows = metric_rows(straight)
    assert all(math.isfinite(float(r["d_loss"])) and math.isfinite(float(r["g_loss"])) for r in rows)
    config = json.loads((straight / "config.json").read_text())
    assert (config["precision"], config["channels_last"]) == (precision, True)


def test_bf16_autocast_changes_the_arithmetic_not_the_result_much(tiny_config, tmp_path):
    """One step in fp32 and one in bf16 from the same state: losses agree to bf16 precision."""
    from cgan import data

    losses = {}
    for precision in ("fp32", "bf16"):
        config = tiny_config(tmp_path / precision, precision=precision)
        step = GANStep(config, config.arch_config(10, (1, 28, 28)), torch.device("cpu"))
        images, labels = data.load("mnist", "train", config.data_dir)
        real = images[:32].unsqueeze(1).float() / 127.5 - 1
        losses[precision] = step(real, labels[:32], measure=True)
    for key in ("d_loss", "g_loss"):
        assert losses["fp32"][key] == pytest.approx(losses["bf16"][key], rel=0.05)
    assert losses["fp32"]["d_loss"] != losses["bf16"]["d_loss"]
