"""Generating images from a trained generator (for labels, along interpolations, over a latent grid), and
writing them as PNG grids, looping GIFs, folders of PNGs or .npz."""

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
# Images per forward pass when generating many: 1,024 images in chunks of 128 ran at 18,400 images/s on 2
# cores against 10,100 in one chunk of 1,024 (the activations of a small chunk stay in cache).
GENERATE_BATCH = 128


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> uint8 (N, H, W) for one channel, (N, H, W, C) otherwise."""
    pixels = ((images.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8).cpu()
    pixels = pixels.permute(0, 2, 3, 1)
    return (pixels[..., 0] if pixels.shape[-1] == 1 else pixels).numpy()


def random_seed() -> int:
    return secrets.randbelow(2**31)


def noise(seed: int, *shape: int) -> torch.Tensor:
    """Standard normal noise drawn on the CPU from `seed`: the same on every device."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


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
        self, labels: Sequence[int | str], seed: int | None = None, batch_size: int = GENERATE_BATCH
    ) -> np.ndarray:
        """uint8 images, one per label. The noise is drawn on the CPU from `seed`, so the same seed and
        labels give the same images on any device and at any batch size."""
        indices = torch.tensor([self.label_index(label) for label in labels], dtype=torch.long)
        if len(indices) == 0:
            raise CganError("no labels given: ask for at least one image")
        seed = random_seed() if seed is None else int(seed)
        return self.render(noise(seed, len(indices), self.arch.latent_dim), indices, batch_size)

    @torch.inference_mode()
    def render(self, z: torch.Tensor, labels: torch.Tensor, batch_size: int = GENERATE_BATCH) -> np.ndarray:
        """uint8 images for given noise (N, latent_dim) and labels: class indices (N,) int64, or class
        weights (N, classes) float, which blend the classes (used by class-to-class interpolation)."""
        if labels.is_floating_point() and not isinstance(self.net, torch.nn.Module):
            raise CganError(
                "blending classes needs the PyTorch generator (a run folder or bundled name); "
                "an ONNX export takes whole class indices only"
            )
        chunks = []
        for start in range(0, len(z), batch_size):
            chunk_z = z[start : start + batch_size].to(self.device)
            chunk_labels = labels[start : start + batch_size].to(self.device)
            chunks.append(to_uint8(self.net(chunk_z, chunk_labels)))
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
    save_bytes(path, png_bytes(image, scale))


def save_npz(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez_compressed(f, images=images, labels=np.asarray(labels, dtype=np.int64))

    atomic_write(Path(path), write)


# --- interpolations and latent grids --------------------------------------------------------------


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
    draw = torch.Generator().manual_seed(seed)
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


# --- animations -----------------------------------------------------------------------------------


def gif_bytes(
    frames: Sequence[np.ndarray],
    scale: int = 1,
    frame_ms: int = 80,
    hold_ms: int | None = None,
    bounce: bool = False,
) -> bytes:
    """A looping GIF of uint8 frames (H, W[, C]), enlarged `scale` times with nearest neighbour.

    hold_ms: how long the first and last frames stay (default: frame_ms), so the eye sees where an
    interpolation starts and ends. bounce: play forward then back, so the loop never jumps.
    """
    if len(frames) == 0:
        raise CganError("no frames to animate")
    durations = [frame_ms] * len(frames)
    durations[0] = durations[-1] = frame_ms if hold_ms is None else hold_ms
    if bounce:
        frames = [*frames, *frames[-2:0:-1]]
        durations = durations + durations[-2:0:-1]
    pictures = [Image.fromarray(frame) for frame in frames]
    if scale > 1:
        size = (pictures[0].width * scale, pictures[0].height * scale)
        pictures = [picture.resize(size, Image.Resampling.NEAREST) for picture in pictures]
    buffer = io.BytesIO()
    pictures[0].save(
        buffer, format="GIF", save_all=True, append_images=pictures[1:], duration=durations, loop=0
    )
    return buffer.getvalue()


def save_bytes(path: Path, content: bytes) -> None:
    atomic_write(Path(path), lambda tmp: Path(tmp).write_bytes(content))
