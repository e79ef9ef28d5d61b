"""The training loop: one step function, the epoch loop, logging, samples and checkpoints.

Batches come from the whole training split held in memory as uint8, indexed by a permutation that
depends only on (seed, epoch); together with the saved RNG and optimiser state this makes a run that is
stopped and resumed end with the same weights as one that ran straight through.
"""

from __future__ import annotations

import copy
import csv
import math
import signal
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import data
from .augment import augment, parse_policy
from .checkpoint import (
    CHECKPOINT_FORMAT,
    GENERATOR_FORMAT,
    atomic_write,
    load_module,
    load_optimizer,
    load_tensors,
    module_tensors,
    optimizer_tensors,
    read_json,
    save_tensors,
    write_json,
)
from .errors import CganError, CheckpointError
from .losses import get_loss, gradient_penalty, r1_penalty
from .models import ArchConfig, build_discriminator, build_generator
from .sampling import GENERATOR_FILE, MODEL_FILE, make_grid, save_png, to_uint8

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
CHECKPOINT_FILE = Path("checkpoints") / "last.safetensors"
BEST_FILE = "best.safetensors"  # the generator with the lowest fd_evaluator measured so far
# Filled on the rows written by --eval-every (at the end of an epoch), empty on the others.
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
# Options that may change when a run is resumed; everything else must match the original run.
RESUMABLE = (
    "epochs",
    "max_steps",
    "max_seconds",
    "threads",
    "device",
    "data_dir",
    "log_every",
    "checkpoint_every",
    "eval_every",
    "eval_every_s",
    "eval_per_class",
)
# How far to train is asked anew on each resume; the other RESUMABLE options keep the run's value
# unless given.
EXTENT = ("epochs", "max_steps", "max_seconds")
DEFAULT_GP_WEIGHT = 10.0  # lambda of Gulrajani et al. (2017)
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class TrainConfig:
    dataset: str = "mnist"
    data_dir: str | None = None
    out: str = "runs/mnist"
    arch: str = "dcgan"
    latent_dim: int = 100
    g_width: int | None = None  # None: the architecture's default
    d_width: int | None = None
    embed_dim: int = 16
    cond_g: str = "concat"  # concat (label maps) or cbn (conditional batch norm)
    cond_d: str = "projection"  # projection, concat or acgan
    spectral_norm: bool = True
    # The defaults below won `cgan study` on MNIST and Fashion-MNIST (docs/studies/): least squares, lr 6e-4,
    # batch 128 and a 0.999 EMA reach a lower fd_evaluator in 3 minutes than every other variant tried.
    loss: str = "lsgan"  # vanilla (non-saturating), hinge, lsgan or wgan-gp
    n_critic: int = 1  # discriminator steps per generator step
    gp_weight: float = DEFAULT_GP_WEIGHT  # weight of WGAN-GP's gradient penalty
    r1: float | None = None  # gamma of the R1 penalty on real images; None: no penalty
    augment: str | None = None  # DiffAugment policy, e.g. "translation,cutout"; None: no augmentation
    epochs: int = 3
    max_steps: int | None = None  # stop after this many steps in all, even mid-epoch
    max_seconds: float | None = None  # stop after this much training time in all (evaluation not counted)
    batch_size: int = 128
    lr: float = 6e-4
    beta1: float = 0.5
    beta2: float = 0.999
    ema: float | None = 0.999  # decay of the generator's weight average; None: no average
    clip_grad: float | None = None  # max L2 norm of each network's gradient; None: no clipping
    seed: int = 0
    threads: int | None = None  # None: PyTorch's default (the number of physical cores)
    device: str = "auto"
    # fp32, bf16 (autocast; losses and penalties stay fp32) or auto: bf16 where the hardware computes it
    # natively (bench/throughput.py: 1.15x the training images/s of fp32 on a 2-core AVX-512 BF16 CPU).
    precision: str = "auto"
    channels_last: bool = False  # NHWC memory layout; measured 0.98x of the default layout, so off
    max_images: int | None = None  # train on the first N training images only (quick tries, tests)
    log_every: int = 10  # steps between rows of metrics.csv
    checkpoint_every: int | None = None  # steps between checkpoints; one is always written each epoch
    samples_per_class: int = 10  # columns of the per-epoch sample grid
    eval_every: int | None = None  # epochs between quality measurements (cgan.evaluate) in metrics.csv
    eval_every_s: float | None = None  # or seconds of training time between them
    eval_per_class: int = 500  # generated images per class for those measurements

    def validate(self) -> None:
        positive = (
            "epochs",
            "batch_size",
            "latent_dim",
            "embed_dim",
            "log_every",
            "samples_per_class",
            "eval_per_class",
            "n_critic",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise CganError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in (
            "max_steps",
            "max_images",
            "checkpoint_every",
            "threads",
            "g_width",
            "d_width",
            "eval_every",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise CganError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        loss = get_loss(self.loss)  # an unknown name fails here, before any data is read
        if self.gp_weight != DEFAULT_GP_WEIGHT and not loss.gradient_penalty:
            raise CganError(f"--gp-weight applies to --loss wgan-gp only, not to --loss {self.loss}")
        if not self.gp_weight > 0:
            raise CganError(f"--gp-weight must be positive, got {self.gp_weight}")
        for name in ("r1", "max_seconds", "eval_every_s"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise CganError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.augment is not None:
            parse_policy(self.augment)
        if self.precision not in PRECISIONS:
            raise CganError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        spec = data.get_spec(self.dataset)
        self.arch_config(spec.num_classes, spec.image_shape)  # an invalid model fails before data is read
        if not self.lr > 0:
            raise CganError(f"--lr must be positive, got {self.lr}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise CganError(f"Adam betas must lie in [0, 1), got ({self.beta1}, {self.beta2})")
        if self.ema is not None and not 0 < self.ema < 1:
            raise CganError(f"--ema is a decay between 0 and 1 (e.g. 0.999), got {self.ema}")
        if self.clip_grad is not None and not self.clip_grad > 0:
            raise CganError(f"--clip-grad must be positive, got {self.clip_grad}")

    def arch_config(self, num_classes: int, image_shape: tuple[int, int, int]) -> ArchConfig:
        return ArchConfig(
            arch=self.arch,
            num_classes=num_classes,
            image_shape=image_shape,
            latent_dim=self.latent_dim,
            g_width=self.g_width,
            d_width=self.d_width,
            embed_dim=self.embed_dim,
            cond_g=self.cond_g,
            cond_d=self.cond_d,
            spectral_norm=self.spectral_norm,
        )

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise CheckpointError(
                f"config.json has unknown options {sorted(unknown)}; is it from a newer cgan?"
            )
        return cls(**values)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise CganError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CganError("--device cuda was asked for, but PyTorch sees no CUDA GPU here; use --device cpu")
    return device


def resolve_precision(name: str, device: torch.device) -> str:
    """auto -> bf16 where the device computes it natively (CUDA with bf16, CPUs with AVX-512 BF16 or AMX)."""
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


def epoch_permutation(seed: int, epoch: int, count: int) -> torch.Tensor:
    """The order of the training images in one epoch: a function of the seed and the epoch alone."""
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def grad_norm(module: torch.nn.Module, clip: float | None) -> float:
    """The L2 norm of all gradients of `module`, measured before clipping (which happens when `clip` is set)."""
    params = [p for p in module.parameters() if p.grad is not None]
    return float(torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else math.inf))


class Trainer:
    """Owns the networks, optimisers and counters of one run folder."""

    def __init__(self, config: TrainConfig, run_dir: Path, spec: data.DatasetSpec, device: torch.device):
        self.config = config
        self.run_dir = run_dir
        self.spec = spec
        self.device = device
        self.arch = config.arch_config(spec.num_classes, spec.image_shape)
        torch.manual_seed(config.seed)
        self.bf16 = resolve_precision(config.precision, device) == "bf16"
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.generator = build_generator(self.arch).to(device, memory_format=self.memory_format)
        # The exponential moving average of the generator's weights: what samples, evaluation and
        # generator.safetensors use when --ema is on (smoother than the last step's weights).
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False) if config.ema else None
        self.discriminator = build_discriminator(self.arch).to(device, memory_format=self.memory_format)
        betas = (config.beta1, config.beta2)
        # The fused kernel: 1.04x the training images/s of the default (foreach) one, same maths.
        fused = device.type in ("cpu", "cuda")
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas, fused=fused)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=betas, fused=fused)
        self.loss = get_loss(config.loss)
        self.augment_policy = parse_policy(config.augment) if config.augment else ()
        # One random stream for noise, augmentation and penalty mixing: saved in checkpoints for resume.
        self.noise = torch.Generator(device=device).manual_seed(config.seed)
        self.step = 0
        self.elapsed = 0.0  # training seconds of this run before the current session (set by load)
        self.best_fd = math.inf  # the lowest fd_evaluator measured so far, held by best.safetensors

    # -- one optimisation step ------------------------------------------------------------------
    def autocast(self):
        """bf16 autocast of the forward passes under --precision bf16; a no-op context otherwise."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def judge(self, images: torch.Tensor, labels: torch.Tensor):
        """D's (logits, class logits or None), in fp32 whatever the precision: losses are taken in fp32."""
        with self.autocast():
            logits, classes = self.discriminator(images, labels)
        return logits.float(), classes.float() if classes is not None else None

    def augmented(self, images: torch.Tensor) -> torch.Tensor:
        """Images as D sees them: through DiffAugment when --augment is on."""
        return augment(images, self.augment_policy, self.noise) if self.augment_policy else images

    def train_step(self, real: torch.Tensor, labels: torch.Tensor, measure: bool) -> dict | None:
        """One discriminator update, then a generator update on every n_critic-th step."""
        config, clip = self.config, self.config.clip_grad
        update_g = (self.step + 1) % config.n_critic == 0
        z = torch.randn(len(labels), self.arch.latent_dim, device=self.device, generator=self.noise)
        with torch.set_grad_enabled(update_g), self.autocast():
            fake = self.generator(z, labels)

        if config.r1:
            real = real.detach().requires_grad_(True)  # R1 differentiates D's output by its input
        real_seen, fake_seen = self.augmented(real), self.augmented(fake.detach())
        real_logits, real_classes = self.judge(real_seen, labels)
        fake_logits, fake_classes = self.judge(fake_seen, labels)
        d_loss = self.loss.d_loss(real_logits, fake_logits)
        if real_classes is not None:  # AC-GAN: D also learns to name the class of real and of fake images
            d_loss = d_loss + F.cross_entropy(real_classes, labels) + F.cross_entropy(fake_classes, labels)
        if self.loss.gradient_penalty:
            mix = torch.rand(len(labels), device=self.device, generator=self.noise)
            critic = lambda images, labels: self.judge(images, labels)[0]  # noqa: E731
            # On D's own inputs: the penalty bounds D's gradient where D is actually evaluated.
            d_loss = d_loss + config.gp_weight * gradient_penalty(critic, real_seen, fake_seen, labels, mix)
        if config.r1:  # by the images before augmentation, as StyleGAN2-ADA does
            d_loss = d_loss + config.r1 / 2 * r1_penalty(real_logits, real)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        d_norm = grad_norm(self.discriminator, clip) if measure or clip else None
        self.opt_d.step()

        g_loss = g_norm = None
        if update_g:
            fake_logits_g, fake_classes_g = self.judge(self.augmented(fake), labels)
            g_loss = self.loss.g_loss(fake_logits_g)
            if fake_classes_g is not None:  # cross-entropy on logits: no softmax before it
                g_loss = g_loss + F.cross_entropy(fake_classes_g, labels)
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            g_norm = grad_norm(self.generator, clip) if measure or clip else None
            self.opt_g.step()
            if self.ema is not None:
                self.update_ema()

        if not measure:
            return None
        return {
            "d_loss": d_loss.item(),
            "g_loss": g_loss.item() if g_loss is not None else None,
            "d_real": torch.sigmoid(real_logits.detach()).mean().item(),
            "d_fake": torch.sigmoid(fake_logits.detach()).mean().item(),
            "g_grad_norm": g_norm,
            "d_grad_norm": d_norm,
        }

    @torch.no_grad()
    def update_ema(self) -> None:
        """ema = decay * ema + (1 - decay) * weights; buffers (batch-norm statistics) are copied as they are.

        The decay warms up as (1 + step) / (10 + step): a 0.999 average from the first step would drag the
        random initial weights along for thousands of steps (measured: chance-level samples after epoch 1).
        """
        decay = min(self.config.ema, (1 + self.step) / (10 + self.step))
        ema_params = list(self.ema.parameters())
        torch._foreach_lerp_(ema_params, list(self.generator.parameters()), 1.0 - decay)
        for ema_buffer, buffer in zip(self.ema.buffers(), self.generator.buffers(), strict=True):
            ema_buffer.copy_(buffer)

    @property
    def sampler(self) -> torch.nn.Module:
        """The network to draw samples from: the EMA copy when there is one."""
        return self.ema if self.ema is not None else self.generator

    # -- state on disk --------------------------------------------------------------------------
    def save(self, elapsed_s: float) -> None:
        tensors = {
            **module_tensors("generator", self.generator),
            **(module_tensors("ema", self.ema) if self.ema is not None else {}),
            **module_tensors("discriminator", self.discriminator),
        }
        opt_g, groups_g = optimizer_tensors("opt_g", self.opt_g)
        opt_d, groups_d = optimizer_tensors("opt_d", self.opt_d)
        tensors.update(opt_g)
        tensors.update(opt_d)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.noise"] = self.noise.get_state()
        meta = {
            "step": self.step,
            "elapsed_s": elapsed_s,
            "arch": self.arch.to_dict(),
            "param_groups": {"opt_g": groups_g, "opt_d": groups_d},
        }
        save_tensors(self.run_dir / CHECKPOINT_FILE, tensors, CHECKPOINT_FORMAT, meta)
        # The generator alone, so that generation works from the latest checkpoint of an unfinished run.
        self.write_generator(self.run_dir / GENERATOR_FILE, {"step": self.step})
        write_json(self.run_dir / MODEL_FILE, self.model_description())

    def load(self) -> None:
        path = self.run_dir / CHECKPOINT_FILE
        tensors, meta = load_tensors(path, CHECKPOINT_FORMAT)
        if ArchConfig.from_dict(meta.get("arch", {})) != self.arch:
            raise CheckpointError(
                f"{path} was written for another model than {self.run_dir / CONFIG_FILE} describes"
            )
        load_module("generator", self.generator, tensors, path)
        if self.ema is not None:
            load_module("ema", self.ema, tensors, path)
        load_module("discriminator", self.discriminator, tensors, path)
        load_optimizer("opt_g", self.opt_g, tensors, meta["param_groups"]["opt_g"], path)
        load_optimizer("opt_d", self.opt_d, tensors, meta["param_groups"]["opt_d"], path)
        try:
            torch.set_rng_state(tensors["rng.torch"])
            self.noise.set_state(tensors["rng.noise"])
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{path} has no usable random-number state ({exc})") from None
        self.step = int(meta["step"])
        self.elapsed = float(meta["elapsed_s"])
        if (self.run_dir / BEST_FILE).exists():
            _, best = load_tensors(self.run_dir / BEST_FILE, GENERATOR_FORMAT)
            self.best_fd = float(best.get("fd_evaluator", math.inf))

    def keep_if_best(self, quality: dict[str, float]) -> bool:
        """Write the sampling generator to best.safetensors when its fd_evaluator is the lowest yet."""
        if not quality["fd_evaluator"] < self.best_fd:
            return False
        self.best_fd = quality["fd_evaluator"]
        self.write_generator(self.run_dir / BEST_FILE, {"step": self.step, **quality})
        return True

    def write_generator(self, path: Path, meta: dict) -> None:
        """The sampling generator's weights alone, in the format load_generator reads."""
        save_tensors(path, module_tensors("generator", self.sampler), GENERATOR_FORMAT, meta)

    def model_description(self) -> dict:
        return {
            "format": GENERATOR_FORMAT,
            "version": 1,
            "dataset": self.spec.name,
            "classes": list(self.spec.classes),
            "arch": self.arch.to_dict(),
            "step": self.step,
        }

    def measure_quality(self) -> dict[str, float]:
        from .evaluate import quality_metrics  # imported here: training without --eval-every never needs it

        metrics = quality_metrics(
            self.sampler,
            self.spec.name,
            self.arch.latent_dim,
            per_class=self.config.eval_per_class,
            seed=self.config.seed,
            device=self.device,
            data_dir=self.config.data_dir,
        )
        return {key: round(metrics[key], 6) for key in QUALITY_COLUMNS}

    @torch.inference_mode()
    def write_sample_grid(self, epoch: int) -> Path:
        """One row per class, the same noise every epoch, so the grids show how training moved."""
        per_class = self.config.samples_per_class
        fixed = torch.Generator().manual_seed(self.config.seed + 1)
        z = torch.randn(per_class * self.arch.num_classes, self.arch.latent_dim, generator=fixed).to(
            self.device
        )
        labels = torch.arange(self.arch.num_classes).repeat_interleave(per_class).to(self.device)
        sampler = self.sampler
        was_training = sampler.training
        sampler.eval()
        images = to_uint8(sampler(z, labels))
        sampler.train(was_training)
        path = self.run_dir / "samples" / f"epoch_{epoch:03d}.png"
        save_png(path, make_grid(images, per_class), scale=2)
        return path


class StopRequest:
    """Turns the first Ctrl-C into a request to stop after the current step; a second one interrupts at once."""

    def __init__(self):
        self.requested = False
        self.previous = None

    def __enter__(self):
        try:
            self.previous = signal.signal(signal.SIGINT, self.handle)
        except ValueError:  # not the main thread: leave signals alone
            self.previous = None
        return self

    def handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    interrupted: bool
    wall_s: float
    images_per_s: float
    setup_s: float  # from the call to the first step: reading data, building the networks, resuming


def prepare_run(config: TrainConfig, resume: bool) -> tuple[TrainConfig, Path]:
    run_dir = Path(config.out)
    has_checkpoint = (run_dir / CHECKPOINT_FILE).exists()
    if resume:
        if not (run_dir / CONFIG_FILE).exists():
            raise CheckpointError(f"cannot resume: {run_dir} has no {CONFIG_FILE}; is it a cgan run folder?")
        if not has_checkpoint:
            raise CheckpointError(f"cannot resume: {run_dir} has no checkpoint yet ({CHECKPOINT_FILE})")
        saved = TrainConfig.from_dict(read_json(run_dir / CONFIG_FILE, "training config"))
        defaults = TrainConfig()
        for name in RESUMABLE:
            if name in EXTENT or getattr(config, name) != getattr(defaults, name):
                setattr(saved, name, getattr(config, name))
        saved.out = str(run_dir)
        config = saved
    elif has_checkpoint:
        raise CganError(
            f"{run_dir} already holds a training run; continue it with --resume, or choose another --out"
        )
    config.validate()
    return config, run_dir


def fit(config: TrainConfig, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train (or continue training) the run in `config.out` until `epochs`, `max_steps` or `max_seconds`."""
    start = time.perf_counter()
    config, run_dir = prepare_run(config, resume)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    spec = data.get_spec(config.dataset)
    images, labels = data.load(spec.name, "train", config.data_dir)
    if config.max_images:
        images, labels = images[: config.max_images], labels[: config.max_images]
    if len(images) < config.batch_size:
        raise CganError(f"--batch-size {config.batch_size} is larger than the {len(images)} training images")
    images, labels = images.to(device), labels.to(device)

    trainer = Trainer(config, run_dir, spec, device)
    if resume:
        trainer.load()
        drop_metrics_after(run_dir / METRICS_FILE, trainer.step)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG_FILE, asdict(config))

    steps_per_epoch = len(images) // config.batch_size  # the last partial batch of each epoch is dropped
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)

    metrics_path = run_dir / METRICS_FILE
    new_metrics = not metrics_path.exists()
    bar = tqdm(total=total_steps, initial=trainer.step, disable=not progress, unit="step", dynamic_ncols=True)
    first_step, images_seen, session_start = trainer.step, 0, time.perf_counter()
    setup_s = session_start - start
    elapsed_before, last_save_step, last_eval_step = trainer.elapsed, trainer.step, None
    eval_every_s = config.eval_every_s
    next_eval_s = (elapsed_before // eval_every_s + 1) * eval_every_s if eval_every_s else math.inf

    def training_seconds() -> float:
        return elapsed_before + time.perf_counter() - session_start

    with open(metrics_path, "a", newline="") as metrics_file, StopRequest() as stop:
        writer = csv.DictWriter(metrics_file, fieldnames=METRIC_COLUMNS)
        if new_metrics:
            writer.writeheader()

        def record_quality() -> None:
            """Measure quality into metrics.csv and best.safetensors; its own time is not training time."""
            nonlocal session_start, last_eval_step
            elapsed, eval_start = training_seconds(), time.perf_counter()
            quality = trainer.measure_quality()
            trainer.keep_if_best(quality)
            epoch = math.ceil(trainer.step / steps_per_epoch)
            row = {"step": trainer.step, "epoch": epoch, "elapsed_s": round(elapsed, 3), **quality}
            writer.writerow(row)
            metrics_file.flush()
            bar.write(f"step {trainer.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in quality.items()))
            last_eval_step = trainer.step
            session_start += time.perf_counter() - eval_start

        out_of_time = config.max_seconds is not None and elapsed_before >= config.max_seconds
        while trainer.step < total_steps and not (stop.requested or out_of_time):
            epoch, position = divmod(trainer.step, steps_per_epoch)
            order = epoch_permutation(config.seed, epoch, len(images)).to(device)
            for batch in range(position, steps_per_epoch):
                index = order[batch * config.batch_size : (batch + 1) * config.batch_size]
                real = images[index].unsqueeze(1).float().div_(127.5).sub_(1.0)
                real = real.contiguous(memory_format=trainer.memory_format)
                measure = (trainer.step + 1) % config.log_every == 0
                stats = trainer.train_step(real, labels[index], measure)
                trainer.step += 1
                images_seen += len(index)
                bar.update(1)
                if stats is not None:
                    now = time.perf_counter()
                    rate = images_seen / (now - session_start)
                    row = {"step": trainer.step, "epoch": epoch + 1, "images_per_s": round(rate, 1)}
                    row["elapsed_s"] = round(elapsed_before + now - session_start, 3)
                    row.update({k: round(v, 6) for k, v in stats.items() if v is not None})
                    writer.writerow(row)
                    metrics_file.flush()  # so that a plot of a run in progress sees its latest rows
                    bar.set_postfix(epoch=epoch + 1, d=f"{stats['d_loss']:.3f}", img_s=f"{rate:.0f}")
                every = config.checkpoint_every
                if every and trainer.step - last_save_step >= every:
                    trainer.save(training_seconds())
                    last_save_step = trainer.step
                seconds = training_seconds()
                out_of_time = config.max_seconds is not None and seconds >= config.max_seconds
                if seconds >= next_eval_s:
                    record_quality()
                    next_eval_s = (seconds // eval_every_s + 1) * eval_every_s
                if trainer.step >= total_steps or stop.requested or out_of_time:
                    break
            if trainer.step % steps_per_epoch == 0:
                epoch = trainer.step // steps_per_epoch
                trainer.write_sample_grid(epoch)
                if config.eval_every and epoch % config.eval_every == 0 and last_eval_step != trainer.step:
                    record_quality()
            finished = trainer.step >= total_steps or out_of_time
            measuring = config.eval_every or eval_every_s
            if finished and measuring and trainer.step not in (first_step, last_eval_step):
                record_quality()  # the final state is always measured
            metrics_file.flush()
            trainer.save(training_seconds())
            last_save_step = trainer.step
    bar.close()
    wall = time.perf_counter() - start
    return TrainResult(
        run_dir=run_dir,
        step=trainer.step,
        epoch=math.ceil(trainer.step / steps_per_epoch),
        interrupted=stop.requested,
        wall_s=wall,
        images_per_s=images_seen / max(wall, 1e-9),
        setup_s=setup_s,
    )


def drop_metrics_after(path: Path, step: int) -> None:
    """Forget rows logged after the checkpoint we resume from: those steps are about to be trained again."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        rows = [row for row in csv.DictReader(f) if int(row["step"]) <= step]

    def write(tmp):
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


def read_metrics(run_dir: Path) -> dict[str, np.ndarray]:
    """metrics.csv as columns of floats (empty cells become NaN)."""
    with open(Path(run_dir) / METRICS_FILE, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = rows[0].keys() if rows else METRIC_COLUMNS
    return {c: np.array([float(r[c]) if r[c] not in ("", None) else np.nan for r in rows]) for c in columns}
