"""Differentiable augmentation for GAN training (DiffAugment, Zhao et al. 2020).

The same kind of random transform is applied to the real and the generated images each time the
discriminator sees them, in D's step and in G's: D then cannot overfit a small training set, and since
every transform is differentiable, G's gradients pass through it. Images are in [-1, 1], background -1.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import CganError

DEFAULT_POLICY = "translation,cutout"  # the paper's choice for small, centred grey images


def translation(images: torch.Tensor, rng: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ratio * size pixels in each direction, filling with the background."""
    batch, _, height, width = images.shape
    shift = int(height * ratio + 0.5)
    padded = F.pad(images, (shift, shift, shift, shift), value=-1.0)
    dy = torch.randint(0, 2 * shift + 1, (batch, 1, 1), generator=rng, device=rng.device).to(images.device)
    dx = torch.randint(0, 2 * shift + 1, (batch, 1, 1), generator=rng, device=rng.device).to(images.device)
    rows = torch.arange(height, device=images.device).view(1, -1, 1) + dy  # (B, H, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, -1) + dx  # (B, 1, W)
    batch_index = torch.arange(batch, device=images.device).view(-1, 1, 1)
    # Gather in (B, H, W, C) order: advanced indexing keeps the gradient flowing to the kept pixels.
    return padded.permute(0, 2, 3, 1)[batch_index, rows, cols].permute(0, 3, 1, 2)


def cutout(images: torch.Tensor, rng: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Blank one square of side ratio * size per image, at a random place (it may reach past the edge)."""
    batch, _, height, width = images.shape
    size = int(height * ratio + 0.5)
    top = torch.randint(-(size // 2), height - size // 2, (batch, 1, 1), generator=rng, device=rng.device)
    left = torch.randint(-(size // 2), width - size // 2, (batch, 1, 1), generator=rng, device=rng.device)
    rows = torch.arange(height, device=images.device).view(1, -1, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, -1)
    top, left = top.to(images.device), left.to(images.device)
    inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return images * (~inside).unsqueeze(1).to(images.dtype)


def brightness(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Add one random offset in [-0.5, 0.5) to each image."""
    offset = torch.rand(len(images), 1, 1, 1, generator=rng, device=rng.device).to(images.device) - 0.5
    return images + offset.to(images.dtype)


def contrast(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Scale each image's deviation from its mean by a random factor in [0.5, 1.5)."""
    factor = torch.rand(len(images), 1, 1, 1, generator=rng, device=rng.device).to(images.device) + 0.5
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * factor.to(images.dtype) + mean


# Each takes (images, rng) and returns the transformed images.
TRANSFORMS: dict[str, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    "translation": translation,
    "cutout": cutout,
    "brightness": brightness,
    "contrast": contrast,
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """'translation,cutout' -> ('translation', 'cutout'), refusing unknown names."""
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    unknown = [name for name in names if name not in TRANSFORMS]
    if unknown or not names:
        raise CganError(f"--augment takes a comma-separated list of {', '.join(TRANSFORMS)}; got {policy!r}")
    return names


def augment(images: torch.Tensor, policy: tuple[str, ...], rng: torch.Generator) -> torch.Tensor:
    for name in policy:
        images = TRANSFORMS[name](images, rng)
    return images
