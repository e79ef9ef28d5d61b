"""The arithmetic of the networks' forward passes, `--precision`: bf16 or fp16 under autocast, or fp32.

Losses and penalties are fp32 whatever the precision. bf16 keeps fp32's range; fp16 does not, so a run in
fp16 scales its losses (a GradScaler per optimiser, in training.step). `auto` is bf16 where the device
computes it natively, else fp16 on a GPU and fp32 on a CPU (where fp16 is emulated, and slow).
"""

from __future__ import annotations

import functools
import warnings

import torch
import torch.nn.functional as F

from ..errors import CganError
from ..generation.inference import cpu_computes_bf16

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}  # fp32: no autocast


def resolve_precision(name: str, device: torch.device) -> str:
    """auto -> bf16 where the device computes it natively (CUDA GPUs of compute capability 8.0 or later,
    CPUs with AVX-512 BF16 or AMX), else fp16 on a GPU and fp32 on a CPU. fp16 where it cannot run is
    refused."""
    if name == "auto":
        if device.type == "cuda":
            return "bf16" if cuda_computes_bf16(device) else "fp16"
        return "bf16" if cpu_computes_bf16() else "fp32"
    if name == "fp16":
        check_fp16(device.type)
    return name


def check_fp16(device_type: str) -> None:
    """Refuse --precision fp16 on a CPU whose PyTorch cannot autocast to fp16 (GPUs always can)."""
    if device_type == "cpu" and not cpu_autocasts_fp16():
        raise CganError(
            f"--precision fp16 needs CPU autocast to float16 and torch.amp.GradScaler('cpu'), which this "
            f"PyTorch ({torch.__version__}) lacks; use --precision bf16 or fp32 on the CPU"
        )


def device_type(device: str) -> str:
    """The kind of device a --device value names: cuda or cpu (auto: cuda where PyTorch sees a GPU).
    Invalid names are the training loop's to refuse."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if device.startswith("cuda") else "cpu"


def cuda_computes_bf16(device: torch.device) -> bool:
    """Whether the GPU computes bf16 in hardware: Ampere (compute capability 8.0) or later, or ROCm.
    torch.cuda.is_bf16_supported() also says yes where bf16 is only emulated (older GPUs, slowly), and
    asks about the current device rather than this one."""
    return bool(torch.version.hip) or torch.cuda.get_device_capability(device)[0] >= 8


@functools.cache
def cpu_autocasts_fp16() -> bool:
    """Whether this PyTorch runs a convolution in fp16 under CPU autocast and has a CPU GradScaler (torch
    2.13 does); one that cannot warns and computes in fp32, or fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.amp.GradScaler("cpu")
            with torch.autocast("cpu", dtype=torch.float16):
                out = F.conv2d(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 1, 1))
        return out.dtype == torch.float16
    except (RuntimeError, TypeError, ValueError, AttributeError):
        return False
