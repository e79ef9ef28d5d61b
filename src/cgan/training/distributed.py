"""Training on several processes (ranks) launched by torchrun: each rank runs the whole loop on its slice of
every global batch, and the ranks exchange what keeps them one run (docs/scale.md).

- Gradients are averaged with one all-reduce of each network's flattened gradients before its optimiser
  step, as stylegan2-ada-pytorch does, rather than by the DistributedDataParallel wrapper: D is called
  several times per step and differentiated by its input (WGAN-GP, R1), which the wrapper's per-backward
  hooks do not follow.
- Batch norm computes its statistics over the global batch: in the generator's stem (its layers up to the
  first batch norm, whose inputs are the noise and the labels) because each rank runs the stem on the whole
  batch, and in the layers after it by all-reducing them (`synchronise_batch_norm`).
- Noise and penalty mixing weights are drawn for the global batch from the shared stream and sliced, so
  every rank's stream stays where a one-process run's is; the checkpoint is then the same on every rank.

Without torchrun (or with one process) nothing here communicates and training is unchanged.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import NoReturn, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from ..errors import CganError
from .config import flag

# How long a rank waits in one collective (or in a barrier while rank 0 measures quality) before it gives up:
# a bound on a hang; a rank that dies is noticed at once (its connections close, torchrun stops the rest).
TIMEOUT = timedelta(minutes=30)
# Steps between the ranks' agreements on stopping and timed measurements: each is a point where every rank
# waits for the slowest, so ranks agree every few steps (a stop comes at most this many steps later).
AGREE_EVERY = 8

Module = TypeVar("Module", bound=nn.Module)


class Distributed:
    """This process's place among the ranks of a run, and the collectives the training loop uses."""

    def __init__(self, rank: int = 0, world_size: int = 1, local_rank: int = 0):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.device = torch.device("cpu")  # where collectives' tensors live (set by connect)

    @classmethod
    def from_environment(cls) -> Distributed:
        """The ranks torchrun describes in RANK, WORLD_SIZE and LOCAL_RANK; one process without them."""
        try:
            return cls(*(int(os.environ.get(name, default)) for name, default in ENVIRONMENT))
        except ValueError:
            raise CganError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)") from None

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that writes the run folder, logs and draws the progress bar."""
        return self.rank == 0

    def connect(self, device: torch.device) -> torch.device:
        """Join the other ranks (gloo on CPU, nccl on CUDA); returns the device this rank trains on:
        cuda:LOCAL_RANK when CUDA without an index was asked for."""
        if not self.active:
            return device
        if device.type == "cuda":
            device = torch.device("cuda", self.local_rank if device.index is None else device.index)
            if device.index >= torch.cuda.device_count():
                raise CganError(
                    f"rank {self.rank} would train on {device}, but this machine has {torch.cuda.device_count()} "
                    "CUDA GPU(s): start at most one process per GPU (torchrun's nproc_per_node)"
                )
            torch.cuda.set_device(device)
        self.device = device
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
        return device

    def __enter__(self) -> Distributed:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        """Leave the process group: after a barrier when every rank got here, at once after an error (the
        other ranks may be inside a collective that will never complete; torchrun stops them)."""
        if not dist.is_initialized():
            return
        if kind is None:
            dist.barrier()
        dist.destroy_process_group()

    def check_batch_size(self, batch_size: int) -> None:
        if batch_size % self.world_size:
            raise CganError(
                f"{flag('batch_size')} {batch_size} is the global batch and must divide evenly among the "
                f"{self.world_size} processes; use a multiple of {self.world_size}"
            )

    def shard(self, tensor: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch (the whole batch in one process)."""
        if not self.active:
            return tensor
        size = len(tensor) // self.world_size
        return tensor[self.rank * size : (self.rank + 1) * size]

    def in_global_batch(self, tensor: torch.Tensor) -> torch.Tensor:
        """This rank's slice at its place in a global batch of zeros (differentiable; the slice itself in one
        process)."""
        if not self.active:
            return tensor
        before = tensor.new_zeros(len(tensor) * self.rank, *tensor.shape[1:])
        after = tensor.new_zeros(len(tensor) * (self.world_size - self.rank - 1), *tensor.shape[1:])
        return torch.cat([before, tensor, after])

    def gather(self, tensor: torch.Tensor) -> torch.Tensor:
        """The global batch's rows of `tensor` from every rank, in rank order (not differentiable; the
        tensor itself in one process)."""
        if not self.active:
            return tensor
        parts = [torch.empty_like(tensor) for _ in range(self.world_size)]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def agrees_at(self, step: int) -> bool:
        """Whether the ranks agree (`agree`) after this step: every step in one process."""
        return not self.active or step % AGREE_EVERY == 0

    def agree(self, any_rank: bool, *main_rank: bool) -> tuple[bool, ...]:
        """`any_rank` if any rank says so (a stop request), followed by rank 0's values of `main_rank`
        (decisions taken by rank 0's clock); one small all-reduce."""
        if not self.active:
            return (any_rank, *main_rank)
        own = [any_rank, *(main_rank if self.is_main else [False] * len(main_rank))]
        flags = torch.tensor(own, dtype=torch.int32, device=self.device)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return tuple(bool(flag) for flag in flags.tolist())

    def average_gradients(self, module: nn.Module) -> None:
        """Replace each rank's gradients of `module` by their mean over the ranks: the gradient of the
        global batch's mean loss, as each rank's loss is the mean over an equal share of it."""
        if not self.active:
            return
        params = [p for p in module.parameters() if p.requires_grad]
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
        dist.all_reduce(flat)
        flat /= self.world_size
        for p, grad in zip(params, flat.split([p.numel() for p in params]), strict=True):
            if p.grad is None:
                p.grad = grad.view_as(p).clone()
            else:
                p.grad.copy_(grad.view_as(p))

    def mean(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-rank means of equal shares (losses, D's mean outputs) -> the global batch's means."""
        if not self.active:
            return values
        stacked = torch.stack([value.detach().float() for value in values.values()])
        dist.all_reduce(stacked)
        return dict(zip(values, stacked / self.world_size, strict=True))

    def synchronise_batch_norm(self, module: Module, keep: nn.Module | None = None) -> Module:
        """`module` with batch norm over the global batch: torch's SyncBatchNorm on CUDA, SyncBatchNormCPU on
        CPU (torch's is CUDA-only), but for `keep` (a batch norm that sees the global batch itself). Parameter
        and buffer names are kept, so checkpoints are unchanged."""
        if not self.active:
            return module
        synchronised = nn.SyncBatchNorm.convert_sync_batchnorm if self.device.type == "cuda" else SyncBatchNormCPU.replacing
        for name, child in module.named_children():
            if child is keep:
                continue
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, name, synchronised(child))
            else:
                self.synchronise_batch_norm(child, keep)
        return module


ENVIRONMENT = (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"))


def end_process(status: int) -> NoReturn:
    """End a rank's process at once, after its run has left the process group and closed its files, without
    the interpreter's teardown: there gloo sometimes aborts a rank that finished correctly ("terminate called
    without an active exception"), and torchrun then reports the whole run as failed (docs/scale.md)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


class AllReduceSum(torch.autograd.Function):
    """The sum over the ranks, differentiable: each rank's input reaches every rank's output, so the gradient
    of an input is the sum of the ranks' output gradients (torch.distributed.nn's is deprecated)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNormCPU(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training-mode statistics are those of the global batch: each rank's per-channel sum
    and sum of squares are all-reduced in one call, whose backward all-reduces the matching gradient sums.
    In eval mode (sampling, measuring) it is plain batch norm, with no communication."""

    @classmethod
    def replacing(cls, norm: nn.modules.batchnorm._BatchNorm) -> SyncBatchNormCPU:
        synced = cls(norm.num_features, norm.eps, norm.momentum, norm.affine, norm.track_running_stats)
        synced.train(norm.training)
        synced.load_state_dict(norm.state_dict())
        return synced

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {input.dim()}-D")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(input)
        x = input.float()  # statistics in fp32, also under bf16 autocast
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = x.numel() // x.shape[1] * dist.get_world_size()
        sums = AllReduceSum.apply(torch.cat([x.sum(dims), (x * x).sum(dims)]))
        mean, mean_square = (sums / count).chunk(2)
        var = (mean_square - mean * mean).clamp_min(0)  # biased, as batch norm normalises by it
        out = (x - mean.view(shape)) * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            # Buffers that track_running_stats registers (torch types them as optional for the other case).
            assert self.num_batches_tracked is not None
            assert self.running_mean is not None and self.running_var is not None
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * count / (count - 1), momentum)
        return out.to(input.dtype)
