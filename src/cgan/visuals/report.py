"""`cgan report`: one self-contained HTML page on a generator (a run folder or a bundled one).

Every picture is embedded as a base64 data URI and the style is inline, so the file opens offline, can be
mailed, and nothing in it points anywhere. A part the folder cannot supply (curves without metrics.csv,
the evolution without samples/, real images without the dataset) is replaced by a line saying what is
missing and how to get it. Nothing in it depends on the clock: the same seed gives the same bytes.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import CganError
from ..generation import TrainedGenerator
from ..run_folder import QUALITY_COLUMNS, RunFolder
from .pictures import (
    class_sheet,
    evolution_gif,
    interpolation,
    latent_grid_png,
    real_vs_generated,
)

MAX_EVOLUTION_FRAMES = 20  # a long run shows every n-th epoch, so the page stays a few MB
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: .9em; } td, th { padding: .25em .8em; border-bottom: 1px solid #eee; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; image-rendering: pixelated; }
img.plot { image-rendering: auto; }
pre { background: #f6f6f6; padding: 1em; white-space: pre-wrap; font-size: .85em; }
p.missing { color: #777; font-style: italic; white-space: pre-wrap; }  /* errors keep their lines */
"""


def data_uri(content: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def image(content: bytes, mime: str, alt: str, css_class: str = "") -> str:
    attribute = f' class="{css_class}"' if css_class else ""
    return f'<img{attribute} src="{data_uri(content, mime)}" alt="{html.escape(alt)}">'


def missing(text: str) -> str:
    return f'<p class="missing">{html.escape(text)}</p>'


def key_value_table(values: dict) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{html.escape('-' if value is None else str(value))}</td></tr>"
        for key, value in values.items()
    )
    return f"<table>{rows}</table>"


def config_section(generator: TrainedGenerator, folder: RunFolder) -> str:
    if folder.config_file.is_file():
        return "<h2>Training config</h2>" + key_value_table(folder.read_config())
    described = {"dataset": generator.dataset, "step": generator.meta.get("step"), **generator.arch.to_dict()}
    return "<h2>Model</h2>" + key_value_table(described)


def evaluation_section(folder: RunFolder) -> str:
    """The run's --eval-every rows of metrics.csv (the last is the run's latest state), or a model card."""
    parts = ["<h2>Evaluation</h2>"]
    if folder.metrics.exists():
        metrics = folder.metrics.read()
        rows = np.flatnonzero(np.isfinite(metrics.get("class_accuracy", np.array([]))))
        if len(rows):
            columns = ("step", "epoch", "elapsed_s", *QUALITY_COLUMNS)
            head = "".join(f"<th>{'training s' if c == 'elapsed_s' else c}</th>" for c in columns)
            digits = {"step": 0, "epoch": 0, "elapsed_s": 0}  # whole numbers; the scores get 4 decimals
            body = "".join(
                "<tr>"
                + "".join(f'<td class="number">{metrics[c][i]:.{digits.get(c, 4)}f}</td>' for c in columns)
                + "</tr>"
                for i in rows
            )
            parts.append(
                "<p>Measured during training by the evaluator network (--eval-every), the last row being "
                "the latest; docs/evaluation.md defines every column.</p>"
                f"<table><tr>{head}</tr>{body}</table>"
            )
    if folder.model_card_file.is_file():
        parts.append(f"<pre>{html.escape(folder.model_card_file.read_text())}</pre>")
    if len(parts) == 1:
        parts.append(
            missing(
                "No quality measurements: train with --eval-every N to log them into metrics.csv, "
                f"or run: cgan evaluate {folder.path}"
            )
        )
    return "".join(parts)


def curves_section(folder: RunFolder) -> str:
    from .plots import training_curves_png  # matplotlib is imported only when a report is made

    try:
        picture = image(training_curves_png(folder), "image/png", "training curves", "plot")
    except CganError as exc:
        picture = missing(str(exc))
    return "<h2>Training curves</h2>" + picture


def pictures_section(generator: TrainedGenerator, seed: int, label: int | str, data_dir) -> str:
    name = generator.classes[generator.label_index(label)]
    tour = [*range(len(generator.classes)), 0]
    parts = [
        "<h2>Every class</h2>",
        image(class_sheet(generator, 10, seed), "image/png", "ten generated images of every class"),
        "<h2>Real beside generated</h2>",
    ]
    try:
        parts.append(
            image(real_vs_generated(generator, 8, seed, data_dir=data_dir), "image/png", "real vs generated")
        )
    except CganError as exc:
        parts.append(missing(f"No real images: {exc}"))
    parts += [
        "<h2>Interpolations</h2>",
        "<p>Through every class with the noise held fixed (the label blends from one class to the next):</p>",
        image(interpolation(generator, "gif", 8, 5, seed, classes=tour, scale=3), "image/gif", "class tour"),
        f"<p>Within class {html.escape(name)}, from one noise vector to another along a great circle (slerp):</p>",
        image(interpolation(generator, "gif", 16, 5, seed, label=label, scale=3), "image/gif", "noise walk"),
        f"<p>A 2-D patch of noise space for class {html.escape(name)}, four random corners:</p>",
        image(latent_grid_png(generator, label, 8, seed, scale=2), "image/png", "latent grid"),
    ]
    return "".join(parts)


def evolution_section(folder: RunFolder) -> str:
    try:
        every = math.ceil(len(folder.sample_grids()) / MAX_EVOLUTION_FRAMES)
        picture = image(evolution_gif(folder, every=every), "image/gif", "the per-epoch sample grids")
    except CganError as exc:
        picture = missing(str(exc))
    return "<h2>Training evolution</h2><p>The same noise at the end of every epoch.</p>" + picture


def build_report(generator: TrainedGenerator, seed: int = 0, data_dir=None, label: int | str = 0) -> str:
    """The whole page for a loaded generator; the folder it was loaded from supplies config and metrics."""
    generator.label_index(label)  # a wrong --label fails before any picture is drawn
    folder = RunFolder(Path(generator.source).parent)
    title = folder.describe() if folder.is_bundled else f"run {folder.path.name}"
    body = "".join(
        [
            f"<h1>cgan report: {html.escape(title)}</h1>",
            f"<p>{html.escape(generator.dataset)} generator from <code>{html.escape(str(folder.path))}</code>, "
            f"pictures drawn with seed {seed} by cgan {__version__}.</p>",
            config_section(generator, folder),
            evaluation_section(folder),
            curves_section(folder),
            pictures_section(generator, seed, label, data_dir),
            evolution_section(folder),
        ]
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>cgan report: {html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )
