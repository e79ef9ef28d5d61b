"""Losses, conditioning methods and stabilisers in real (tiny) training runs: they compose, are recorded,
resume exactly, refuse invalid combinations; the best generator by fd_evaluator is kept."""

import copy
import csv
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from cgan.checkpoint import CHECKPOINT_FORMAT, load_tensors
from cgan.cli import main
from cgan.errors import CganError, CheckpointError
from cgan.generation import load_generator
from cgan.run_folder import RunFolder
from cgan.training import TrainConfig, fit
from cgan.training import precision as precision_module
from cgan.training import step as step_module
from cgan.training.augment import translation
from cgan.training.loop import Training
from cgan.training.precision import cpu_autocasts_fp16, resolve_precision
from cgan.training.schedule import learning_rate_share, top_k_share
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


def test_generator_phase_leaves_the_discriminator_gradients_alone():
    """D is frozen while G's loss flows back through it (its weight gradients would go unused), then
    trainable again; G still gets its gradients."""
    config = TrainConfig(g_width=8, d_width=8, latent_dim=16)
    gan = GANStep(config, config.arch_config(10, (1, 28, 28)), torch.device("cpu"))
    real, labels = torch.rand(16, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (16,))
    fake = gan.generator(torch.randn(16, 16), labels)
    gan.discriminator_phase(real, fake.detach(), labels, measure=False)
    d_grads = [p.grad.clone() for p in gan.discriminator.parameters()]
    gan.generator_phase(fake, torch.randn(16, 16), labels, measure=False)
    assert all(torch.equal(p.grad, g) for p, g in zip(gan.discriminator.parameters(), d_grads, strict=True))
    assert all(p.requires_grad for p in gan.discriminator.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gan.generator.parameters())


def test_all_stabilisers_together_resume_to_the_same_weights(tiny_config, tmp_path):
    options = dict(
        epochs=2, loss="wgan-gp", n_critic=2, cond_g="cbn", cond_d="acgan", augment="translation,cutout",
        r1=0.5, ema=0.9, mode_seeking=1.0, consistency=10.0,
    )  # fmt: skip
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    fit(tiny_config(straight, **options), progress=False)
    assert fit(tiny_config(resumed, max_steps=7, **options), progress=False).step == 7
    fit(tiny_config(resumed, **options), resume=True, progress=False)
    a = load_file(str(straight / "checkpoints" / "last.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "last.safetensors"))
    assert a.keys() == b.keys()
    assert not [name for name in a if not torch.equal(a[name], b[name])]


def test_learning_rate_decays_linearly_to_zero_and_resumes_exactly(tiny_config, tmp_path):
    assert [learning_rate_share(step, 10, 2, 4) for step in (0, 19, 20, 25, 39, 40)] == [1, 1, 1, 0.75, 0.05, 0]
    assert learning_rate_share(1000, 10, None, 4) == 1
    # 10 steps an epoch: decay from step 10; D at its own rate (TTUR), decayed alike
    options = dict(epochs=3, lr_decay=1, d_depth=2, minibatch_std=True, lr=2e-4, d_lr=8e-4)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    fit(tiny_config(straight, **options), progress=False)
    assert fit(tiny_config(resumed, max_steps=15, **options), progress=False).step == 15  # stopped mid-decay
    fit(tiny_config(resumed, **options), resume=True, progress=False)
    a = load_file(str(straight / "checkpoints" / "last.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "last.safetensors"))
    assert a.keys() == b.keys() and not [name for name in a if not torch.equal(a[name], b[name])]
    _, meta = load_tensors(straight / "checkpoints" / "last.safetensors", CHECKPOINT_FORMAT)
    share = learning_rate_share(29, 10, 1, 3)  # of the last step, index 29
    assert share == pytest.approx(1 / 20)
    assert meta["param_groups"]["opt_g"][0]["lr"] == pytest.approx(2e-4 * share)
    assert meta["param_groups"]["opt_d"][0]["lr"] == pytest.approx(8e-4 * share)


def test_consistency_adds_the_gap_between_d_on_real_and_on_shifted_real_images():
    config = TrainConfig(g_width=8, d_width=8, latent_dim=16, precision="fp32", consistency=10.0)
    gan = GANStep(config, config.arch_config(10, (1, 28, 28)), torch.device("cpu"))
    real, labels = torch.rand(16, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (16,))
    fake = gan.generator(torch.randn(16, 16), labels).detach()
    before, noise = copy.deepcopy(gan.discriminator), gan.noise.get_state()
    d = gan.discriminator_phase(real, fake, labels, measure=False)
    shifted = translation(real, torch.Generator().set_state(noise))  # the same draws
    assert not torch.equal(shifted, real)
    with torch.no_grad():  # D's calls in the phase's order: each moves spectral norm's power iteration
        on_real, _, on_shifted = (before(images, labels)[0] for images in (real, fake, shifted))
    gap = (on_real - on_shifted).pow(2).mean()
    assert gap > 0
    assert (d.loss - d.forward_loss).item() == pytest.approx(10.0 * gap.item(), rel=1e-5)


def test_top_k_keeps_the_images_d_rates_most_real_on_a_schedule_that_resumes(tiny_config, tmp_path):
    assert [top_k_share(0.5, epoch) for epoch in (0, 1, 10, 68, 69, 500)] == pytest.approx(
        [1.0, 0.99, 0.99**10, 0.99**68, 0.5, 0.5]
    )
    assert top_k_share(None, 500) == 1.0
    config = TrainConfig(g_width=8, d_width=8, latent_dim=16, top_k=0.5)
    gan = GANStep(config, config.arch_config(10, (1, 28, 28)), torch.device("cpu"))
    logits = torch.tensor([0.5, 3.0, -1.0, 2.0, 0.0, 1.0, -4.0, 2.5])
    assert gan.top_k_weights(logits) is None  # the first epoch: G learns from every image
    gan.top_k_share = 0.5
    assert gan.top_k_weights(logits).tolist() == [0, 0.25, 0, 0.25, 0, 0.25, 0, 0.25]  # 3.0, 2.0, 1.0, 2.5

    # 10 steps an epoch: 32 images a batch are 31 kept from epoch 3 on (0.99**2 * 32 = 31.4), 30 from epoch 6.
    options = dict(epochs=7, top_k=0.5)
    straight, resumed, every = tmp_path / "straight", tmp_path / "resumed", tmp_path / "every"
    fit(tiny_config(straight, **options), progress=False)
    assert fit(tiny_config(resumed, max_steps=45, **options), progress=False).step == 45
    fit(tiny_config(resumed, **options), resume=True, progress=False)
    fit(tiny_config(every, epochs=7), progress=False)
    a, b, c = (load_file(str(run / "checkpoints" / "last.safetensors")) for run in (straight, resumed, every))
    assert a.keys() == b.keys() and not [name for name in a if not torch.equal(a[name], b[name])]
    assert [name for name in a if name.startswith("generator.") and not torch.equal(a[name], c[name])]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"loss": "wgan"}, "--loss must be one of vanilla, hinge, lsgan, wgan-gp, got 'wgan'"),
        ({"gp_weight": 5.0}, "--gp-weight applies to --loss wgan-gp only"),
        ({"loss": "wgan-gp", "gp_weight": 0.0}, "--gp-weight must be positive"),
        ({"n_critic": 0}, "--n-critic"),
        ({"r1": -1.0}, "--r1 must be positive"),
        ({"mode_seeking": -1.0}, "--mode-seeking must be positive"),
        ({"consistency": -10.0}, "--consistency must be positive"),
        ({"top_k": 1.5}, "--top-k is a share of the batch"),
        ({"augment": "rotate"}, "--augment takes"),
        ({"arch": "mlp", "cond_g": "cbn"}, "dcgan only"),
        ({"cond_d": "softmax"}, "--cond-d must be one of"),
        ({"max_seconds": 0.0}, "--max-time must be positive"),
        ({"eval_every_s": -1.0}, "--eval-every-time must be positive"),
        ({"lr": float("inf")}, "--lr must be a finite number"),
        ({"d_lr": 0.0}, "--d-lr must be positive"),
        ({"batch_size": "big"}, "--batch-size must be int"),
        ({"seed": 2**64}, "--seed must lie in"),
        ({"lr_decay": 2}, "--lr-decay 2 must come before the last epoch"),
        ({"d_depth": 3}, "--d-depth must be one of 1, 2, got 3"),
        ({"arch": "mlp", "minibatch_std": True}, "dcgan only"),
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
    # At the first step after 0.5, 1.0 and 1.5 s, and the final state if it was not one; on a loaded machine
    # a step can outlast 0.5 s, and then one measurement covers two marks.
    assert 2 <= len(measured) <= 4, measured
    assert measured == sorted(measured) and measured[0] >= 0.5 and 1.5 <= measured[-1] < 5.0, measured
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


# --- fp16 with loss scaling: run here on the CPU, where torch 2.13 autocasts to fp16 (slowly) ----------------

needs_cpu_fp16 = pytest.mark.skipif(not cpu_autocasts_fp16(), reason="this PyTorch cannot autocast to fp16 on CPUs")


def first_batch(config):
    from cgan import data

    images, labels = data.load("mnist", "train", config.data_dir)
    return images[:32].unsqueeze(1).float() / 127.5 - 1, labels[:32]


def checkpoint_meta(run):
    return load_tensors(run / "checkpoints" / "last.safetensors", "cgan-training-state")[1]


@needs_cpu_fp16
def test_fp16_trains_resumes_exactly_and_records(tiny_config, tmp_path):
    # Measured (logged) steps unscale the gradients before the optimiser; the others leave it to the fused
    # kernel: both kinds happen before and after the stop at step 13.
    options = dict(epochs=2, precision="fp16", loss="wgan-gp", r1=0.5, ema=0.9, log_every=4)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    fit(tiny_config(straight, **options), progress=False)
    assert fit(tiny_config(resumed, max_steps=13, **options), progress=False).step == 13
    assert checkpoint_meta(resumed)["loss_scalers"] != checkpoint_meta(straight)["loss_scalers"]
    fit(tiny_config(resumed, **options), resume=True, progress=False)
    a = load_file(str(straight / "checkpoints" / "last.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "last.safetensors"))
    assert a.keys() == b.keys()
    assert not [name for name in a if not torch.equal(a[name], b[name])]
    assert all(t.dtype == torch.float32 for name, t in a.items() if t.is_floating_point()), "weights stay fp32"
    scalers = checkpoint_meta(straight)["loss_scalers"]
    assert scalers == checkpoint_meta(resumed)["loss_scalers"]
    # The scalers worked: 2**16 overflows D's first backward, so its scale came down (and stays a power of 2).
    assert scalers["d"]["scale"] < 2.0**16 and math.log2(scalers["d"]["scale"]).is_integer()
    rows = metric_rows(straight)
    assert [int(r["step"]) for r in rows] == [4, 8, 12, 16, 20]
    assert all(math.isfinite(float(r[key])) for r in rows for key in ("d_loss", "g_loss", "d_real") if r[key])
    assert json.loads((straight / "config.json").read_text())["precision"] == "fp16"
    assert load_generator(straight).generate(["3"], seed=0).shape == (1, 28, 28)


@needs_cpu_fp16
@pytest.mark.parametrize("options", [{"loss": "wgan-gp"}, {"r1": 1.0}], ids=["wgan-gp", "r1"])
def test_fp16_penalties_are_taken_on_unscaled_gradients(tiny_config, tmp_path, monkeypatch, options):
    """The first step's penalty under fp16, whose scaler starts at 2**16, equals fp32's on the same weights
    and images: D's outputs are scaled before autograd (by 2**16 / 32 each) and its input gradients unscaled
    before their norm is taken; a penalty on the scaled gradients would be about 2048**2 times larger."""
    name = "gradient_penalty" if "loss" in options else "r1_penalty"
    original = getattr(step_module, name)
    seen = {}
    for precision in ("fp32", "fp16"):
        calls: list = []

        def recording(*args, calls=calls):
            value = original(*args)
            calls.append((value.detach(), args[-1]))  # the penalty and its loss scale
            return value

        monkeypatch.setattr(step_module, name, recording)
        config = tiny_config(tmp_path / precision, precision=precision, **options)
        GANStep(config, config.arch_config(10, (1, 28, 28)), torch.device("cpu"))(*first_batch(config), measure=True)
        seen[precision] = calls[0]
    (fp32, one), (fp16, scale) = seen["fp32"], seen["fp16"]
    assert one == 1.0 and float(scale) == 2.0**16 / 32
    assert fp16.dtype == torch.float32 and fp32.item() > 0.01
    assert fp16.item() == pytest.approx(fp32.item(), rel=1e-2)


@needs_cpu_fp16
def test_fp16_clips_and_logs_unscaled_gradients(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setattr(step_module, "INITIAL_LOSS_SCALE", 2.0**8)  # low enough for no overflow at step 1
    stats, clipped = {}, {}
    for precision in ("fp32", "fp16"):
        config = tiny_config(tmp_path / precision, precision=precision, clip_grad=1e-3)
        gan = GANStep(config, config.arch_config(10, (1, 28, 28)), torch.device("cpu"))
        stats[precision] = gan(*first_batch(config), measure=True)
        # G's gradients as its optimiser used them: unscaled, then clipped
        clipped[precision] = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in gan.generator.parameters()]))
    for key in ("d_grad_norm", "g_grad_norm"):  # the norms before clipping, far above 1e-3, and not 256x fp32's
        assert stats["fp16"][key] == pytest.approx(stats["fp32"][key], rel=2e-2), key
        assert stats["fp32"][key] > 0.1
    assert clipped["fp16"].item() == pytest.approx(1e-3, rel=1e-3)
    assert clipped["fp32"].item() == pytest.approx(1e-3, rel=1e-3)


@needs_cpu_fp16
def test_fp16_steps_the_scaler_skips_are_not_divergence(tiny_config, tmp_path, monkeypatch):
    """A scale of 2**24 overflows fp16 in every backward at first: those steps are skipped and logged without
    what the overflow took (the gradient norms; D's loss, whose penalties are taken from overflowed gradients),
    the scale halves each time until training proceeds."""
    monkeypatch.setattr(step_module, "INITIAL_LOSS_SCALE", 2.0**24)
    run = tmp_path / "run"
    fit(tiny_config(run, precision="fp16", loss="wgan-gp", r1=0.5), progress=False)
    rows = metric_rows(run)
    assert len(rows) == 20
    assert (rows[0]["d_loss"], rows[0]["d_grad_norm"], rows[0]["g_grad_norm"]) == ("", "", "")
    assert all(math.isfinite(float(r["g_loss"])) for r in rows)  # forward only: the scale does not touch it
    recovered = [r for r in rows if r["d_grad_norm"]]
    assert recovered and all(math.isfinite(float(r["d_loss"])) for r in recovered)
    assert checkpoint_meta(run)["loss_scalers"]["d"]["scale"] <= 2.0 ** (24 - (20 - len(recovered)))


@needs_cpu_fp16
def test_fp16_divergence_is_still_caught(tiny_config, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(CganError, match="diverged.*--lr"):
        fit(tiny_config(run, epochs=1, lr=3e38, precision="fp16"), progress=False)
    assert not (run / "generator.safetensors").exists()


def test_fp16_is_refused_where_it_cannot_run(tiny_config, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(precision_module, "cpu_autocasts_fp16", lambda: False)
    run = tmp_path / "run"
    message = r"--precision fp16 needs CPU autocast to float16 .*; use --precision bf16 or fp32 on the CPU"
    with pytest.raises(CganError, match=message):
        fit(tiny_config(run, precision="fp16", device="cpu"), progress=False)
    assert not run.exists()  # refused before any data is read
    config = tiny_config(run)
    assert main(["train", "--data-dir", config.data_dir, "--out", str(run), "--precision", "fp16", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--precision fp16 needs CPU autocast" in err[0]


@pytest.mark.parametrize("capability, chosen", [((7, 0), "fp16"), ((7, 5), "fp16"), ((8, 0), "bf16"), ((9, 0), "bf16")])
def test_auto_precision_on_a_gpu_is_bf16_where_native_else_fp16(monkeypatch, capability, chosen):
    # The choice alone (no GPU here): torch.cuda.is_bf16_supported() says yes on older GPUs too (emulated).
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert resolve_precision("auto", torch.device("cuda")) == chosen
    assert resolve_precision("fp16", torch.device("cuda")) == "fp16"


@needs_cpu_fp16
def test_loss_scaler_state_is_checked_and_optional_on_resume(tiny_config, tmp_path):
    arch = tiny_config(tmp_path).arch_config(10, (1, 28, 28))
    fp16 = GANStep(tiny_config(tmp_path, precision="fp16"), arch, torch.device("cpu"))
    tensors, meta = fp16.state()
    meta["loss_scalers"]["d"]["scale"] = 512.0
    fp16.load_state(tensors, meta, tmp_path / "ckpt")
    assert fp16.scaler_d.get_scale() == 512.0 and fp16.scaler_g.get_scale() == 2.0**16
    for damaged in ({"d": {"scale": 512.0}}, {"d": {**meta["loss_scalers"]["d"], "scale": "big"}}, []):
        with pytest.raises(CheckpointError, match="damaged loss-scaler state"):
            fp16.load_state(tensors, {**meta, "loss_scalers": damaged}, tmp_path / "ckpt")
    # An fp32 or bf16 session's checkpoint has none (--precision auto on other hardware): the initial scale.
    fresh = GANStep(tiny_config(tmp_path, precision="fp16"), arch, torch.device("cpu"))
    tensors, meta = GANStep(tiny_config(tmp_path, precision="fp32"), arch, torch.device("cpu")).state()
    assert "loss_scalers" not in meta
    fresh.load_state(tensors, meta, tmp_path / "ckpt")
    assert fresh.scaler_d.get_scale() == 2.0**16


def test_checkpoint_every_replaces_the_checkpoint_at_each_epoch_end(tiny_config, tmp_path, monkeypatch):
    """On a small dataset an epoch is a few steps; --checkpoint-every N then sets the checkpoints alone (and
    the session's end), instead of adding to one per epoch."""
    saved_at: list[int] = []
    save = Training.save

    def counted(self):
        saved_at.append(self.gan.step)
        save(self)

    monkeypatch.setattr(Training, "save", counted)
    fit(tiny_config(tmp_path / "every", epochs=5, checkpoint_every=25), progress=False)  # 10 steps per epoch
    assert saved_at == [25, 50]
    saved_at.clear()
    fit(tiny_config(tmp_path / "default", epochs=3), progress=False)
    assert saved_at == [10, 20, 30]
    saved_at.clear()
    resumed = fit(tiny_config(tmp_path / "every", epochs=6, checkpoint_every=25), resume=True, progress=False)
    assert resumed.step == 60 and saved_at == [60]


def test_sample_every_draws_a_grid_every_n_epochs_and_where_a_session_ends(tiny_config, tmp_path):
    """On a small dataset an epoch is a few steps, and a grid at each would be one per step or two."""

    def grids(run):
        return [epoch for epoch, _ in RunFolder(run).sample_grids()]

    run = tmp_path / "run"
    fit(tiny_config(run, epochs=5, sample_every=2, max_images=64), progress=False)  # 2 steps per epoch
    assert grids(run) == [2, 4, 5]
    fit(tiny_config(run, epochs=9, sample_every=3, max_images=64), resume=True, progress=False)
    assert grids(run) == [2, 4, 5, 6, 9]
    assert json.loads((run / "config.json").read_text())["sample_every"] == 3
    # A session that --max-steps ends at an epoch's end draws that epoch's grid, due or not.
    short = tmp_path / "short"
    assert main(["train", "--data-dir", tiny_config(run).data_dir, "--max-images", "64", "--batch-size", "32",
                 "--g-width", "8", "--d-width", "8", "--latent-dim", "16", "--samples-per-class", "2",
                 "--epochs", "9", "--max-steps", "6", "--sample-every", "5", "--out", str(short),
                 "--no-progress"]) == 0  # fmt: skip
    assert grids(short) == [3]
