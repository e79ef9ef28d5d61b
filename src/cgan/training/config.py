"""The training config: every option of `cgan train`, written once. Each field's metadata (help, choices,
parser, flag) generates the command-line flag (cli/train.py), names the flag in errors, and lets
`cgan study` and the bundling script spell options as the CLI does."""

from __future__ import annotations

import importlib.util
import math
import os
from dataclasses import MISSING, Field, asdict, dataclass, field, fields
from typing import Any

from ..data import Dataset, get_spec, resolve_dataset
from ..errors import CganError, CheckpointError
from ..images import MAX_PIXELS, grid_shape
from ..models import ARCHS, D_CONDITIONINGS, D_DEPTHS, G_CONDITIONINGS, MAX_SIZE, ArchConfig
from ..units import SEED_LIMIT, available_cpus, duration, float_or_off, positive_int, text_or_off
from .augment import DEFAULT_POLICY, TRANSFORMS, parse_policy
from .losses import LOSSES, get_loss
from .precision import PRECISIONS, check_fp16, device_type

DEFAULT_GP_WEIGHT = 10.0  # lambda of Gulrajani et al. (2017)
SAMPLE_SCALE = 2  # the per-epoch sample grids are saved at twice their size
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
    "sample_every",
    "eval_every",
    "eval_every_s",
    "eval_per_class",
    "tensorboard",
    "sync_batch_norm",
)
# Options newer than the first release: a config.json written before them means their default. Every other
# option must be present (a missing seed must not silently become 0).
ADDED_LATER = (
    "data", "image_size", "channels", "tensorboard", "d_depth", "minibatch_std", "lr_decay", "sync_batch_norm",
    "mode_seeking", "consistency", "top_k", "d_lr", "sample_every",
)  # fmt: skip
# The early stops are asked anew on each resume (a run stopped by its --max-time would stop again at once);
# the other RESUMABLE options, --epochs among them, keep the run's value unless given, so an interrupted run
# resumed with no options goes on to its own last epoch.
EXTENT = ("max_steps", "max_seconds")


def option(default: Any, help: str, **cli: Any) -> Any:
    """A config field and how the command line spells it. cli keys: flag (default: the field name, dashed), parse
    (argparse type), choices, metavar, const (the value of the flag given alone), unset (what a default of
    None means, for --help)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass
class TrainConfig:
    dataset: str = option("mnist", "a built-in dataset: mnist, fashion-mnist or cifar10")
    data_dir: str | None = option(
        None, "folder with the dataset's files", unset="search the usual places", metavar="DIR"
    )
    data: str | None = option(
        None,
        "your own labelled images instead of --dataset: a folder with one sub-folder per class (or a "
        "dataset.json), or an .npz of images and labels (docs/data.md)",
        metavar="PATH",
    )
    image_size: int | None = option(
        None, "image size of --data, in pixels", parse=int, choices=(28, 32, 64), unset="the images' own, else 32"
    )
    channels: int | None = option(
        None, "1 (grayscale) or 3 (colour) for --data", parse=int, choices=(1, 3), unset="detected"
    )
    out: str = option("runs/mnist", "run folder to write", unset="runs/<dataset>", cli_default=None)
    arch: str = option("dcgan", "network family", choices=ARCHS)
    latent_dim: int = option(100, "size of the noise vector", parse=positive_int)
    g_width: int | None = option(None, "generator width", parse=positive_int, unset="per architecture")
    d_width: int | None = option(None, "discriminator width", parse=positive_int, unset="per architecture")
    embed_dim: int = option(16, "generator label embedding size", parse=positive_int)
    cond_g: str = option(
        "concat",
        "how the generator sees the label: label maps beside the features (concat) or conditional batch "
        "norm (cbn)",
        choices=G_CONDITIONINGS,
    )
    cond_d: str = option(
        "projection",
        "how the discriminator sees the label: projection, a label map beside the image (concat), or an "
        "auxiliary classifier (acgan)",
        choices=D_CONDITIONINGS,
    )
    spectral_norm: bool = option(True, "spectral normalisation in the discriminator")
    d_depth: int = option(
        1, "convolutions per size in the discriminator: 2 adds a 3x3 one after each strided one", parse=int, choices=D_DEPTHS
    )
    minibatch_std: bool = option(
        False, "a minibatch standard-deviation feature in the discriminator, against too little variety"
    )
    # The defaults below won `cgan study` on MNIST and Fashion-MNIST (docs/studies/): least squares, lr 6e-4,
    # batch 128 and a 0.999 EMA reach a lower fd_evaluator in 3 minutes than every other variant tried.
    loss: str = option("lsgan", "adversarial loss", choices=tuple(LOSSES))
    n_critic: int = option(1, "discriminator steps per generator step", parse=positive_int)
    gp_weight: float = option(DEFAULT_GP_WEIGHT, "weight of the gradient penalty of --loss wgan-gp", parse=float)
    r1: float | None = option(
        None, "R1 penalty on real images with this gamma; 0: none", parse=float_or_off, metavar="GAMMA"
    )
    mode_seeking: float | None = option(
        None,
        "mode-seeking regularisation (MSGAN) of the generator with this weight, against too little variety; "
        "0: none",
        parse=float_or_off,
        metavar="WEIGHT",
    )
    consistency: float | None = option(
        None,
        "consistency regularisation (CR-GAN) of the discriminator with this weight (10 in the paper): D is "
        "taught to rate a real image and the image shifted a few pixels alike; 0: none",
        parse=float_or_off,
        metavar="WEIGHT",
    )
    top_k: float | None = option(
        None,
        "top-k generator updates: G learns only from the images of its batch that D rates most real, a share "
        "that shrinks by 0.99 each epoch down to FRACTION (0.5 in the paper); 0: none",
        parse=float_or_off,
        metavar="FRACTION",
    )
    augment: str | None = option(
        None,
        f"differentiable augmentation (DiffAugment) of D's inputs; POLICY is a comma-separated list of "
        f"{', '.join(TRANSFORMS)} (when given alone: {DEFAULT_POLICY}); none: off",
        parse=text_or_off,
        const=DEFAULT_POLICY,
        metavar="POLICY",
    )
    epochs: int = option(3, "train until this epoch", parse=positive_int)
    max_steps: int | None = option(None, "stop after this many optimisation steps in all", parse=positive_int)
    max_seconds: float | None = option(
        None,
        "stop after this much training time in all, e.g. 5m (not counting evaluation)",
        flag="--max-time",
        parse=duration,
        metavar="DURATION",
    )
    batch_size: int = option(128, "images per step (under torchrun: of all processes together)", parse=positive_int)
    lr: float = option(6e-4, "Adam learning rate of both networks (of the generator alone with --d-lr)", parse=float)
    d_lr: float | None = option(
        None,
        "Adam learning rate of the discriminator, when it should differ from the generator's (the two "
        "time-scale update rule, TTUR: Heusel et al. 2017)",
        parse=float,
        unset="--lr",
    )
    lr_decay: int | None = option(
        None,
        "from the end of this epoch on, lower both learning rates linearly to 0 at the end of --epochs",
        parse=positive_int,
        metavar="EPOCH",
        unset="constant",
    )
    beta1: float = option(0.5, "Adam beta1", parse=float)
    beta2: float = option(0.999, "Adam beta2", parse=float)
    ema: float | None = option(
        0.999, "keep an average of the generator weights with this decay, e.g. 0.999; 0: none", parse=float_or_off
    )
    clip_grad: float | None = option(None, "clip each network's gradient to this L2 norm", parse=float)
    seed: int = option(0, "random seed: same seed, same run", parse=int)
    threads: int | None = option(None, "CPU threads", parse=positive_int, unset="PyTorch's choice")
    device: str = option("auto", "auto, cpu, cuda or cuda:N")
    precision: str = option(
        "auto",
        "bf16 or fp16: autocast the networks (losses stay fp32; fp16 with loss scaling, slow on CPUs); auto: "
        "bf16 where the hardware computes it natively, else fp16 on a GPU and fp32 on a CPU",
        choices=PRECISIONS,
    )
    channels_last: bool = option(False, "NHWC memory layout for the convolutions (docs/speed.md)")
    sync_batch_norm: bool = option(
        True,
        "under torchrun: batch-norm statistics of the global batch, so the run follows a one-process run; "
        "--no-sync-batch-norm: each rank's own, as PyTorch's DDP does by default (two fewer waits for the "
        "other ranks a step for each batch-norm layer after the generator's first; docs/scale.md)",
    )
    max_images: int | None = option(None, "train on the first N training images only", parse=positive_int)
    log_every: int = option(10, "steps between metrics.csv rows", parse=positive_int)
    checkpoint_every: int | None = option(
        None,
        "steps between checkpoints, instead of one at each epoch's end (for small datasets, whose epochs "
        "are a few steps)",
        parse=positive_int,
        unset="each epoch",
    )
    samples_per_class: int = option(10, "columns of the per-epoch sample grid", parse=positive_int)
    sample_every: int = option(
        1,
        "epochs between sample grids (samples/epoch_NNN.png; for small datasets, whose epochs are a few "
        "steps); the grid of the epoch a session ends at is always drawn",
        parse=positive_int,
    )
    eval_every: int | None = option(
        None,
        "measure quality every N epochs into metrics.csv and keep the best generator in best.safetensors",
        parse=positive_int,
    )
    eval_every_s: float | None = option(
        None, "the same, every this much training time, e.g. 30s", flag="--eval-every-time", parse=duration, metavar="DURATION"
    )
    eval_per_class: int = option(500, "images per class for each quality measurement", parse=positive_int)
    tensorboard: bool = option(
        False, "also log the metrics, sample grids and options for TensorBoard in RUN/tensorboard/ (the tensorboard extra)"
    )

    @classmethod
    def for_dataset(cls, **options: Any) -> TrainConfig:
        """The config of a run with these options, the others at their defaults, the dataset's own first
        (DATASET_DEFAULTS): what `cgan train` trains. TrainConfig(...) itself takes the plain defaults."""
        return cls(**{**dataset_defaults(options), **options})

    def validate(self) -> None:
        """Every option checked before any data is read; errors name the flag. Paths to data become absolute,
        so that config.json resumes the run from any working directory."""
        self._check_types()
        for name in ("data", "data_dir"):
            if getattr(self, name):
                setattr(self, name, os.path.abspath(os.path.expanduser(getattr(self, name))))
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("parse") is positive_int and value is not None and value < 1:
                raise CganError(f"{flag(f.name)} must be at least 1, got {value}")
            if isinstance(value, float) and not math.isfinite(value):
                raise CganError(f"{flag(f.name)} must be a finite number, got {value}")
            if "choices" in f.metadata and value is not None and value not in f.metadata["choices"]:
                raise CganError(f"{flag(f.name)} must be one of {', '.join(map(str, f.metadata['choices']))}, got {value!r}")
        if self.precision == "fp16":
            check_fp16(device_type(self.device))
        if self.threads is not None and self.threads > available_cpus():
            raise CganError(f"{flag('threads')} must be at most the {available_cpus()} CPUs this process may use")
        if not 0 <= self.seed < SEED_LIMIT:
            raise CganError(f"{flag('seed')} must lie in 0 to 2**63 - 1, got {self.seed}")
        loss = get_loss(self.loss)
        if self.gp_weight != DEFAULT_GP_WEIGHT and not loss.gradient_penalty:
            raise CganError(f"{flag('gp_weight')} applies to --loss wgan-gp only, not to --loss {self.loss}")
        for name in ("gp_weight", "r1", "mode_seeking", "consistency", "max_seconds", "eval_every_s", "lr", "d_lr", "clip_grad"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise CganError(f"{flag(name)} must be positive, got {value}")
        if self.top_k is not None and not 0 < self.top_k <= 1:
            raise CganError(f"{flag('top_k')} is a share of the batch and must lie in (0, 1], got {self.top_k}")
        if self.augment is not None:
            parse_policy(self.augment)
        if self.lr_decay is not None and self.lr_decay >= self.epochs:
            raise CganError(f"{flag('lr_decay')} {self.lr_decay} must come before the last epoch ({flag('epochs')} {self.epochs})")
        for name in ("latent_dim", "g_width", "d_width", "embed_dim"):
            if (getattr(self, name) or 0) > MAX_SIZE:
                raise CganError(f"{flag(name)} must be at most {MAX_SIZE}, got {getattr(self, name)}")
        if self.data is None:
            spec = get_spec(self.dataset)  # an invalid model fails before data is read
            self.check_dataset(spec.num_classes, spec.image_shape)
        elif self.dataset != default_of("dataset"):
            raise CganError(f"give {flag('dataset')} or {flag('data')}, not both")
        if self.eval_every or self.eval_every_s:
            from ..evaluation.samples import check_per_class  # only runs that measure quality load evaluation

            try:
                check_per_class(self.eval_per_class)
            except CganError as exc:
                raise CganError(f"{flag('eval_per_class')}: {exc}") from None

    def check_dataset(self, num_classes: int, image_shape: tuple[int, int, int]) -> None:
        """The checks that need the dataset's classes and image shape: the model, the sample grids."""
        self.arch_config(num_classes, image_shape)
        per_class = self.samples_per_class
        grid_height, grid_width = grid_shape(per_class * num_classes, *image_shape[1:], per_class)
        if grid_height * grid_width * SAMPLE_SCALE**2 > MAX_PIXELS:
            raise CganError(
                f"{flag('samples_per_class')} {per_class} would make sample grids of over {MAX_PIXELS:,} pixels"
            )
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise CganError(f"Adam betas must lie in [0, 1), got ({self.beta1}, {self.beta2})")
        if self.ema is not None and not 0 < self.ema < 1:
            raise CganError(f"{flag('ema')} is a decay between 0 and 1 (e.g. 0.999), got {self.ema}")
        if self.tensorboard and importlib.util.find_spec("tensorboard") is None:
            raise CganError(f"{flag('tensorboard')} needs the tensorboard extra: pip install 'cgan[tensorboard]'")

    def _check_types(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kinds = f.type.replace(" ", "").split("|")
            if value is None and "None" in kinds:
                continue
            if isinstance(value, bool):
                ok = "bool" in kinds
            elif isinstance(value, int):
                ok = "int" in kinds or "float" in kinds
            else:
                ok = type(value).__name__ in kinds
            if not ok:
                raise CganError(f"{flag(f.name)} must be {' or '.join(kinds)}, got {value!r}")

    def resolve_dataset(self) -> Dataset:
        """The dataset this config trains on: --data's images, or the built-in --dataset."""
        if self.data is not None:
            return resolve_dataset(self.data, None, self.image_size, self.channels)
        return resolve_dataset(self.dataset, self.data_dir, self.image_size, self.channels)

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
            d_depth=self.d_depth,
            minibatch_std=self.minibatch_std,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "config.json") -> TrainConfig:
        """A config read from a file, every field checked for type and range."""
        if not isinstance(values, dict):
            raise CheckpointError(f"{where} should hold a JSON object of training options")
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise CheckpointError(f"{where} has unknown options {sorted(unknown)}; is it from a newer cgan?")
        missing = [f.name for f in fields(cls) if f.name not in values and f.name not in ADDED_LATER]
        if missing:
            raise CheckpointError(f"{where} lacks {', '.join(missing)}; the file is damaged")
        config = cls(**values)
        try:
            config.validate()
        except CheckpointError:
            raise
        except CganError as exc:
            raise CheckpointError(f"{where}: {exc}") from None
        return config


def config_field(name: str) -> Field:
    for f in fields(TrainConfig):
        if f.name == name:
            return f
    raise KeyError(name)


def flag(name: str) -> str:
    """The command-line flag of a config field, e.g. flag("max_seconds") == "--max-time"."""
    return config_field(name).metadata.get("flag") or "--" + name.replace("_", "-")


def default_of(name: str) -> Any:
    f = config_field(name)
    return f.default if f.default is not MISSING else None


# A built-in dataset's own defaults, for the dcgan architecture: the options the long runs and the first
# minutes found best on it, used for those a new run does not set (docs/studies, "Fashion-MNIST's own
# defaults"). Fashion-MNIST's are its bundled generator's recipe at half its networks' widths, ahead of the
# defaults above from the first minute on; on MNIST the defaults above win the first minute, so it has none.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "fashion-mnist": {"loss": "hinge", "g_width": 64, "cond_g": "cbn", "mode_seeking": 0.1},
}


def dataset_defaults(options: dict) -> dict[str, Any]:
    """The dataset defaults that apply to a run with these `options` (TrainConfig fields): those of its
    built-in dataset that `options` leave unset; none for --data's images or another architecture."""
    if options.get("data") is not None or options.get("arch", default_of("arch")) != "dcgan":
        return {}
    try:
        # Its canonical name, whatever the spelling (fashion_mnist, FashionMNIST).
        dataset = get_spec(options.get("dataset", default_of("dataset"))).name
    except CganError:
        return {}  # an unknown dataset: validate() says so
    return {name: value for name, value in DATASET_DEFAULTS.get(dataset, {}).items() if name not in options}


# How a flag whose parser maps a word to None spells "off".
OFF_WORDS = {float_or_off: "0", text_or_off: "none"}


def train_arguments(values: dict) -> list[str]:
    """The `cgan train` arguments that set these options, e.g. {"lr": 3e-4, "ema": None} -> ["--lr", "0.0003",
    "--ema", "0"]; options at what `cgan train` takes when they are not given (their default, or the
    dataset's own) are left out."""
    implied = dataset_defaults({name: values[name] for name in ("dataset", "data", "arch") if name in values})
    arguments = []
    for f in fields(TrainConfig):
        if f.name not in values or values[f.name] == implied.get(f.name, default_of(f.name)):
            continue
        value = values[f.name]
        if isinstance(value, bool):
            arguments.append(f"--{'' if value else 'no-'}{flag(f.name)[2:]}")  # argparse's BooleanOptionalAction
        else:
            arguments += [flag(f.name), OFF_WORDS[f.metadata["parse"]] if value is None else str(value)]
    return arguments
