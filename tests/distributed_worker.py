"""Ranks for tests/test_distributed.py, started by torchrun.

    torchrun --nproc_per_node=2 --standalone tests/distributed_worker.py first-step DATA_DIR OUT.safetensors

writes one training step's gradients and resulting state (rank 0's), to compare with `first_step(...)` run in
the test's own process;

    torchrun --nproc_per_node=2 --standalone tests/distributed_worker.py generators OUT.safetensors

the same for the generator alone, of every kind (`generator_step(...)`);

    torchrun --nproc_per_node=2 --standalone tests/distributed_worker.py fail-on-rank-1 STEP train ...

runs `cgan train ...` with rank 1 raising an error at STEP.
"""

from __future__ import annotations

import sys

import torch
from safetensors.torch import save_file

from cgan.cli import main
from cgan.data import resolve_dataset
from cgan.images import to_float
from cgan.training import TrainConfig
from cgan.training.distributed import Distributed, end_process
from cgan.training.loop import epoch_permutation
from cgan.training.step import GANStep

BATCH = 32
# Each exercises a part of the step that must see the global batch: batch norm (plain and conditional),
# WGAN-GP's mixing weights and double backward, R1, AC-GAN's class loss, DiffAugment's and consistency's
# draws, top-k's choice of images (at its smallest share, as late in training); n_critic 1 updates G at
# step 1.
CONFIGS = {
    "defaults": {},
    "wgan-gp": {"loss": "wgan-gp", "cond_g": "cbn", "cond_d": "acgan", "r1": 1.0, "augment": "translation,cutout"},
    "top-k+consistency": {"top_k": 0.25, "consistency": 10.0},
}


def first_step(data_dir: str, dist: Distributed) -> dict[str, torch.Tensor]:
    """For each of CONFIGS: both networks' gradients as their optimisers saw them, and their state after."""
    images, labels = (torch.from_numpy(a[:320]) for a in resolve_dataset("mnist", data_dir).split("train"))
    index = epoch_permutation(0, 0, len(images))[:BATCH]  # the global batch
    device = dist.connect(torch.device("cpu"))
    found = {}
    for name, options in CONFIGS.items():
        config = TrainConfig(g_width=8, d_width=8, latent_dim=16, precision="fp32", batch_size=BATCH, **options)
        gan = GANStep(config, config.arch_config(10, (1, 28, 28)), device, dist)
        gan.top_k_share = config.top_k or 1.0
        for network, module, optimiser in (("g", gan.generator, gan.opt_g), ("d", gan.discriminator, gan.opt_d)):
            record_gradients(f"{name}.grad.{network}", module, optimiser, found)
        gan(to_float(images[dist.shard(index)]), labels[index], measure=False)
        for network, module in (("g", gan.generator), ("d", gan.discriminator)):
            found.update({f"{name}.state.{network}.{k}": v.float() for k, v in module.state_dict().items()})
    return found


# Every generator's stem, which each rank runs on the whole batch: the MLP's (whose discriminator's dropout
# keeps first_step from comparing it), conditional batch norm's, and the 64x64 generator's (two
# synchronised batch norms after the stem).
GENERATORS = {
    "mlp": ({"arch": "mlp", "g_width": 16}, (1, 28, 28)),
    "cbn-64": ({"cond_g": "cbn"}, (3, 64, 64)),
    "concat-64": ({}, (3, 64, 64)),
}


def generator_step(dist: Distributed) -> dict[str, torch.Tensor]:
    """For each of GENERATORS: the averaged gradients of a fixed loss of the generator's images for a global
    batch of 32, and its batch-norm statistics after it."""
    dist.connect(torch.device("cpu"))
    found = {}
    for name, (options, shape) in GENERATORS.items():
        config = TrainConfig(latent_dim=16, precision="fp32", batch_size=BATCH, **options)
        gan = GANStep(config, config.arch_config(10, shape), torch.device("cpu"), dist)
        draw = torch.Generator().manual_seed(1)
        batch_z, batch_labels = torch.randn(BATCH, 16, generator=draw), torch.randint(0, 10, (BATCH,), generator=draw)
        target = dist.shard(torch.randn(BATCH, *shape, generator=draw))
        loss = ((gan.fakes(batch_z, batch_labels) - target) ** 2).mean()  # this rank's share's mean
        loss.backward()
        dist.average_gradients(gan.generator)
        found.update({f"{name}.grad.{k}": p.grad for k, p in gan.generator.named_parameters()})
        found.update({f"{name}.state.{k}": v.float() for k, v in gan.generator.state_dict().items()})
    return found


def record_gradients(prefix: str, module: torch.nn.Module, optimiser, into: dict) -> None:
    step = optimiser.step

    def recording_step(*args, **kwargs):
        into.update({f"{prefix}.{k}": p.grad.clone() for k, p in module.named_parameters()})
        return step(*args, **kwargs)

    optimiser.step = recording_step


def fail_on_rank_1(step: int) -> None:
    call = GANStep.__call__

    def failing(gan: GANStep, *args, **kwargs):
        if gan.dist.rank == 1 and gan.step == step:
            raise RuntimeError(f"rank 1 failed at step {step}")
        return call(gan, *args, **kwargs)

    GANStep.__call__ = failing


if __name__ == "__main__":
    if sys.argv[1] == "first-step":
        data_dir, out = sys.argv[2:]
        with Distributed.from_environment() as dist:
            found = first_step(data_dir, dist)
            if dist.is_main:
                save_file({k: v.contiguous() for k, v in found.items()}, out)
        end_process(0)  # past gloo's teardown, as `cgan train` ends a rank
    elif sys.argv[1] == "generators":
        with Distributed.from_environment() as dist:
            found = generator_step(dist)
            if dist.is_main:
                save_file({k: v.contiguous() for k, v in found.items()}, sys.argv[2])
        end_process(0)
    else:
        fail_on_rank_1(int(sys.argv[2]))
        sys.exit(main(sys.argv[3:]))
