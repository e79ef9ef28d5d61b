"""Training curves of a run folder's metrics.csv as one PNG (losses, D's outputs, gradient norms and the
quality measurements), and what `cgan evaluate --plot` draws (per-class accuracy beside the real-data floor,
the confusion matrix of the evaluator's predictions); both with matplotlib's object API on the Agg canvas
(no display, no pyplot state).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..errors import CganError, CheckpointError
from ..run_folder import METRICS_FILE, QUALITY_COLUMNS, RunFolder, as_run_folder

COLOURS = {"d": "tab:blue", "g": "tab:orange"}
FLOOR_COLOUR = "0.6"  # the real-data floor beside the evaluated images' bars
MAX_CELL_VALUES = 12  # classes up to which the confusion matrix writes its values in the cells
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
    return png(figure)


# --- cgan evaluate --plot ----------------------------------------------------------------------------


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})  # no version stamp: same bytes
    return buffer.getvalue()


def class_ticks(axes, classes: list[str], which: str) -> None:
    """Class names along an axis, slanted where they are longer than a digit or two."""
    positions, long = np.arange(len(classes)), max(len(name) for name in classes) > 2
    size = 9 if len(classes) <= 20 else 6
    if which == "x":
        axes.set_xticks(
            positions, classes, fontsize=size, rotation=40 if long else 0, ha="right" if long else "center"
        )
    else:
        axes.set_yticks(positions, classes, fontsize=size)


def as_floats(values: list) -> np.ndarray:
    """A list with nulls (classes with no images) as floats, nan for null."""
    return np.array([np.nan if value is None else value for value in values], dtype=float)


def accuracy_axis_bottom(*accuracies: np.ndarray) -> float:
    """Where the accuracy axis starts: 0, or a tenth below the lowest bar when all are above one half, so
    that 0.98 and 1.00 can be told apart (the axis says where it starts)."""
    values = np.concatenate(accuracies)
    lowest = np.nanmin(values) if np.isfinite(values).any() else 0.0
    return 0.0 if lowest < 0.5 else float(np.floor((lowest - 0.02) * 10) / 10)


def draw_bars(axes, x: np.ndarray, values: np.ndarray, width: float, colour: str, label: str, bottom: float):
    """Bars from the axis' bottom, each value above its bar where there is room for it."""
    finite = np.isfinite(values)
    axes.bar(x[finite], values[finite] - bottom, width, bottom=bottom, color=colour, label=label)
    if len(x) <= MAX_CELL_VALUES:
        for position, value in zip(x[finite], values[finite], strict=True):
            axes.text(position, value, f" {value:.3f}", rotation=90, ha="center", va="bottom", fontsize=7)


def draw_class_accuracy(axes, result: dict, floor: dict | None, name: str) -> None:
    """One bar per class for the evaluated images, the floor's bar beside it, overall ones dashed."""
    classes, x = result["classes"], np.arange(len(result["classes"]), dtype=float)
    accuracy = as_floats(result["per_class_accuracy"])
    floor_accuracy = as_floats(floor["per_class_accuracy"]) if floor else np.array([])
    bottom = accuracy_axis_bottom(accuracy, floor_accuracy)
    width = 0.4 if floor else 0.7
    shift = width / 2 if floor else 0.0
    draw_bars(axes, x - shift, accuracy, width, COLOURS["g"], name, bottom)
    overall = result["class_accuracy"]
    axes.axhline(
        overall, color=COLOURS["g"], linestyle="--", linewidth=1, label=f"{name}, all classes: {overall:.3f}"
    )
    if floor:
        draw_bars(
            axes, x + shift, floor_accuracy, width, FLOOR_COLOUR, "real floor (real train images)", bottom
        )
        overall = floor["class_accuracy"]
        axes.axhline(
            overall,
            color=FLOOR_COLOUR,
            linestyle="--",
            linewidth=1,
            label=f"real floor, all classes: {overall:.3f}",
        )
    for position in x[np.isnan(accuracy)]:
        axes.text(
            position, bottom, " no images", rotation=90, ha="center", va="bottom", fontsize=8, color="0.4"
        )
    class_ticks(axes, classes, "x")
    axes.set_xlim(-0.6, len(classes) - 0.4)
    axes.set_ylim(bottom, 1 + 0.08 * (1 - bottom))  # room for the values above the bars
    axes.set_yticks([tick for tick in axes.get_yticks() if bottom <= tick <= 1])
    axes.set_xlabel("requested class")
    axes.set_ylabel("fraction the evaluator assigns to the requested class")
    axes.grid(axis="y", alpha=0.3)
    axes.set_title("per-class accuracy" + (f" (the axis starts at {bottom:.1f})" if bottom else ""))


def draw_confusion(axes, result: dict, name: str):
    """The row-normalised confusion matrix (rows: requested class, columns: the evaluator's answer); rows of
    classes with no images grey; the values in the cells for up to MAX_CELL_VALUES classes."""
    classes = result["classes"]
    matrix = np.array(
        [as_floats(row) if row is not None else [np.nan] * len(classes) for row in result["confusion"]]
    )
    colours = matplotlib.colormaps["Blues"].with_extremes(bad="0.85")
    image = axes.imshow(matrix, cmap=colours, vmin=0, vmax=1, interpolation="nearest")
    if len(classes) <= MAX_CELL_VALUES:
        for (row, column), value in np.ndenumerate(matrix):
            if np.isfinite(value):
                text, colour = (
                    ("0", "0.6") if value == 0 else (f"{value:.3f}", "white" if value > 0.6 else "black")
                )
                axes.text(column, row, text, ha="center", va="center", fontsize=8, color=colour)
    class_ticks(axes, classes, "x")
    class_ticks(axes, classes, "y")
    axes.set_xlabel("class the evaluator predicts")
    axes.set_ylabel("requested class")
    axes.set_title(f"confusion matrix of the {name} images (each row sums to 1)")
    return image


def evaluation_plot_png(
    result: dict, floor: dict | None = None, title: str | None = None, name: str = "generated"
) -> bytes:
    """What `cgan evaluate --plot` draws, as PNG bytes: the per-class accuracy of the evaluated images as
    bars, the real-data floor's beside them, and the confusion matrix of the evaluator's predictions.

    `result` is what `evaluate_source`, `evaluate_generator`, `evaluate_images` or `evaluate_real` returned;
    the floor is `floor`, else the result's own "floor" (evaluate_source's), else left out. `name` says what
    the images are ("generated", "real train"). The same result gives the same bytes."""
    if "confusion" not in result or "per_class_accuracy" not in result:
        raise CganError("the plot needs what evaluate_source, evaluate_generator or evaluate_images return")
    floor = floor if floor is not None else result.get("floor")
    count = len(result["classes"])
    side = min(max(5.0, 0.45 * count + 1.5), 16.0)  # inches per panel: room for the class names
    figure = Figure(figsize=(2 * side + 2.5, side + 1.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    bars, confusion = figure.subplots(1, 2)
    draw_class_accuracy(bars, result, floor, name)
    # Below the panels (constrained layout makes room): on a panel, it would hide the tops of the bars.
    figure.legend(*bars.get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize=9)
    figure.colorbar(
        draw_confusion(confusion, result, name), ax=confusion, shrink=0.8, label="fraction of the row"
    )
    if title is None:
        what = result.get("source", f"{result['num_images']} images")
        title = f"{result['dataset']}: {what}, seed {result['seed']}"
    figure.suptitle(f"{title}\nas the evaluator network sees them", fontsize=12)
    return png(figure)
