"""Generating images from a trained generator, and writing them as PNG grids, folders of PNGs or .npz."""

from __future__ import annotations

import io
import math
import secrets
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import data
from .checkpoint import GENERATOR_FORMAT, atomic_write, load_module, load_tensors, read_json
from .errors import CganError, CheckpointError
from .models import ArchConfig, build_generator

BUNDLED_DIR = Path(__file__).parent / "pretrained"
GENERATOR_FILE = "generator.safetensors"
MODEL_FILE = "model.json"


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> uint8 (N, H, W) for one channel, (N, H, W, C) otherwise."""
    pixels = ((images.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8).cpu()
    pixels = pixels.permute(0, 2, 3, 1)
    return (pixels[..., 0] if pixels.shape[-1] == 1 else pixels).numpy()


def random_seed() -> int:
    return secrets.randbelow(2**31)


class TrainedGenerator:
    """A generator network together with what it was trained on: classes, latent size, source."""

    def __init__(
        self, net: torch.nn.Module, arch: ArchConfig, classes: Sequence[str], source: str, meta: dict
    ):
        self.net = net.eval()
        self.arch = arch
        self.classes = tuple(classes)
        self.source = source
        self.meta = meta

    @property
    def device(self) -> torch.device:
        if isinstance(self.net, torch.nn.Module):
            return next(self.net.parameters()).device
        return torch.device("cpu")  # an ONNX Runtime session

    @property
    def dataset(self) -> str:
        return self.meta["dataset"]  # checked to name a known dataset by load_generator

    def label_index(self, label: int | str) -> int:
        """A class given by index (7, "7") or by name ("sneaker", "Ankle boot"), as the dataset names them."""
        return data.get_spec(self.dataset).class_index(label)

    @torch.inference_mode()
    def generate(
        self, labels: Sequence[int | str], seed: int | None = None, batch_size: int = 1024
    ) -> np.ndarray:
        """uint8 images, one per label. The noise is drawn on the CPU from `seed`, so the same seed and
        labels give the same images on any device and at any batch size."""
        indices = torch.tensor([self.label_index(label) for label in labels], dtype=torch.long)
        if len(indices) == 0:
            raise CganError("no labels given: ask for at least one image")
        seed = random_seed() if seed is None else int(seed)
        noise = torch.randn(len(indices), self.arch.latent_dim, generator=torch.Generator().manual_seed(seed))
        chunks = []
        for start in range(0, len(indices), batch_size):
            z = noise[start : start + batch_size].to(self.device)
            y = indices[start : start + batch_size].to(self.device)
            chunks.append(to_uint8(self.net(z, y)))
        return np.concatenate(chunks)


def resolve_generator_file(source: str | Path) -> Path:
    """The weights file meant by a run folder (its generator.safetensors), a weights file beside a model.json
    (such as a run's best.safetensors), or a bundled model's name."""
    path = Path(source)
    if path.is_dir():
        return path / GENERATOR_FILE
    if path.is_file() and path.suffix == ".safetensors":
        return path
    if not path.exists():
        try:
            name = data.get_spec(str(source)).name  # "fashion_mnist" and other spellings name one folder
        except CganError:
            name = str(source)
        if (BUNDLED_DIR / name / GENERATOR_FILE).is_file():
            return BUNDLED_DIR / name / GENERATOR_FILE
    available = sorted(p.name for p in BUNDLED_DIR.glob("*") if (p / GENERATOR_FILE).is_file())
    hint = (
        f"bundled generators: {', '.join(available)}" if available else "no bundled generators are installed"
    )
    raise CheckpointError(f"{source} is neither a run folder nor a bundled generator name ({hint})")


def read_model_description(model: dict, where: str | Path) -> tuple[ArchConfig, list[str]]:
    """The architecture and class names of a model.json, checked; `where` names it in errors."""
    if not isinstance(model, dict) or model.get("format") != GENERATOR_FORMAT:
        raise CheckpointError(f"{where} is not a cgan model description")
    try:
        arch = ArchConfig.from_dict(model["arch"])
        classes = list(model["classes"])
        dataset = model["dataset"]
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{where} lacks {exc}; the file is damaged") from None
    try:
        data.get_spec(dataset)
    except CganError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    if len(classes) != arch.num_classes:
        raise CheckpointError(f"{where} lists {len(classes)} classes for {arch.num_classes}")
    return arch, classes


def load_generator(source: str | Path, device: str | torch.device = "cpu") -> TrainedGenerator:
    """Load a generator from a run folder, a weights file in one (generator.safetensors, best.safetensors),
    a bundled name such as "mnist", or an exported .onnx file (run by ONNX Runtime, on the CPU)."""
    if Path(source).suffix == ".onnx":
        from .export import load_onnx_generator  # ONNX Runtime is an optional extra

        return load_onnx_generator(source)
    weights = resolve_generator_file(source)
    folder = weights.parent
    model = read_json(folder / MODEL_FILE, "model description (model.json)")
    arch, classes = read_model_description(model, folder / MODEL_FILE)
    if not weights.is_file():
        raise CheckpointError(f"{folder} has no {weights.name} yet: has training written a checkpoint?")
    tensors, _ = load_tensors(weights, GENERATOR_FORMAT)
    net = build_generator(arch)
    load_module("generator", net, tensors, weights)
    return TrainedGenerator(net.to(device), arch, classes, str(weights), model)


def make_grid(images: np.ndarray, columns: int, padding: int = 2) -> np.ndarray:
    """Tile uint8 images (N, H, W[, C]) row by row into one image with `padding` black pixels between."""
    count, height, width = images.shape[:3]
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    grid = np.zeros(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, *images.shape[3:]),
        dtype=np.uint8,
    )
    for i, image in enumerate(images):
        top = padding + (i // columns) * (height + padding)
        left = padding + (i % columns) * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    picture = Image.fromarray(image)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(path: Path, image: np.ndarray, scale: int = 1) -> None:
    data = png_bytes(image, scale)
    atomic_write(Path(path), lambda tmp: Path(tmp).write_bytes(data))


def save_npz(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez_compressed(f, images=images, labels=np.asarray(labels, dtype=np.int64))

    atomic_write(Path(path), write)
