"""Training curves of a run folder's metrics.csv as one PNG: losses, D's outputs, gradient norms and the
quality measurements, drawn with matplotlib's object API on the Agg canvas (no display, no pyplot state).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import CheckpointError
from ..run_folder import METRICS_FILE, QUALITY_COLUMNS, RunFolder, as_run_folder

COLOURS = {"d": "tab:blue", "g": "tab:orange"}
QUALITY_STYLE = {  # column: (legend, colour); all but fd_evaluator lie in [0, 1]
    "class_accuracy": ("class accuracy", "tab:green"),
    "precision": ("precision", "tab:purple"),
    "recall": ("recall", "tab:brown"),
    "fd_evaluator": ("fd_evaluator (right axis, lower is better)", "tab:red"),
}


def load_metrics(folder: RunFolder) -> dict[str, np.ndarray]:
    """metrics.csv of a run folder as float columns, or a CheckpointError that says what is missing."""
    path = folder.metrics.path
    if not folder.metrics.exists():
        raise CheckpointError(
            f"{folder.describe()} has no {METRICS_FILE}: training curves need a run folder written by "
            "`cgan train` (bundled generators ship without their training log)"
        )
    metrics = folder.metrics.read()
    if not np.isfinite(metrics["d_loss"]).any():
        raise CheckpointError(
            f"{path} has no training rows yet: training logs one every --log-every steps (default 10)"
        )
    return metrics


def smooth(values: np.ndarray) -> np.ndarray:
    """A centred moving average over about 1/40 of the points: it follows the trend without the lag of an
    exponential average, and the edges average over the points that exist."""
    window = max(1, len(values) // 40) | 1  # odd, so it is centred
    kernel = np.ones(window)
    return np.convolve(values, kernel, "same") / np.convolve(np.ones(len(values)), kernel, "same")


def draw_curves(axes, metrics: dict, columns: dict[str, tuple[str, str]], ylabel: str, log: bool = False):
    """Each column against the step: every logged value faint, the smoothed curve on top, and a dot per
    epoch at its last step for the epoch's mean."""
    step, epoch = metrics["step"], metrics["epoch"]
    for column, (label, colour) in columns.items():
        values = metrics.get(column)
        if values is None:
            continue
        keep = np.isfinite(values) & (values > 0 if log else True)
        if not keep.any():
            continue
        x, y, epochs = step[keep], values[keep], epoch[keep]
        axes.plot(x, y, color=colour, alpha=0.2, linewidth=0.7)
        axes.plot(x, smooth(y), color=colour, linewidth=1.8, label=label)
        ends = [x[epochs == e].max() for e in np.unique(epochs)]
        means = [y[epochs == e].mean() for e in np.unique(epochs)]
        axes.plot(ends, means, "o", color=colour, markersize=4, markeredgecolor="white", markeredgewidth=0.6)
    if log:
        axes.set_yscale("log")
    axes.set_xlabel("step")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=9)


def draw_quality(axes, metrics: dict) -> None:
    """The --eval-every measurements: the [0, 1] scores on the left axis, fd_evaluator on the right."""
    rows = np.isfinite(metrics.get("class_accuracy", np.array([])))
    if not rows.any():
        axes.text(
            0.5,
            0.5,
            "no quality measurements in metrics.csv\ntrain with --eval-every N to log them",
            ha="center",
            va="center",
            fontsize=11,
            color="0.4",
            transform=axes.transAxes,
        )
        axes.set_title("quality")
        axes.set_axis_off()
        return
    step = metrics["step"][rows]
    lines = []
    for column in QUALITY_COLUMNS:
        label, colour = QUALITY_STYLE[column]
        if column != "fd_evaluator":
            lines += axes.plot(step, metrics[column][rows], "o-", color=colour, label=label, markersize=4)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("step")
    axes.set_ylabel("score (higher is better)")
    axes.grid(alpha=0.3)
    distance = axes.twinx()
    label, colour = QUALITY_STYLE["fd_evaluator"]
    lines += distance.plot(
        step, metrics["fd_evaluator"][rows], "s--", color=colour, label=label, markersize=4
    )
    distance.set_ylim(bottom=0)
    distance.set_ylabel("fd_evaluator")
    # Below the panel: on it, the legend would hide measurements wherever they happen to lie.
    axes.legend(
        lines,
        [line.get_label() for line in lines],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=2,
        fontsize=9,
    )
    axes.set_title("quality, measured by the evaluator network")


def training_curves_png(folder: str | Path | RunFolder) -> bytes:
    """The four panels of a run's metrics.csv as PNG bytes: the same metrics give the same bytes."""
    folder = as_run_folder(folder)
    metrics = load_metrics(folder)
    dataset = folder.read_config().get("dataset", "") if folder.config_file.is_file() else ""
    figure = Figure(figsize=(13, 8.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    (losses, outputs), (norms, quality) = figure.subplots(2, 2)
    draw_curves(
        losses,
        metrics,
        {"d_loss": ("discriminator", COLOURS["d"]), "g_loss": ("generator", COLOURS["g"])},
        "loss",
    )
    losses.set_title("losses")
    draw_curves(
        outputs,
        metrics,
        {
            "d_real": ("D(x): real images", COLOURS["d"]),
            "d_fake": ("D(G(z)): generated images", COLOURS["g"]),
        },
        "mean of sigmoid(D)",
    )
    outputs.set_ylim(0, 1)
    outputs.set_title("what the discriminator says (1: real)")
    draw_curves(
        norms,
        metrics,
        {"d_grad_norm": ("discriminator", COLOURS["d"]), "g_grad_norm": ("generator", COLOURS["g"])},
        "gradient L2 norm",
        log=True,
    )
    norms.set_title("gradient norms")
    draw_quality(quality, metrics)
    steps, epochs = int(np.nanmax(metrics["step"])), int(np.nanmax(metrics["epoch"]))
    figure.suptitle(
        f"{folder.path.name} ({dataset}): {epochs} epoch{'s' * (epochs != 1)}, {steps} steps\n"
        "faint: every logged step; line: smoothed; dots: epoch means",
        fontsize=12,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})  # no version stamp: same bytes
    return buffer.getvalue()
