"""Walks through what a generator can draw: class-to-class and within-class interpolations, and latent
grids of one class. Each returns uint8 images shaped by the walk; visuals/ turns them into pictures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import CganError
from .generator import TrainedGenerator, check_seed, noise


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from noise vectors a to b (..., D) at fractions t (broadcast to (..., 1)).

    A straight line between two Gaussian vectors passes through vectors shorter than the generator ever saw
    in training (mid-way, about 0.7 times the norm), which gives washed-out images; the great circle keeps
    the norm (White 2016, "Sampling Generative Networks").
    """
    cos = (a * b).sum(-1, keepdim=True) / (a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True))
    angle = torch.arccos(cos.clamp(-1.0, 1.0))
    sin = torch.sin(angle)
    parallel = sin.abs() < 1e-6  # the circle is undefined: fall back to the straight line
    sin = torch.where(parallel, torch.ones_like(sin), sin)
    weight_a = torch.where(parallel, 1 - t, torch.sin((1 - t) * angle) / sin)
    weight_b = torch.where(parallel, t, torch.sin(t * angle) / sin)
    return weight_a * a + weight_b * b


def class_interpolation(
    generator: TrainedGenerator, waypoints: Sequence[int | str], steps: int, count: int = 1, seed: int = 0
) -> np.ndarray:
    """Images (frames, count, H, W) of `count` fixed noise vectors while the label blends from each waypoint
    class to the next (linearly in class weights), `steps` frames per leg counting both ends. The noise is
    the one generate() draws from `seed`, so the first frame shows the images `cgan generate` would."""
    indices = [generator.label_index(label) for label in waypoints]
    if len(indices) < 2 or steps < 2:
        raise CganError("a class interpolation needs two classes or more and at least 2 steps")
    corners = torch.eye(generator.arch.num_classes)[indices]  # one-hot class weights at each waypoint
    t = torch.linspace(0, 1, steps)[:, None]
    legs = [(1 - t) * start + t * end for start, end in zip(corners[:-1], corners[1:], strict=True)]
    # Each leg starts where the last one ended: keep that frame once.
    weights = torch.cat([legs[0]] + [leg[1:] for leg in legs[1:]])
    z = noise(seed, count, generator.arch.latent_dim).repeat(len(weights), 1)
    images = generator.render(z, weights.repeat_interleave(count, dim=0))
    return images.reshape(len(weights), count, *images.shape[1:])


def noise_interpolation(
    generator: TrainedGenerator, label: int | str, steps: int, count: int = 1, seed: int = 0
) -> np.ndarray:
    """Images (steps, count, H, W) of one class while each of `count` noise vectors moves along a great
    circle to another one (slerp), so only the style changes, never the class."""
    if steps < 2:
        raise CganError("a noise interpolation needs at least 2 steps")
    # Two draws from one stream: the first is the noise generate() takes from this seed, so the walk begins
    # at the images `cgan generate --seed` draws.
    draw = torch.Generator().manual_seed(check_seed(seed))
    start, end = (torch.randn(count, generator.arch.latent_dim, generator=draw) for _ in range(2))
    t = torch.linspace(0, 1, steps)[:, None, None]
    z = slerp(start, end, t).reshape(steps * count, -1)
    labels = torch.full((steps * count,), generator.label_index(label), dtype=torch.long)
    images = generator.render(z, labels)
    return images.reshape(steps, count, *images.shape[1:])


def latent_grid(generator: TrainedGenerator, label: int | str, size: int, seed: int = 0) -> np.ndarray:
    """Images (size, size, H, W) of one class over a 2-D patch of noise space: four random noise vectors
    at the corners, slerp down the two sides and then across each row."""
    if size < 2:
        raise CganError("a latent grid needs a size of at least 2")
    top_left, top_right, bottom_left, bottom_right = noise(seed, 4, generator.arch.latent_dim)
    t = torch.linspace(0, 1, size)[:, None]
    left, right = slerp(top_left, bottom_left, t), slerp(top_right, bottom_right, t)  # (size, D) each
    z = slerp(left[:, None], right[:, None], t[None]).reshape(size * size, -1)
    labels = torch.full((size * size,), generator.label_index(label), dtype=torch.long)
    images = generator.render(z, labels)
    return images.reshape(size, size, *images.shape[1:])
