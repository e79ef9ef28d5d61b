"""Training and generation on a CUDA GPU: bf16 and fp16 (loss scaling with the gradient penalty and R1), no
host synchronisation in the steps that are not logged, exact resume, and generation that matches the CPU's.

Skipped where PyTorch sees no GPU (CI); run with `pytest tests/test_cuda.py` on a machine with one
(docs/scale.md says where they last ran).
"""

import csv

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cgan import load_generator
from cgan.checkpoint import CHECKPOINT_FORMAT, load_tensors
from cgan.training import fit
from cgan.training.loop import Training

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def metrics(run) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    "options",
    [
        {"precision": "bf16"},
        {"precision": "fp16", "loss": "wgan-gp", "r1": 1.0, "clip_grad": 10.0},
        {"precision": "fp32", "ema": 0.999, "cond_d": "acgan"},
    ],
    ids=["bf16", "fp16-gp-r1-clip", "fp32-ema-acgan"],
)
def test_training_on_the_gpu_logs_finite_values_and_gives_a_generator(tiny_config, tmp_path, options):
    run = tmp_path / "run"
    result = fit(tiny_config(run, device="cuda", epochs=3, **options), progress=False)
    assert result.step == 30
    rows = metrics(run)
    assert [int(r["step"]) for r in rows] == list(range(1, 31))
    assert all(float(r["d_loss"]) == float(r["d_loss"]) for r in rows if r["d_loss"])  # no NaN
    tensors, meta = load_tensors(run / "checkpoints" / "last.safetensors", CHECKPOINT_FORMAT)
    assert all(t.isfinite().all() for t in tensors.values() if t.is_floating_point())
    assert ("loss_scalers" in meta) == (options["precision"] == "fp16")
    images = load_generator(run, device="cuda").generate(list(range(10)), seed=1)
    assert images.shape == (10, 28, 28) and images.dtype == np.uint8
    assert images.std() > 0


def test_steps_that_are_not_logged_never_wait_for_the_gpu(tiny_config, tmp_path, monkeypatch):
    """torch's sync debug mode raises on any host synchronisation inside the step (an .item(), a blocking
    copy, a data-dependent shape) while nothing is measured; logged steps, checkpoints and grids may wait."""
    train_on = Training.train_on

    def strictly(self, index, epoch):
        logged = self.gan.step % self.config.log_every == self.config.log_every - 1
        torch.cuda.set_sync_debug_mode("default" if logged else "error")
        try:
            train_on(self, index, epoch)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    monkeypatch.setattr(Training, "train_on", strictly)
    for options in ({}, {"precision": "fp16", "loss": "wgan-gp", "r1": 1.0, "clip_grad": 10.0, "ema": 0.999}):
        run = tmp_path / f"run{len(options)}"
        fit(tiny_config(run, device="cuda", epochs=2, log_every=7, **options), progress=False)
        assert [int(r["step"]) for r in metrics(run)] == [7, 14]


def test_stopped_and_resumed_gpu_run_ends_with_the_same_weights(tiny_config, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    options = {"device": "cuda", "epochs": 3, "ema": 0.999}
    fit(tiny_config(straight, **options), progress=False)
    fit(tiny_config(resumed, max_steps=13, **options), progress=False)
    fit(tiny_config(resumed, **options), resume=True, progress=False)
    a = load_file(str(straight / "checkpoints" / "last.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "last.safetensors"))
    different = [name for name in a if not torch.equal(a[name], b[name])]
    assert not different, f"tensors differ after resume: {different[:5]}"


def test_gpu_and_cpu_draw_the_same_images(tiny_run):
    """Noise is drawn on the CPU from the seed, so a generator draws the same images on either device (up to
    rounding: fp32 on both)."""
    labels = list(range(10)) * 3
    on_cpu = load_generator(tiny_run, device="cpu", precision="fp32").generate(labels, seed=5)
    on_gpu = load_generator(tiny_run, device="cuda", precision="fp32").generate(labels, seed=5)
    assert np.abs(on_cpu.astype(int) - on_gpu.astype(int)).max() <= 2
