"""The run folder: the one place that knows its layout and reads and writes its files.

    config.json                    the training config (training.config.TrainConfig)
    model.json                     what rebuilds the generator: architecture, dataset, class names
    metrics.csv                    the training log (MetricsLog)
    samples/epoch_NNN.png          fixed-noise grids, one row per class
    checkpoints/last.safetensors   resumable training state
    generator.safetensors          the sampling generator's weights
    best.safetensors               the generator with the lowest fd_evaluator measured so far
    tensorboard/                   event files for TensorBoard (cgan train --tensorboard)
    MODEL_CARD.md                  how a bundled generator was made (bundled folders only)

Training writes a run folder and holds its lock while it does; generation, evaluation, plots, reports,
serving and export read it. Bundled generators are run folders inside the package.
"""

from __future__ import annotations

import csv
import fcntl
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .checkpoint import GENERATOR_FORMAT, atomic_write, naming, read_json, write_json
from .data import Dataset, get_spec
from .data.userdata import check_class_names
from .errors import CganError, CheckpointError, DataError
from .models import ArchConfig

CONFIG_FILE = "config.json"
MODEL_FILE = "model.json"
METRICS_FILE = "metrics.csv"
GENERATOR_FILE = "generator.safetensors"
BEST_FILE = "best.safetensors"
CHECKPOINT_FILE = Path("checkpoints") / "last.safetensors"
SAMPLES_DIR = "samples"
TENSORBOARD_DIR = "tensorboard"
MODEL_CARD_FILE = "MODEL_CARD.md"
LOCK_FILE = ".lock"
BUNDLED_DIR = Path(__file__).parent / "pretrained"

SAMPLE_NAME = re.compile(r"epoch_(\d+)\.png")
# Left behind by a write that was killed (checkpoint.atomic_write's temporary names).
TEMPORARY_NAME = re.compile(r"\..+\.[A-Za-z0-9_]+\.tmp")
# Filled on the rows written by a quality measurement, empty on the others.
QUALITY_COLUMNS = ("class_accuracy", "fd_evaluator", "precision", "recall")
METRIC_COLUMNS = (
    "step",
    "epoch",
    "elapsed_s",
    "d_loss",
    "g_loss",
    "d_real",
    "d_fake",
    "g_grad_norm",
    "d_grad_norm",
    "images_per_s",
    *QUALITY_COLUMNS,
)


class MetricsLog:
    """metrics.csv: one row every few steps, plus the rows of quality measurements."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> dict[str, np.ndarray]:
        """The log as columns of floats (empty cells become NaN)."""
        try:
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
            columns = rows[0].keys() if rows else METRIC_COLUMNS
            return {c: np.array([_number(r[c]) for r in rows]) for c in columns}
        except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
            raise CheckpointError(f"{self.path} is not a readable cgan metrics log ({exc})") from None

    def truncate_after(self, step: int) -> None:
        """Forget rows logged after `step` (the checkpoint a run resumes from): they are trained again."""
        if not self.exists():
            return
        steps = self.read()["step"]
        with open(self.path, newline="") as f:
            rows = [row for row, row_step in zip(csv.DictReader(f), steps, strict=True) if row_step <= step]

        def write(tmp):
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)

        atomic_write(self.path, write)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    @contextmanager
    def appender(self) -> Iterator:
        """A function that appends one row (a dict of METRIC_COLUMNS) and flushes it to disk at once, so a
        plot of a run in progress sees its latest rows."""
        new = not self.exists()
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
            if new:
                writer.writeheader()

            def append(row: dict) -> None:
                try:
                    writer.writerow(row)
                    f.flush()
                except OSError as exc:  # a full disk: name the file
                    raise naming(exc, self.path) from None

            yield append


def _number(cell: str | None) -> float:
    return float(cell) if cell else math.nan  # an empty or missing cell: no value


class RunFolder:
    """The files of one run folder (or a bundled generator's folder) by what they are."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.config_file = self.path / CONFIG_FILE
        self.model_file = self.path / MODEL_FILE
        self.metrics = MetricsLog(self.path / METRICS_FILE)
        self.checkpoint_file = self.path / CHECKPOINT_FILE
        self.generator_file = self.path / GENERATOR_FILE
        self.best_file = self.path / BEST_FILE
        self.samples_dir = self.path / SAMPLES_DIR
        self.tensorboard_dir = self.path / TENSORBOARD_DIR
        self.model_card_file = self.path / MODEL_CARD_FILE

    @property
    def is_bundled(self) -> bool:
        return self.path.parent == BUNDLED_DIR

    def describe(self) -> str:
        """How errors name it: 'the bundled mnist generator' or the run folder's path."""
        return f"the bundled {self.path.name} generator" if self.is_bundled else str(self.path)

    def has_checkpoint(self) -> bool:
        return self.checkpoint_file.exists()

    def read_config(self) -> dict:
        return read_json(self.config_file, "training config")

    def write_config(self, config: dict) -> None:
        write_json(self.config_file, config)

    def read_model(self) -> tuple[dict, ArchConfig, list[str]]:
        """model.json, checked: the raw description, its architecture and its class names."""
        model = read_json(self.model_file, "model description (model.json)")
        arch, classes = read_model_description(model, self.model_file)
        return model, arch, classes

    def write_model(self, dataset: Dataset, arch: ArchConfig, step: int) -> None:
        write_json(self.model_file, model_description(dataset, arch, step))

    def sample_file(self, epoch: int) -> Path:
        return self.samples_dir / f"epoch_{epoch:03d}.png"

    def sample_grids(self) -> list[tuple[int, Path]]:
        """(epoch, path) of every per-epoch sample grid training wrote, oldest first."""
        found = sorted(
            (int(match.group(1)), path)
            for path in self.samples_dir.glob("epoch_*.png")
            if (match := SAMPLE_NAME.fullmatch(path.name))
        )
        if not found:
            if self.is_bundled:
                raise CheckpointError(
                    f"{self.describe()} ships without per-epoch samples; "
                    "the training evolution needs a run folder written by `cgan train`"
                )
            raise CheckpointError(
                f"{self.path} has no sample grids yet ({SAMPLES_DIR}/epoch_001.png, ...): training writes one "
                "at the end of each epoch, so train for at least one epoch"
            )
        return found

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder for one writer: a second training run into it fails at once with a clear line.
        The operating system releases the lock when the process ends, however it ends."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK_FILE, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CganError(
                    f"{self.path} is in use by another training run; wait for it to finish, or choose "
                    "another --out"
                ) from None
            try:
                self.remove_temporary_files()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def remove_if_unused(self) -> None:
        """Delete the folder if it holds nothing but its lock file: a run refused before it wrote anything
        leaves no folder behind. For the lock holder only."""
        if {path.name for path in self.path.iterdir()} <= {LOCK_FILE}:
            (self.path / LOCK_FILE).unlink(missing_ok=True)
            self.path.rmdir()

    def remove_temporary_files(self) -> None:
        """Delete what interrupted writes left behind; only the lock holder may, as a writer may be busy."""
        for folder in (self.path, self.checkpoint_file.parent, self.samples_dir):
            for path in folder.glob(".*.tmp") if folder.is_dir() else ():
                if TEMPORARY_NAME.fullmatch(path.name):
                    path.unlink(missing_ok=True)


def model_description(dataset: Dataset, arch: ArchConfig, step: int) -> dict:
    """What model.json says: the dataset's name and classes, and for the user's own data where it was read
    ("data") and its content identity ("fingerprint"), so evaluation finds the same images again."""
    description = {
        "format": GENERATOR_FORMAT,
        "version": 1,
        "dataset": dataset.name,
        "classes": list(dataset.classes),
        "arch": arch.to_dict(),
        "step": step,
    }
    if dataset.kind != "builtin":
        description.update(data=dataset.location, fingerprint=dataset.fingerprint)
    return description


def read_model_description(model: dict, where: str | Path) -> tuple[ArchConfig, list[str]]:
    """The architecture and class names of a model description, checked; `where` names it in errors."""
    if not isinstance(model, dict) or model.get("format") != GENERATOR_FORMAT:
        raise CheckpointError(f"{where} is not a cgan model description")
    try:
        arch = ArchConfig.from_dict(model["arch"])
        classes = list(model["classes"])
        dataset = model["dataset"]
    except KeyError as exc:
        raise CheckpointError(f"{where} lacks {exc}; the file is damaged") from None
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where} is damaged: a value has the wrong type ({exc})") from None
    except CganError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    if not isinstance(dataset, str) or not dataset:
        raise CheckpointError(f"{where}: the dataset name must be non-empty text")
    try:  # class names become file names (generate --out-dir, synth): a stranger's file must not name a path
        check_class_names(classes, str(where))
    except DataError as exc:
        raise CheckpointError(str(exc)) from None
    if len(classes) != arch.num_classes:
        raise CheckpointError(f"{where} lists {len(classes)} classes for {arch.num_classes}")
    return arch, classes


def bundled_names() -> list[str]:
    return sorted(p.name for p in BUNDLED_DIR.glob("*") if (p / GENERATOR_FILE).is_file())


def resolve_generator_file(source: str | os.PathLike) -> Path:
    """The weights file meant by a run folder (its generator.safetensors), a weights file beside a model.json
    (such as a run's best.safetensors), or a bundled model's name ("mnist", "fashion_mnist", ...)."""
    path = Path(source)
    if path.is_dir():
        return path / GENERATOR_FILE
    if path.is_file() and path.suffix == ".safetensors":
        return path
    if not path.exists():
        try:
            name = get_spec(str(source)).name  # "fashion_mnist" and other spellings name one folder
        except CganError:
            name = str(source)
        if (BUNDLED_DIR / name / GENERATOR_FILE).is_file():
            return BUNDLED_DIR / name / GENERATOR_FILE
    available = bundled_names()
    hint = (
        f"bundled generators: {', '.join(available)}" if available else "no bundled generators are installed"
    )
    raise CheckpointError(f"{source} is neither a run folder nor a bundled generator name ({hint})")


def is_run_folder(path: str | os.PathLike) -> bool:
    """A folder with a model.json: written by `cgan train`, or a bundled generator's."""
    return (Path(path) / MODEL_FILE).is_file()


def as_run_folder(folder: str | os.PathLike | RunFolder) -> RunFolder:
    return folder if isinstance(folder, RunFolder) else RunFolder(folder)
