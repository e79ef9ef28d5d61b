"""Generators exported to ONNX, run by ONNX Runtime on the CPU (an optional extra: pip install 'cgan[onnx]')."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..errors import CganError, CheckpointError
from ..run_folder import read_model_description
from .generator import TrainedGenerator

METADATA_KEY = "cgan.model"  # the model description travels inside the .onnx file under this key


def onnx_modules():
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise CganError("ONNX export needs the onnx extra: pip install 'cgan[onnx]'") from None
    return onnx, onnxruntime


class OnnxNetwork(torch.nn.Module):
    """An ONNX Runtime session behind the generator network's interface: (z, labels) -> images."""

    def __init__(self, session):
        super().__init__()
        self.session = session

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if labels.is_floating_point():
            raise CganError(
                "blending classes needs the PyTorch generator (a run folder or bundled name); "
                "an ONNX export takes whole class indices only"
            )
        (images,) = self.session.run(None, {"z": z.numpy(), "labels": labels.numpy()})
        return torch.from_numpy(images)


def load_onnx_generator(path: str | os.PathLike) -> TrainedGenerator:
    """A generator from a file written by export_onnx, on ONNX Runtime with as many threads as PyTorch uses."""
    _, onnxruntime = onnx_modules()
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a damaged file
        raise CheckpointError(f"{path} is not a readable ONNX model ({type(exc).__name__})") from None
    props = session.get_modelmeta().custom_metadata_map
    if METADATA_KEY not in props:
        raise CheckpointError(f"{path} was not exported by cgan (no {METADATA_KEY} metadata)")
    try:
        model = json.loads(props[METADATA_KEY])
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: its {METADATA_KEY} metadata is damaged") from None
    arch, classes = read_model_description(model, path)
    return TrainedGenerator(OnnxNetwork(session), arch, classes, str(path), model)
