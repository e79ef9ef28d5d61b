"""The Inception FID through the optional torch-fidelity package, for comparison with published numbers."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import CganError


def torch_fidelity():
    try:
        import torch_fidelity
    except ImportError:
        raise CganError(
            "the Inception FID needs the optional package torch-fidelity (pip install torch-fidelity) and "
            "its Inception weights, which it downloads on first use; nothing else in cgan needs it"
        ) from None
    return torch_fidelity


def inception_fid(images: np.ndarray, real_images: np.ndarray) -> float:
    """Inception FID via the optional torch-fidelity package; a CganError when it cannot run here."""
    fidelity = torch_fidelity()

    class Pixels(torch.utils.data.Dataset):  # torch-fidelity reads uint8 (3, H, W) tensors
        def __init__(self, pixels):
            self.pixels = torch.from_numpy(pixels)

        def __len__(self):
            return len(self.pixels)

        def __getitem__(self, i):
            image = self.pixels[i]
            return image.expand(3, -1, -1) if image.dim() == 2 else image.permute(2, 0, 1)

    try:
        result = fidelity.calculate_metrics(
            input1=Pixels(images),
            input2=Pixels(real_images),
            fid=True,
            verbose=False,
            cuda=torch.cuda.is_available(),
        )
    except Exception as exc:  # a missing weights download surfaces as many different exception types
        raise CganError(
            f"torch-fidelity could not compute the Inception FID ({type(exc).__name__}: {exc}); "
            "its Inception weights must be in its cache or downloadable"
        ) from None
    return float(result["frechet_inception_distance"])
