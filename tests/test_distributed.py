"""Training as 2 gloo ranks launched by torchrun (real processes on the CPU) against one process: the same
gradients, losses and weights, resuming with another world size, and every rank stopping together."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from distributed_worker import first_step, generator_step
from safetensors.torch import load_file

from cgan.cli import main
from cgan.errors import CganError
from cgan.models import ArchConfig, build_generator
from cgan.training import fit
from cgan.training.distributed import Distributed, SyncBatchNormCPU
from cgan.training.step import GANStep

CURVES = ("d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm")
WORKER = Path(__file__).with_name("distributed_worker.py")
TINY = ["--max-images", "320", "--batch-size", "32", "--g-width", "8", "--d-width", "8", "--latent-dim", "16",
        "--log-every", "1", "--samples-per-class", "2", "--precision", "fp32", "--threads", "1", "--no-progress"]  # fmt: skip


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", *args]


def launch(command: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def train_2_ranks(data_dir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return launch(torchrun("-m", "cgan", "train", "--data-dir", str(data_dir), *TINY, *args), timeout)


def losses(run: Path) -> dict[str, np.ndarray]:
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("step", *CURVES)}


@pytest.fixture(autouse=True)
def keep_threads():
    """Runs in this process with --threads 1 would leave the rest of the session on one thread."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_first_step_gradients_of_2_ranks_equal_one_process(shared_data, tmp_path):
    out = tmp_path / "ranks.safetensors"
    done = launch(torchrun(str(WORKER), "first-step", str(shared_data / "mnist"), str(out)))
    assert done.returncode == 0, done.stderr[-3000:]
    ranks, alone = load_file(str(out)), first_step(str(shared_data / "mnist"), Distributed())
    assert ranks.keys() == alone.keys()
    assert any(".grad.g." in k for k in alone) and any("running_var" in k for k in alone)
    for name, expected in alone.items():
        # Float tolerance on the tensor's scale: the all-reduce adds the ranks' halves in another order, and
        # an element that cancels to near 0 keeps the rounding of its larger terms (one element of 128 of a
        # WGAN-GP gradient was 9e-6 off on an AVX2 CPU: 1.5e-6 of the tensor's largest value, 6.1).
        atol = 1e-6 + 1e-5 * float(expected.abs().max())
        torch.testing.assert_close(ranks[name], expected, rtol=1e-4, atol=atol, msg=name)


def test_every_generator_kind_gets_one_process_gradients_from_2_ranks(tmp_path):
    """Each rank runs the generator's stem on the whole batch and its later batch norms synchronise: the
    averaged gradients and the statistics are one process's."""
    out = tmp_path / "ranks.safetensors"
    done = launch(torchrun(str(WORKER), "generators", str(out)))
    assert done.returncode == 0, done.stderr[-3000:]
    ranks, alone = load_file(str(out)), generator_step(Distributed())
    assert ranks.keys() == alone.keys() and sum("running_mean" in k for k in alone) == 2 + 3 + 3
    for name, expected in alone.items():
        atol = 1e-6 + 1e-5 * float(expected.abs().max())
        torch.testing.assert_close(ranks[name], expected, rtol=1e-4, atol=atol, msg=name)


def test_2_ranks_train_like_one_process_and_resume_with_any_world_size(shared_data, tiny_config, tmp_path):
    """1 process for 30 steps, against 2 ranks to step 12 (mid-epoch), 1 process to 21, 2 ranks to 30."""
    alone, mixed = tmp_path / "alone", tmp_path / "mixed"
    fit(tiny_config(alone, epochs=3, precision="fp32", threads=1), progress=False)

    first = train_2_ranks(shared_data / "mnist", "--out", str(mixed), "--epochs", "3", "--max-steps", "12")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "done:" in first.stdout and first.stdout.count("done:") == 1  # rank 0 reports, the other is quiet
    assert json.loads((mixed / "config.json").read_text())["batch_size"] == 32  # global, as given
    assert fit(tiny_config(mixed, epochs=3, max_steps=21), resume=True, progress=False).step == 21
    last = launch(torchrun("-m", "cgan", "train", "--resume", str(mixed), "--max-steps", "30", "--no-progress"))
    assert last.returncode == 0, last.stderr[-3000:]

    a, b = losses(alone), losses(mixed)
    assert list(b["step"]) == list(range(1, 31))
    for column in CURVES:
        np.testing.assert_allclose(b[column], a[column], rtol=2e-3, atol=1e-4, err_msg=column)
    weights_a = load_file(str(alone / "checkpoints" / "last.safetensors"))
    weights_b = load_file(str(mixed / "checkpoints" / "last.safetensors"))
    assert weights_a.keys() == weights_b.keys()
    for name in (k for k in weights_a if k.startswith(("generator.", "discriminator.", "ema."))):
        # Adam moves a weight by about lr whatever its gradient's size, so float noise in near-zero gradients
        # grows; what stays small is each tensor's difference against its size.
        one, two = weights_a[name].float(), weights_b[name].float()
        assert (two - one).norm() <= 1e-2 * one.norm() + 1e-6, name
    assert sorted(p.name for p in (mixed / "samples").iterdir()) == [f"epoch_00{i}.png" for i in (1, 2, 3)]
    grid = tmp_path / "grid.png"
    assert main(["generate", str(mixed), "--all", "--count", "2", "--seed", "1", "--out", str(grid)]) == 0
    assert grid.stat().st_size > 0


def test_batch_not_divisible_by_the_ranks_is_one_line_on_each(shared_data, tmp_path):
    done = train_2_ranks(shared_data / "mnist", "--out", str(tmp_path / "run"), "--batch-size", "33")
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("cgan: error:")]
    assert errors == ["cgan: error: --batch-size 33 is the global batch and must divide evenly among the 2 "
                      "processes; use a multiple of 2"] * 2  # fmt: skip


def test_a_rank_without_a_gpu_of_its_own_is_one_line():
    """torchrun --nproc_per_node beyond the GPUs: the rank whose LOCAL_RANK names a GPU that is not there says
    so (seen on a one-GPU machine, docs/scale.md), before joining the others."""
    rank = Distributed(rank=1, world_size=2, local_rank=torch.cuda.device_count())
    with pytest.raises(CganError, match=r"rank 1 would train on cuda:\d+, but this machine has \d+ CUDA GPU"):
        rank.connect(torch.device("cuda"))


def test_sigterm_stops_every_rank_at_the_same_step_with_a_checkpoint(shared_data, tmp_path):
    run = tmp_path / "run"
    command = torchrun("-m", "cgan", "train", "--data-dir", str(shared_data / "mnist"), *TINY, "--out", str(run),
                       "--epochs", "1000")  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 90
    while not (run / "metrics.csv").exists() or len((run / "metrics.csv").read_text().splitlines()) < 5:
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)  # what a scheduler sends; torchrun passes it to every rank
    out, err = process.communicate(timeout=60)
    assert "cgan train --resume" in out, err[-3000:]
    step = int(out.split("step ")[1].split()[0])
    assert json.loads((run / "model.json").read_text())["step"] == step > 0
    assert losses(run)["step"][-1] == step  # no rank went on past the step the run stopped at


def test_an_error_in_one_rank_ends_every_rank(shared_data, tmp_path):
    """Rank 1 raises at step 3 while rank 0 waits for it in an all-reduce: rank 0 must not hang."""
    run = tmp_path / "run"
    command = torchrun(str(WORKER), "fail-on-rank-1", "3", "train", "--data-dir", str(shared_data / "mnist"),
                       *TINY, "--out", str(run), "--epochs", "1000")  # fmt: skip
    done = launch(command, timeout=90)
    assert done.returncode != 0
    assert "[rank1]: RuntimeError: rank 1 failed at step 3" in done.stderr
    assert "[rank0]: RuntimeError:" in done.stderr  # rank 0 saw its peer go, rather than waiting for it
    assert losses(run)["step"][-1] == 3


def test_batch_norm_of_each_rank_on_request(shared_data, tiny_config, tmp_path):
    """--no-sync-batch-norm keeps torch's own batch norm (each rank's statistics); the default replaces it
    after the generator's stem, whose batch norm sees the global batch on every rank."""
    ranks = Distributed(rank=0, world_size=2)  # replacing layers needs no process group, only their forward
    for sync, expected in ((True, SyncBatchNormCPU), (False, torch.nn.BatchNorm2d)):
        config = tiny_config(tmp_path / "unused", sync_batch_norm=sync)
        gan = GANStep(config, config.arch_config(10, (1, 28, 28)), torch.device("cpu"), ranks)
        stem, *later = [m for m in gan.generator.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        assert stem is gan.generator.stem_norm and type(stem) is torch.nn.BatchNorm2d
        assert later and all(type(m) is expected for m in later)
    # On GPUs (NCCL) torch's SyncBatchNorm takes the later ones' place; building it needs no GPU.
    ranks.device = torch.device("cuda")
    generator = build_generator(ArchConfig(cond_g="cbn", image_shape=(3, 64, 64)))
    stem = generator.stem_norm
    ranks.synchronise_batch_norm(generator, keep=stem)
    stem_now, *later = [m for m in generator.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert stem_now is stem and len(later) == 2 and all(type(m) is torch.nn.SyncBatchNorm for m in later)
    # A real 2-rank run with it (and the deeper, minibatch-std discriminator) trains and gives a generator.
    run = tmp_path / "run"
    done = train_2_ranks(shared_data / "mnist", "--out", str(run), "--no-sync-batch-norm", "--d-depth", "2",
                         "--minibatch-std", "--max-steps", "12")  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((run / "config.json").read_text())["sync_batch_norm"] is False
    assert all(np.isfinite(values).all() for values in losses(run).values())
    assert main(["generate", str(run), "--all", "--count", "1", "--out", str(tmp_path / "grid.png")]) == 0
