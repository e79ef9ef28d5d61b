"""Export a trained generator to ONNX, checked against PyTorch before the file is kept; run it with
ONNX Runtime (generation.onnx), which generates faster than PyTorch on a CPU (docs/speed.md).

The graph takes `z` (batch, latent_dim) float32 and `labels` (batch,) int64 and gives `images`
(batch, C, H, W) float32 in [-1, 1]; the batch size is dynamic. The run's model.json travels inside the
file as metadata ("cgan.model"), so the file alone says which classes its labels mean.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from .checkpoint import atomic_write
from .errors import CganError
from .generation import TrainedGenerator, load_generator
from .generation.onnx import METADATA_KEY, OnnxNetwork, onnx_modules
from .progress import bar

TOLERANCE = 1e-5  # largest difference from PyTorch's output that an export may have


def export_onnx(
    source: str | Path | TrainedGenerator, path: str | Path, check_batch_sizes=(1, 7, 64)
) -> float:
    """Write the generator of `source` (a run folder, weights file, bundled name or a loaded generator) to
    `path` as ONNX.

    Returns the largest absolute difference from PyTorch over random inputs at each of check_batch_sizes;
    raises CganError, writing nothing, when it exceeds TOLERANCE.
    """
    onnx, onnxruntime = onnx_modules()
    generator = source if isinstance(source, TrainedGenerator) else load_generator(source)
    net, latent_dim = generator.net, generator.arch.latent_dim
    example = (torch.randn(2, latent_dim), torch.tensor([0, 1]))
    batch = torch.export.Dim("batch")
    progress = bar(1 + len(check_batch_sizes), "exporting to ONNX, then checking", unit="stage")
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    with warnings.catch_warnings(), torch.inference_mode(False):
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        exporter_log.setLevel(logging.ERROR)
        try:
            program = torch.onnx.export(
                net,
                example,
                input_names=["z", "labels"],
                output_names=["images"],
                dynamic_shapes=({0: batch}, {0: batch}),
                dynamo=True,
                verbose=False,
            )
        finally:
            exporter_log.setLevel(level)
    assert program is not None  # the dynamo exporter returns its program (only the legacy one returns None)
    model = program.model_proto
    onnx.helper.set_model_props(model, {METADATA_KEY: json.dumps(generator.meta)})
    serialized = model.SerializeToString()
    progress.update(1)

    exported = OnnxNetwork(onnxruntime.InferenceSession(serialized, providers=["CPUExecutionProvider"]))
    noise = torch.Generator().manual_seed(0)
    worst = 0.0
    for size in check_batch_sizes:
        z = torch.randn(size, latent_dim, generator=noise)
        labels = torch.randint(0, generator.arch.num_classes, (size,), generator=noise)
        with torch.inference_mode():
            expected = net(z, labels).numpy()
        worst = max(worst, float(np.abs(exported(z, labels).numpy() - expected).max()))
        progress.update(1)
    progress.close()
    if not worst <= TOLERANCE:
        raise CganError(
            f"the ONNX graph differs from PyTorch by {worst:.2e} (> {TOLERANCE:g}); nothing written"
        )
    atomic_write(Path(path), lambda tmp: Path(tmp).write_bytes(serialized))
    return worst
