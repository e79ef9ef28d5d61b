"""Pixels in and out: the one conversion between uint8 pixels and the networks' [-1, 1] floats, grids of
images, and the PNG, GIF and .npz files cgan writes (each written atomically)."""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .checkpoint import atomic_write
from .errors import CganError

# The most pixels one picture (or the frames of one GIF, or one folder of PNGs) may have: 64 MB of grey
# pixels, and below Pillow's decompression-bomb warning, so cgan reads back every picture it writes.
MAX_PIXELS = 2**26
GIF_MAX_MS = 655_350  # a GIF stores each frame's time in hundredths of a second, in 16 bits


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> uint8 (N, H, W) for one channel, (N, H, W, C) otherwise."""
    pixels = ((images.float() + 1) * 127.5).round_().clamp_(0, 255).to(torch.uint8).cpu()
    pixels = pixels.permute(0, 2, 3, 1)
    return (pixels[..., 0] if pixels.shape[-1] == 1 else pixels).numpy()


def to_float(pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, C) -> float32 (N, C, H, W) in [-1, 1], as the networks read images."""
    pixels = torch.as_tensor(pixels)
    channels_first = pixels.unsqueeze(1) if pixels.dim() == 3 else pixels.permute(0, 3, 1, 2)
    return channels_first.float().div_(127.5).sub_(1.0)


def pixel_shape(image_shape: tuple[int, int, int]) -> tuple[int, ...]:
    """The numpy shape of one uint8 image for a network's (C, H, W): (H, W) for grayscale, (H, W, C) else."""
    channels, height, width = image_shape
    return (height, width) if channels == 1 else (height, width, channels)


def check_pixels(width: int, height: int, count: int = 1) -> None:
    """Refuse to draw `count` pictures of width x height when together they exceed MAX_PIXELS."""
    if width * height * count > MAX_PIXELS:
        what = f"{count} pictures of {width}x{height}" if count > 1 else f"a {width}x{height} picture"
        raise CganError(
            f"{what} asked for, {width * height * count:,} pixels; at most {MAX_PIXELS:,} at once: use a "
            "smaller --scale or fewer images"
        )


@contextmanager
def open_picture(path: Path) -> Iterator[Image.Image]:
    """A picture file opened for reading; one over MAX_PIXELS is refused from its header, before its pixels
    are decoded, and a damaged one is a CganError too."""
    too_large = f"{path} is too large a picture to read (over {MAX_PIXELS:,} pixels)"
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check, above MAX_PIXELS, warns before it refuses: both are refused here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            picture = Image.open(path)  # reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise CganError(too_large) from None
    except OSError as exc:
        raise CganError(f"{path} is not a readable PNG ({exc})") from None
    with picture:
        if picture.width * picture.height > MAX_PIXELS:
            raise CganError(too_large)
        try:
            yield picture
        except OSError as exc:  # its pixels are damaged
            raise CganError(f"{path} is not a readable PNG ({exc})") from None


def grid_shape(count: int, height: int, width: int, columns: int, padding: int = 2) -> tuple[int, int]:
    """The (height, width) of make_grid's tiling of `count` images."""
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    return rows * (height + padding) + padding, columns * (width + padding) + padding


def make_grid(images: np.ndarray, columns: int, padding: int = 2) -> np.ndarray:
    """Tile uint8 images (N, H, W[, C]) row by row into one image with `padding` black pixels between."""
    count, height, width = images.shape[:3]
    columns = max(1, min(columns, count))
    grid = np.zeros((*grid_shape(count, height, width, columns, padding), *images.shape[3:]), dtype=np.uint8)
    for i, image in enumerate(images):
        top = padding + (i // columns) * (height + padding)
        left = padding + (i % columns) * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def png_bytes(image: np.ndarray, scale: int = 1) -> bytes:
    check_pixels(image.shape[1] * scale, image.shape[0] * scale)
    picture = Image.fromarray(image)
    if scale > 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


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
    durations = [min(frame_ms, GIF_MAX_MS)] * len(frames)
    durations[0] = durations[-1] = min(frame_ms if hold_ms is None else hold_ms, GIF_MAX_MS)
    if bounce:
        frames = [*frames, *frames[-2:0:-1]]
        durations = durations + durations[-2:0:-1]
    check_pixels(frames[0].shape[1] * scale, frames[0].shape[0] * scale, len(frames))
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


def save_png(path: Path, image: np.ndarray, scale: int = 1) -> None:
    save_bytes(path, png_bytes(image, scale))


def save_pngs(folder: Path, named: Sequence[tuple[str, np.ndarray]], scale: int = 1) -> None:
    """One PNG per (file name, image) in `folder`, all or none: a failed write removes those written. Files
    already there are never replaced (a failed write would then remove what was someone's)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CganError(f"{folder} is a file, not a folder; choose another folder")
    taken = [name for name, _ in named if (folder / name).is_file()]
    if taken:
        more = f" and {len(taken) - 1:,} more" if len(taken) > 1 else ""
        raise CganError(f"{folder} already holds {taken[0]}{more}; choose another folder or empty this one")
    created = not folder.exists()
    written: list[Path] = []
    try:
        for name, image in named:
            save_png(folder / name, image, scale)
            written.append(folder / name)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        raise


def save_npz(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez_compressed(f, images=images, labels=np.asarray(labels, dtype=np.int64))

    atomic_write(Path(path), write)
