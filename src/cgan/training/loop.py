"""The training loop: epochs of steps over the training images, with checkpoints, quality measurements,
sample grids and the metrics log, until the epochs, steps or time run out or a stop is asked for.

Batches come from the whole training split held in memory as uint8, indexed by a permutation that
depends only on (seed, epoch); together with the saved RNG and optimiser state this makes a run that is
stopped and resumed end with the same weights as one that ran straight through.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..checkpoint import CHECKPOINT_FORMAT, GENERATOR_FORMAT, load_tensors, module_tensors, save_tensors
from ..data import Dataset
from ..data.userdata import first_few
from ..errors import CganError, CheckpointError
from ..generation import generate_images
from ..images import make_grid, save_png, to_float
from ..run_folder import QUALITY_COLUMNS, RunFolder
from ..units import SEED_LIMIT
from .config import EXTENT, RESUMABLE, SAMPLE_SCALE, TrainConfig, default_of, flag
from .distributed import Distributed
from .schedule import StopSignal, TimedEvaluations, TrainingClock, learning_rate_share, top_k_share
from .step import GANStep
from .tensorboard import TensorBoardLog


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    interrupted: bool
    wall_s: float
    images: int  # trained in this call: 0 when a resumed run had already reached its end
    setup_s: float  # from the call to the first step: reading data, building the networks, resuming
    is_main: bool = True  # rank 0 of a torchrun run, or a run of one process: the one that reports

    @property
    def images_per_s(self) -> float:
        return self.images / max(self.wall_s, 1e-9)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise CganError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise CganError(f"cgan trains and generates on cpu or cuda, not on {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CganError("--device cuda was asked for, but PyTorch sees no CUDA GPU here; use --device cpu")
    return device


def epoch_permutation(seed: int, epoch: int, count: int) -> torch.Tensor:
    """The order of the training images in one epoch: a function of the seed and the epoch alone."""
    # Mixed in Python integers and folded into the 64 bits a torch seed takes, so any seed works.
    return torch.randperm(count, generator=torch.Generator().manual_seed((seed * 100_003 + epoch) % SEED_LIMIT))


def fit(
    config: TrainConfig, resume: bool = False, progress: bool = True, given: Collection[str] | None = None
) -> TrainResult:
    """Train (or continue training) the run in `config.out` until `epochs`, `max_steps` or `max_seconds`.
    Launched by torchrun, each process is one rank of the run and rank 0 writes the folder (docs/scale.md).
    On resume, `given` names the options the user set (`cgan train` knows them); without it, those whose
    value differs from their default count as set."""
    started = time.perf_counter()
    folder = RunFolder(config.out)
    with Distributed.from_environment() as dist:
        if resume and not folder.path.is_dir():
            raise CheckpointError(f"cannot resume: there is no folder {folder.path}")
        if resume and not folder.config_file.exists():
            raise CheckpointError(f"cannot resume: {folder.path} has no config.json; is it a cgan run folder?")
        created = False
        if not resume:
            config.validate()  # before anything is written, and so is the data (read once per process)
            dataset = checked_dataset(config)
            if dist.is_main:
                created = not folder.path.exists()
                make_folder(folder.path)
        with folder.lock() if dist.is_main else nullcontext():
            if resume:
                config = resumed_config(config, folder, given)
                dataset = checked_dataset(config)
                check_same_classes(dataset, folder)
            else:
                config = fresh_config(config, folder)
            try:
                return Training(config, dataset, folder, resume, progress and dist.is_main, started, dist).run()
            except OSError as exc:
                raise CganError(write_failure(exc, folder)) from None
            except CganError:
                if created:  # refused before its first write (a missing GPU, a batch larger than the data)
                    folder.remove_if_unused()
                raise


def checked_dataset(config: TrainConfig) -> Dataset:
    """The config's dataset, resolved once per run, its training images read (and its test images, which
    quality measurements compare with: a damaged file fails now, not after an epoch) and the model checked
    against it."""
    dataset = config.resolve_dataset()
    config.check_dataset(dataset.num_classes, dataset.image_shape)
    dataset.split("train")
    if config.eval_every or config.eval_every_s:
        dataset.split("test")
    return dataset


def check_same_classes(dataset: Dataset, folder: RunFolder) -> None:
    """A resumed run's data must still have the classes the run was trained on (a class folder added or
    removed since would not fit the networks)."""
    if not folder.model_file.exists():
        return
    _, _, trained = folder.read_model()
    if list(dataset.classes) != trained:
        raise CganError(
            f"{dataset.name} now has {len(dataset.classes)} classes ({first_few(dataset.classes)}); the run in "
            f"{folder.path} was trained on {len(trained)} ({first_few(trained)}): resume it with the data as it "
            "was, or start a new run"
        )


def make_folder(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise CganError(f"--out {path} is a file, not a folder; choose another --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CganError(f"cannot create the run folder {path}: {exc.strerror}") from None


def write_failure(exc: OSError, folder: RunFolder) -> str:
    """What a failed write (a full disk, a folder made read-only) left, and how to go on."""
    problem = f"{exc.filename or folder.path}: {exc.strerror or exc}"
    if folder.has_checkpoint():
        return f"{problem}; training stopped, its last checkpoint is kept: once fixed, continue with --resume {folder.path}"
    return f"{problem}; no checkpoint was saved yet: once fixed, run the same command again, it starts afresh"


def fresh_config(config: TrainConfig, folder: RunFolder) -> TrainConfig:
    if folder.has_checkpoint():
        raise CganError(
            f"{folder.path} already holds a training run; continue it with --resume, or choose another --out"
        )
    return config


def resumed_config(config: TrainConfig, folder: RunFolder, given: Collection[str] | None = None) -> TrainConfig:
    """The run's own config, with the RESUMABLE options that were given (`given`, or else those of `config`
    that differ from their defaults); changing any other is an error."""
    if not folder.has_checkpoint():
        raise CheckpointError(f"cannot resume: {folder.path} has no checkpoint yet ({folder.checkpoint_file})")
    saved = TrainConfig.from_dict(folder.read_config(), str(folder.config_file))

    def was_given(name: str) -> bool:
        return name in given if given is not None else getattr(config, name) != default_of(name)

    fixed = [name for name in saved.to_dict() if name not in (*RESUMABLE, "out")]
    changed = [name for name in fixed if was_given(name) and getattr(config, name) != getattr(saved, name)]
    if changed:
        allowed = ", ".join(flag(name) for name in RESUMABLE)
        raise CganError(f"{', '.join(flag(n) for n in changed)} cannot change when resuming; only {allowed} can")
    for name in RESUMABLE:
        if name in EXTENT or was_given(name):
            setattr(saved, name, getattr(config, name))
    saved.out = str(folder.path)
    saved.validate()
    return saved


class Training:
    """One session of a run: its data, its step, its clock and schedules, and the run folder it writes."""

    def __init__(
        self,
        config: TrainConfig,
        dataset: Dataset,
        folder: RunFolder,
        resume: bool,
        progress: bool,
        started: float,
        dist: Distributed | None = None,
    ):
        self.config, self.folder, self.progress, self.started = config, folder, progress, started
        self.dist = dist = dist or Distributed()
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = dist.connect(resolve_device(config.device))
        # After connecting, where every rank arrives together: each says it before torchrun, seeing the first
        # rank fail, stops the others (a rank still reading its data would go unheard).
        dist.check_batch_size(config.batch_size)
        self.dataset = dataset
        images, labels = (torch.from_numpy(a[: config.max_images]) for a in self.dataset.split("train"))
        if len(images) < config.batch_size:
            largest = len(images) // dist.world_size * dist.world_size  # the ranks share it evenly
            raise CganError(
                f"{flag('batch_size')} {config.batch_size} is larger than the {len(images)} training images; "
                f"use {flag('batch_size')} {largest} or less"
            )
        self.images, self.labels = images.to(self.device), labels.to(self.device)
        arch = config.arch_config(self.dataset.num_classes, self.dataset.image_shape)
        self.gan = GANStep(config, arch, self.device, dist)
        self.best_fd = math.inf  # the lowest fd_evaluator measured so far, held by best.safetensors
        elapsed = self.restore() if resume else 0.0
        if dist.is_main:
            if not resume:
                folder.metrics.remove()  # left by a run killed before its first checkpoint
            folder.write_config(config.to_dict())
        self.steps_per_epoch = len(images) // config.batch_size  # the last partial batch is dropped
        self.total_steps = config.epochs * self.steps_per_epoch
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)
        self.first_step = self.last_save_step = self.gan.step
        self.last_eval_step: int | None = None
        self.clock = TrainingClock(elapsed)
        self.timed_evaluations = TimedEvaluations(config.eval_every_s, elapsed)
        self.tensorboard = TensorBoardLog(folder, config, self.gan.step) if config.tensorboard and dist.is_main else None

    def restore(self) -> float:
        """Load the checkpoint; returns the training seconds it had. Rows logged after it are dropped."""
        tensors, meta = load_tensors(self.folder.checkpoint_file, CHECKPOINT_FORMAT)
        self.gan.load_state(tensors, meta, self.folder.checkpoint_file)
        if self.dist.is_main:
            self.folder.metrics.truncate_after(self.gan.step)
        if self.folder.best_file.exists():
            _, best = load_tensors(self.folder.best_file, GENERATOR_FORMAT)
            self.best_fd = float(best.get("fd_evaluator", math.inf))
        try:
            return float(meta["elapsed_s"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{self.folder.checkpoint_file} lacks its training time; it is damaged") from None

    def run(self) -> TrainResult:
        config, gan = self.config, self.gan
        setup_s = time.perf_counter() - self.started
        self.clock = TrainingClock(self.clock.before)  # setup is not training time
        images_seen = 0
        bar = tqdm(total=self.total_steps, initial=gan.step, disable=not self.progress, unit="step", dynamic_ncols=True)
        appender = self.folder.metrics.appender() if self.dist.is_main else nullcontext(lambda row: None)
        with appender as log, StopSignal() as stop, self.tensorboard or nullcontext():
            self.log = self.tensorboard.mirroring(log) if self.tensorboard else log
            self.bar = bar
            stopping, out_of_time = self.dist.agree(False, self.out_of_time())
            while gan.step < self.total_steps and not (stopping or out_of_time):
                epoch, position = divmod(gan.step, self.steps_per_epoch)
                order = epoch_permutation(config.seed, epoch, len(self.images)).to(self.device)
                for batch in range(position, self.steps_per_epoch):
                    index = order[batch * config.batch_size : (batch + 1) * config.batch_size]
                    self.train_on(index, epoch)
                    images_seen += len(index)
                    # Every rank stops, and measures, when one asks for a stop or rank 0's clock says so.
                    if self.dist.agrees_at(gan.step):
                        stopping, out_of_time, evaluate = self.dist.agree(
                            stop.requested, self.out_of_time(), self.timed_evaluations.due(self.clock.seconds())
                        )
                        if evaluate:
                            self.record_quality()
                    if gan.step >= self.total_steps or stopping or out_of_time:
                        break
                self.end_of_session_part(finished=gan.step >= self.total_steps or out_of_time, stopping=stopping)
        bar.close()
        wall = time.perf_counter() - self.started
        return TrainResult(
            run_dir=self.folder.path,
            step=gan.step,
            epoch=math.ceil(gan.step / self.steps_per_epoch),
            interrupted=stopping,
            wall_s=wall,
            images=images_seen,
            setup_s=setup_s,
            is_main=self.dist.is_main,
        )

    def out_of_time(self) -> bool:
        return self.config.max_seconds is not None and self.clock.seconds() >= self.config.max_seconds

    def train_on(self, index: torch.Tensor, epoch: int) -> None:
        """One step on the global batch at `index` (this rank's share of its images); a row of metrics.csv
        every log_every steps."""
        config, gan = self.config, self.gan
        real = to_float(self.images[self.dist.shard(index)]).contiguous(memory_format=gan.memory_format)
        gan.scale_learning_rates(learning_rate_share(gan.step, self.steps_per_epoch, config.lr_decay, config.epochs))
        gan.top_k_share = top_k_share(config.top_k, epoch)
        stats = gan(real, self.labels[index], measure=gan.step % config.log_every == config.log_every - 1)
        self.bar.update(1)
        if stats is not None:
            # None: not measured on this step (no G update; under fp16, values lost to a skipped step)
            if not all(math.isfinite(v) for v in stats.values() if v is not None):
                self.diverged()
            rate = (gan.step - self.first_step) * config.batch_size / max(self.clock.session_seconds(), 1e-9)
            row = {"step": gan.step, "epoch": epoch + 1, "images_per_s": round(rate, 1)}
            row["elapsed_s"] = round(self.clock.seconds(), 3)
            row.update({k: round(v, 6) for k, v in stats.items() if v is not None})
            self.log(row)
            d_loss = "-" if stats["d_loss"] is None else f"{stats['d_loss']:.3f}"
            self.bar.set_postfix(epoch=epoch + 1, d=d_loss, img_s=f"{rate:.0f}")
        if config.checkpoint_every and gan.step - self.last_save_step >= config.checkpoint_every:
            self.save()

    def end_of_session_part(self, finished: bool, stopping: bool) -> None:
        """At the end of an epoch (or of the session): the sample grid (every --sample-every epochs, and at
        an epoch where the session ends), due measurements, a checkpoint (at every epoch's end unless
        --checkpoint-every sets the steps between them, and at the session's end)."""
        config, step = self.config, self.gan.step
        if step % self.steps_per_epoch == 0:
            epoch = step // self.steps_per_epoch
            if self.dist.is_main and (epoch % config.sample_every == 0 or finished or stopping):
                self.write_sample_grid(epoch)
            if config.eval_every and epoch % config.eval_every == 0 and self.last_eval_step != step:
                self.record_quality()
        measuring = config.eval_every or config.eval_every_s
        if finished and measuring and step not in (self.first_step, self.last_eval_step):
            self.record_quality()  # the final state is always measured
        due = finished or stopping or self.config.checkpoint_every is None
        if due and self.last_save_step != step:
            self.save()

    def diverged(self) -> None:
        raise CganError(
            f"training diverged at step {self.gan.step}: a loss is not a finite number; nothing from this "
            f"step on was saved (the last checkpoint is kept). Try a lower {flag('lr')} or {flag('clip_grad')}"
        )

    def save(self) -> None:
        """The checkpoint, the generator alone (so generation works from an unfinished run) and model.json."""
        if not self.gan.is_finite():
            self.diverged()
        if self.dist.is_main:  # every rank holds the same state
            tensors, meta = self.gan.state()
            meta["elapsed_s"] = self.clock.seconds()
            save_tensors(self.folder.checkpoint_file, tensors, CHECKPOINT_FORMAT, meta)
            self.write_generator(self.folder.generator_file, {"step": self.gan.step})
            self.folder.write_model(self.dataset, self.gan.arch, self.gan.step)
        self.last_save_step = self.gan.step

    def write_generator(self, path: Path, meta: dict) -> None:
        """The sampling generator's weights alone, in the format load_generator reads."""
        save_tensors(path, module_tensors("generator", self.gan.sampler), GENERATOR_FORMAT, meta)

    def record_quality(self) -> None:
        """Measure quality on rank 0 while the other ranks wait."""
        if self.dist.is_main:
            self.measure_quality()
        self.dist.barrier()
        self.last_eval_step = self.gan.step

    def measure_quality(self) -> None:
        """Measure quality into metrics.csv and best.safetensors; its own time is not training time."""
        from ..evaluation import quality_metrics  # only runs with an evaluation interval need it

        elapsed = self.clock.seconds()
        with self.clock.pause():
            config, step = self.config, self.gan.step
            metrics = quality_metrics(
                self.gan.sampler, self.dataset, self.gan.arch.latent_dim, config.eval_per_class, config.seed
            )
            quality = {key: round(metrics[key], 6) for key in QUALITY_COLUMNS}
            self.keep_if_best(quality)
            epoch = math.ceil(step / self.steps_per_epoch)
            self.log({"step": step, "epoch": epoch, "elapsed_s": round(elapsed, 3), **quality})
            self.bar.write(f"step {step}: " + ", ".join(f"{k} {v:.4g}" for k, v in quality.items()))

    def keep_if_best(self, quality: dict[str, float]) -> bool:
        """Write the sampling generator to best.safetensors when its fd_evaluator is the lowest yet."""
        if not quality["fd_evaluator"] < self.best_fd:
            return False
        self.best_fd = quality["fd_evaluator"]
        self.write_generator(self.folder.best_file, {"step": self.gan.step, **quality})
        return True

    def write_sample_grid(self, epoch: int) -> None:
        """One row per class, the same noise every epoch, so the grids show how training moved."""
        per_class, arch = self.config.samples_per_class, self.gan.arch
        fixed = torch.Generator().manual_seed(self.config.seed + 1)
        z = torch.randn(per_class * arch.num_classes, arch.latent_dim, generator=fixed)
        labels = torch.arange(arch.num_classes).repeat_interleave(per_class)
        grid = make_grid(generate_images(self.gan.sampler, z, labels), per_class)
        save_png(self.folder.sample_file(epoch), grid, scale=SAMPLE_SCALE)
        if self.tensorboard:
            self.tensorboard.sample_grid(grid, self.gan.step)
