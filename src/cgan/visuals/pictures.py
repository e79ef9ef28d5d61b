"""The pictures that show what a generator learned, as encoded PNG/GIF bytes: interpolations, latent grids,
labelled per-class sheets, real beside generated, and the run's per-epoch samples as one animation.

`cgan interpolate`, `latent-grid`, `evolution`, `compare-real` (cli/visuals.py) and `cgan report`
(report.py) all draw through these functions, so a picture in the report is the one the command writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import CganError, CheckpointError
from ..generation import TrainedGenerator, class_interpolation, latent_grid, noise_interpolation
from ..images import check_pixels, gif_bytes, grid_shape, make_grid, open_picture, png_bytes
from ..run_folder import RunFolder, as_run_folder

GAP = 6  # pixels between the panels of a sheet (before scaling)


# --- interpolations and latent grids -----------------------------------------------------------------


def interpolation(
    generator: TrainedGenerator,
    fmt: str,
    steps: int,
    count: int = 1,
    seed: int = 0,
    classes: Sequence[int | str] | None = None,
    label: int | str | None = None,
    scale: int = 4,
    frame_ms: int = 80,
) -> bytes:
    """A class-to-class interpolation through `classes` (fixed noise), or one within the class `label`
    (noise slerped), as a looping GIF (fmt "gif") or a PNG strip with one row per noise vector (fmt "png").
    The GIF plays there and back, unless the classes end where they began (a tour such as 0, 1, ..., 9, 0
    loops by itself)."""
    if (classes is None) == (label is None):
        raise CganError("interpolate between classes (--from A --to B) or within one class (--label L)")
    height, width = generator.arch.image_shape[1:]
    if fmt == "png":
        strip_height, strip_width = grid_shape(steps * count, height, width, steps)
        check_pixels(strip_width * scale, strip_height * scale)
    else:
        frame_height, frame_width = grid_shape(count, height, width, count)
        check_pixels(frame_width * scale, frame_height * scale, 2 * steps - 2)  # at most, with the way back
    if classes is not None:
        frames = class_interpolation(generator, classes, steps, count, seed)
    else:
        assert label is not None  # exactly one of the two, as checked above
        frames = noise_interpolation(generator, label, steps, count, seed)
    if fmt == "png":
        strips = frames.swapaxes(0, 1).reshape(-1, *frames.shape[2:])  # row r: noise vector r, left to right
        return png_bytes(make_grid(strips, columns=len(frames)), scale)
    grids = [make_grid(frame, columns=count) for frame in frames]
    closed = classes is not None and generator.label_index(classes[0]) == generator.label_index(classes[-1])
    return gif_bytes(grids, scale, frame_ms, hold_ms=10 * frame_ms, bounce=not closed)


def latent_grid_png(
    generator: TrainedGenerator, label: int | str, size: int, seed: int = 0, scale: int = 3
) -> bytes:
    """A size x size grid of one class over a patch of noise space (generation.latent_grid), as PNG."""
    grid_height, grid_width = grid_shape(size * size, *generator.arch.image_shape[1:], size)
    check_pixels(grid_width * scale, grid_height * scale)
    grid = latent_grid(generator, label, size, seed)
    return png_bytes(make_grid(grid.reshape(-1, *grid.shape[2:]), columns=size), scale)


# --- labelled sheets -----------------------------------------------------------------------------------


def font(scale: int) -> ImageFont.FreeTypeFont:
    """Pillow's own font (no system fonts), so the same text gives the same pixels on every machine."""
    loaded = ImageFont.load_default(size=6 * scale + 6)
    assert isinstance(loaded, ImageFont.FreeTypeFont)  # what load_default returns whenever given a size
    return loaded


def labelled_sheet(
    panels: Sequence[np.ndarray], titles: Sequence[str], rows: Sequence[str], scale: int
) -> bytes:
    """Grids of equal height (one row of tiles per entry of `rows`) side by side, enlarged `scale` times,
    with a title over each grid and the row names down the left."""
    separator = np.full((panels[0].shape[0], GAP, *panels[0].shape[2:]), 96, dtype=np.uint8)
    pieces = [piece for panel in panels for piece in (separator, panel)][1:]
    body = Image.fromarray(np.concatenate(pieces, axis=1))
    check_pixels(body.width * scale, body.height * scale)
    body = body.resize((body.width * scale, body.height * scale), Image.Resampling.NEAREST)
    text = font(scale)
    white = 255 if body.mode == "L" else (255, 255, 255)
    margin = round(max(text.getlength(name) for name in rows)) + 4 * scale
    header = int(text.size) + 4 * scale  # the size we gave, an int (Pillow types it as a float)
    sheet = Image.new(body.mode, (margin + body.width, header + body.height))
    sheet.paste(body, (margin, header))
    draw = ImageDraw.Draw(sheet)
    row_height = (body.height - 2 * scale) / len(rows)  # make_grid's padding at the top and bottom
    for i, name in enumerate(rows):
        middle = header + 2 * scale + (i + 0.5) * row_height
        draw.text((margin - 2 * scale, middle), name, fill=white, font=text, anchor="rm")
    left = margin
    for panel, title in zip(panels, titles, strict=True):
        width = panel.shape[1] * scale
        draw.text((left + width / 2, header / 2), title, fill=white, font=text, anchor="mm")
        left += width + GAP * scale
    return png_bytes(np.asarray(sheet))


def class_sheet(generator: TrainedGenerator, count: int = 10, seed: int = 0, scale: int = 2) -> bytes:
    """`count` generated images of every class, one row each, the class names beside the rows."""
    labels = np.repeat(np.arange(len(generator.classes)), count)
    images = generator.generate(labels.tolist(), seed=seed)
    title = f"generated, seed {seed}"
    return labelled_sheet([make_grid(images, count)], [title], generator.classes, scale)


def real_vs_generated(
    generator: TrainedGenerator, count: int = 8, seed: int = 0, scale: int = 2, data_dir=None
) -> bytes:
    """`count` real test images of every class (chosen at random by `seed`) beside as many generated ones."""
    images, labels = generator.training_data(data_dir).split("test")
    choose = np.random.default_rng(seed)
    real = []
    for index in range(len(generator.classes)):
        members = np.flatnonzero(labels == index)
        if len(members) < count:
            raise CganError(
                f"the {generator.dataset} test split has only {len(members)} images of class {index}"
            )
        real.append(images[np.sort(choose.choice(members, count, replace=False))])
    fake = generator.generate(np.repeat(np.arange(len(generator.classes)), count).tolist(), seed=seed)
    panels = [make_grid(np.concatenate(real), count), make_grid(fake, count)]
    return labelled_sheet(panels, ["real (test split)", "generated"], generator.classes, scale)


# --- the training evolution ------------------------------------------------------------------------------


def evolution_gif(folder: str | Path | RunFolder, scale: int = 1, frame_ms: int = 400, every: int = 1) -> bytes:
    """The run's per-epoch sample grids (the same noise every epoch) as a looping GIF, each frame captioned
    with its epoch; the first and last epochs stay longer. every: keep only the first epoch, every
    every-th and the last, which keeps the file small for a long run."""
    folder = as_run_folder(folder)
    grids = folder.sample_grids()
    last = grids[-1][0]
    grids = [(epoch, path) for epoch, path in grids if epoch % every == 0 or epoch in (grids[0][0], last)]
    frames = []
    for epoch, path in grids:
        with open_picture(path) as picture:
            grid = picture.convert(picture.mode if picture.mode in ("L", "RGB") else "RGB")
        text = font(max(1, grid.width // 300))
        caption_height = int(text.size) + 8  # the size we gave, an int (Pillow types it as a float)
        frame = Image.new(grid.mode, (grid.width, grid.height + caption_height))
        frame.paste(grid, (0, caption_height))
        white = 255 if frame.mode == "L" else (255, 255, 255)
        ImageDraw.Draw(frame).text((4, 4), f"epoch {epoch} of {last}", fill=white, font=text)
        frames.append(np.asarray(frame))
    if len({frame.shape for frame in frames}) > 1:
        raise CheckpointError(f"the sample grids in {folder.samples_dir} differ in size")
    return gif_bytes(frames, scale, frame_ms, hold_ms=4 * frame_ms)
