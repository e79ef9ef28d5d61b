"""Generators: loading one from any source (loaders), generating images with it (generator), walks through
its latent space (latent), and its ONNX Runtime backend (onnx)."""

from .generator import TrainedGenerator, generate_images, noise, random_seed
from .latent import class_interpolation, latent_grid, noise_interpolation, slerp
from .loaders import load_generator

__all__ = [
    "TrainedGenerator",
    "class_interpolation",
    "generate_images",
    "latent_grid",
    "load_generator",
    "noise",
    "noise_interpolation",
    "random_seed",
    "slerp",
]
