"""Loading a generator from whatever the user names: a run folder, a weights file in one, a bundled name or
an exported .onnx file. Each kind of source has its loader in LOADERS."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from ..checkpoint import GENERATOR_FORMAT, load_module, load_tensors
from ..errors import CganError, CheckpointError
from ..models import build_generator
from ..run_folder import RunFolder, resolve_generator_file
from .generator import TrainedGenerator
from .inference import PRECISIONS


def load_safetensors_generator(source: str | os.PathLike) -> TrainedGenerator:
    """From a run folder, a weights file beside a model.json (generator.safetensors, best.safetensors) or
    a bundled name."""
    weights = resolve_generator_file(source)
    folder = RunFolder(weights.parent)
    model, arch, classes = folder.read_model()
    if not weights.is_file():
        raise CheckpointError(f"{folder.path} has no {weights.name} yet: has training written a checkpoint?")
    tensors, _ = load_tensors(weights, GENERATOR_FORMAT)
    net = build_generator(arch)
    load_module("generator", net, tensors, weights)
    return TrainedGenerator(net, arch, classes, str(weights), model)


def load_onnx(source: str | os.PathLike) -> TrainedGenerator:
    from .onnx import load_onnx_generator  # ONNX Runtime is an optional extra

    return load_onnx_generator(source)


# By file suffix; anything else is a run folder, a weights file or a bundled name.
LOADERS: dict[str, Callable[[str | os.PathLike], TrainedGenerator]] = {
    ".onnx": load_onnx,
    ".safetensors": load_safetensors_generator,
    "": load_safetensors_generator,
}


def load_generator(
    source: str | os.PathLike, device: str | torch.device = "cpu", precision: str = "auto"
) -> TrainedGenerator:
    """Load a generator from a run folder, a weights file in one (generator.safetensors, best.safetensors),
    a bundled name such as "mnist", or an exported .onnx file (run by ONNX Runtime, on the CPU).

    precision: how PyTorch generators draw on the CPU: auto (bf16 where the CPU computes it natively, whose
    images differ from fp32's by at most a grey level or two), bf16 or fp32 (the network's own arithmetic)."""
    if precision not in PRECISIONS:
        raise CganError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    loader = LOADERS.get(Path(source).suffix.lower(), load_safetensors_generator)
    generator = loader(source)
    generator.net.to(device)
    generator.precision = precision
    return generator
