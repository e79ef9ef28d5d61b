"""The generator networks, conditioned on the class label; what they share with the discriminators
(discriminators.py): ArchConfig, the feature sizes and the initialisation.

Every generator has `forward(z, labels) -> images in [-1, 1]` of shape (B, C, H, W), labels being class
indices (B,) or class weights (B, classes) that blend classes (LabelEmbedding). The networks are plain
`nn.Module`s, built from an `ArchConfig` that `model.json` stores, so a run folder alone can rebuild them.

A generator's forward is its stem, the layers up to its first batch norm and that norm's activation, then
the rest (`Generator`). The stem's inputs are the noise and the labels alone, which every rank of a
distributed run knows for the whole global batch: each rank runs the stem on all of it, so that batch norm
needs no communication (training/distributed.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from .errors import CganError

ARCHS = ("dcgan", "mlp")
G_CONDITIONINGS = ("concat", "cbn")
D_CONDITIONINGS = ("concat", "projection", "acgan")
D_DEPTHS = (1, 2)
IMAGE_SIZES = (28, 32, 64)  # what dcgan draws; mlp draws any size
# (g_width, d_width) per architecture; why dcgan's are 32/32: docs/speed.md.
DEFAULT_WIDTHS = {"dcgan": (32, 32), "mlp": (256, 512)}
# The largest width, noise or embedding size: a dcgan generator of 1024 by 1024 has about 140 million weights.
MAX_SIZE = 1024


@dataclass(frozen=True)
class ArchConfig:
    """Everything needed to rebuild the networks. Stored in model.json and config.json."""

    arch: str = "dcgan"
    num_classes: int = 10
    image_shape: tuple[int, int, int] = (1, 28, 28)
    latent_dim: int = 100
    g_width: int | None = None  # dcgan: channels before the last up-convolution (doubled at each size below);
    # mlp: first hidden layer width
    d_width: int | None = None  # dcgan: channels of the first conv; mlp: hidden width
    embed_dim: int = 16  # label embedding size for the generator (dcgan: channels of each label map)
    # How G sees the label. concat: learned label maps (dcgan) or an embedding (mlp) beside the features;
    # cbn: conditional batch norm, a per-class scale and shift after each normalisation (dcgan only).
    cond_g: str = "concat"
    # How D sees the label. concat: a learned image-sized map beside the image; projection: Miyato & Koyama (2018);
    # acgan: D does not see it, but classifies the image as well (Odena et al. 2017).
    # Measured on MNIST (2 epochs, batch 64, lr 2e-4): concat 61% class accuracy, projection + spectral norm 76%.
    cond_d: str = "projection"
    spectral_norm: bool = True  # spectral normalisation of every discriminator layer (Miyato et al. 2018)
    # dcgan discriminator: convolutions per size, 1 (a strided 4x4) or 2 (then a 3x3, as SNGAN's CNN has).
    d_depth: int = 1
    # A minibatch standard-deviation feature before D's last layer (Karras et al. 2018), against low variety.
    minibatch_std: bool = False

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise CganError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        # Unset widths take the architecture's default (frozen dataclass, hence object.__setattr__).
        for name, default in zip(("g_width", "d_width"), DEFAULT_WIDTHS[self.arch], strict=True):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        if self.cond_g not in G_CONDITIONINGS:
            raise CganError(
                f"unknown generator conditioning {self.cond_g!r}; choose {', '.join(G_CONDITIONINGS)}"
            )
        if self.cond_g == "cbn" and self.arch != "dcgan":
            raise CganError("conditional batch norm (--cond-g cbn) is built for --arch dcgan only")
        if self.cond_d not in D_CONDITIONINGS:
            raise CganError(
                f"unknown discriminator conditioning {self.cond_d!r}; choose {', '.join(D_CONDITIONINGS)}"
            )
        channels, height, width = self.image_shape
        if channels not in (1, 3):
            raise CganError(f"images have 1 (grayscale) or 3 (colour) channels, not {channels}")
        if self.arch == "dcgan" and not (height == width and height in IMAGE_SIZES):
            sizes = ", ".join(f"{size}x{size}" for size in IMAGE_SIZES)
            raise CganError(f"the dcgan architecture draws {sizes} images, not {height}x{width}")
        if self.d_depth not in D_DEPTHS:
            raise CganError(f"d_depth is {' or '.join(map(str, D_DEPTHS))}, got {self.d_depth}")
        if (self.d_depth != 1 or self.minibatch_std) and self.arch != "dcgan":
            raise CganError("a deeper discriminator and the minibatch standard deviation are built for --arch dcgan only")
        for name in ("num_classes", "latent_dim", "g_width", "d_width", "embed_dim"):
            if not 1 <= getattr(self, name) <= MAX_SIZE:
                raise CganError(f"{name} must be an integer from 1 to {MAX_SIZE}, got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ArchConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise CganError(f"model config has unknown keys {sorted(unknown)}; is it from a newer cgan?")
        values = dict(data)
        if "image_shape" in values:
            values["image_shape"] = tuple(values["image_shape"])
        return cls(**values)


class LabelEmbedding(nn.Embedding):
    """A label embedding that also takes soft labels: int64 class indices (B,) look rows up as nn.Embedding
    does; float class weights (B, num_classes) give the weighted sum of rows (weights @ embedding).

    Generators use it so that a class-to-class interpolation can feed them a blend of two labels. It is an
    nn.Embedding, so state_dict keys (and the shipped weights) stay those of one.
    """

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        return rows_of(self.weight, labels)


def rows_of(table: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Each image's row of a per-class `table` (classes, ...): the row of its class for class indices (B,),
    the blend of the rows for class weights (B, classes), in the table's dtype. What LabelEmbedding looks
    up, and how the generators (as trained and folded) look up their per-class results."""
    rows = table.flatten(1)
    picked = labels.to(rows.dtype) @ rows if labels.is_floating_point() else F.embedding(labels, rows)
    return picked.view(-1, *table.shape[1:])  # -1, not len(labels): the ONNX export keeps the batch size free


def feature_sizes(image_size: int) -> list[int]:
    """The sizes a dcgan generator's features take, from the first to the image, doubling at each step:
    28 -> [7, 14, 28], 32 -> [8, 16, 32], 64 -> [8, 16, 32, 64]. The discriminator walks them back."""
    start = image_size // 4 if image_size <= 32 else image_size // 8
    sizes = [start]
    while sizes[-1] < image_size:
        sizes.append(2 * sizes[-1])
    return sizes


def stage_widths(g_width: int, steps: int) -> list[int]:
    """Channels of the features before each up-convolution: g_width before the last, doubled below it."""
    return [g_width * 2 ** (steps - 1 - i) for i in range(steps)]


class Generator(nn.Module):
    """A generator as its stem and the rest: forward(z, labels) = grow(stem(z, labels), labels)."""

    def stem(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The features after the first batch norm and its activation, from the noise and the labels alone."""
        raise NotImplementedError

    def grow(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The images from the stem's features."""
        raise NotImplementedError

    @property
    def stem_norm(self) -> nn.Module:
        """The stem's batch norm."""
        raise NotImplementedError

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.grow(self.stem(z, labels), labels)


class DCGANGenerator(Generator):
    """Noise -> features at the first size (7x7 for 28x28 images) -> up-convolutions doubling the size to
    the image's.

    The label enters as a learned map beside the features at every size but the image's: with the map at
    7x7 alone, one epoch on MNIST gave samples a classifier recognised 29% of the time; with 7x7 and
    14x14, 87%. Layers are named by size (label_map_7, up_14, ...), so 28x28 weights keep their names.
    """

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        assert cfg.g_width is not None  # ArchConfig.__post_init__ fills unset widths in
        self.sizes = feature_sizes(cfg.image_shape[1])
        widths = stage_widths(cfg.g_width, len(self.sizes) - 1)
        self.label_channels = label_channels = cfg.embed_dim
        for size in self.sizes[:-1]:
            self.add_module(f"label_map_{size}", LabelEmbedding(cfg.num_classes, label_channels * size * size))
        first = self.sizes[0]
        self.project = nn.Sequential(
            nn.Linear(cfg.latent_dim, widths[0] * first * first, bias=False),
            nn.Unflatten(1, (widths[0], first, first)),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        for i, size in enumerate(self.sizes[1:]):
            into = widths[i] + label_channels
            if size == self.sizes[-1]:
                up = nn.Sequential(nn.ConvTranspose2d(into, cfg.image_shape[0], 4, stride=2, padding=1), nn.Tanh())
            else:
                up = nn.Sequential(
                    nn.ConvTranspose2d(into, widths[i + 1], 4, stride=2, padding=1, bias=False),
                    nn.BatchNorm2d(widths[i + 1]),
                    nn.ReLU(inplace=True),
                )
            self.add_module(f"up_{size}", up)

    def stem(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.project(z)

    @property
    def stem_norm(self) -> nn.Module:
        return self.project[2]

    def grow(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        for size, bigger in zip(self.sizes, self.sizes[1:], strict=False):
            conv, *after = getattr(self, f"up_{bigger}")  # unpacked: slicing a Sequential builds a new one
            features = self.up_convolution(conv, features, size, labels)
            for layer in after:
                features = layer(features)
        return features

    def up_convolution(
        self, conv: nn.ConvTranspose2d, features: torch.Tensor, size: int, labels: torch.Tensor
    ) -> torch.Tensor:
        """`conv` of the features with the class's label map beside them, in two parts. The convolution is
        linear, so the label map's part is the same for every image of a class: it is computed once per
        class and looked up, instead of convolving a copy of the map for every image (the label channels
        are a fifth to a third of the convolution's input; docs/speed.md)."""
        width = features.shape[1]
        maps = getattr(self, f"label_map_{size}").weight.view(-1, self.label_channels, size, size)
        per_class = F.conv_transpose2d(maps, conv.weight[width:], None, stride=2, padding=1)  # as built above
        image_part = F.conv_transpose2d(features, conv.weight[:width], conv.bias, stride=2, padding=1)
        return image_part + rows_of(per_class, labels)


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose scale and shift are learned per class (de Vries et al. 2017; Miyato & Koyama 2018)."""

    def __init__(self, features: int, num_classes: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(features, affine=False)
        self.scale = LabelEmbedding(num_classes, features)
        self.shift = LabelEmbedding(num_classes, features)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        scale = self.scale(labels)[:, :, None, None]
        shift = self.shift(labels)[:, :, None, None]
        return self.norm(x) * scale + shift


class DCGANCBNGenerator(Generator):
    """The DCGAN generator's layers, with the label entering only through conditional batch norm at every
    size but the image's instead of label maps beside the features."""

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        assert cfg.g_width is not None  # ArchConfig.__post_init__ fills unset widths in
        self.sizes = feature_sizes(cfg.image_shape[1])
        widths = stage_widths(cfg.g_width, len(self.sizes) - 1)
        first = self.sizes[0]
        self.project = nn.Sequential(
            nn.Linear(cfg.latent_dim, widths[0] * first * first, bias=False),
            nn.Unflatten(1, (widths[0], first, first)),
        )
        for i, (size, bigger) in enumerate(zip(self.sizes, self.sizes[1:], strict=False)):
            last = bigger == self.sizes[-1]
            out = cfg.image_shape[0] if last else widths[i + 1]
            self.add_module(f"norm_{size}", ConditionalBatchNorm(widths[i], cfg.num_classes))
            self.add_module(f"up_{bigger}", nn.ConvTranspose2d(widths[i], out, 4, stride=2, padding=1, bias=last))

    def stem(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.relu(getattr(self, f"norm_{self.sizes[0]}")(self.project(z), labels))

    @property
    def stem_norm(self) -> nn.Module:
        return getattr(self, f"norm_{self.sizes[0]}").norm

    def grow(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        for size, bigger in zip(self.sizes, self.sizes[1:], strict=False):
            if size != self.sizes[0]:  # the first size's norm is the stem's
                features = torch.relu(getattr(self, f"norm_{size}")(features, labels))
            features = getattr(self, f"up_{bigger}")(features)
        return torch.tanh(features)


class MLPGenerator(Generator):
    """The classic minimal CGAN: [noise, label embedding] through three hidden layers to the pixels."""

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        self.image_shape = cfg.image_shape
        pixels = cfg.image_shape[0] * cfg.image_shape[1] * cfg.image_shape[2]
        width = cfg.g_width
        assert width is not None  # ArchConfig.__post_init__ fills unset widths in
        self.label_embedding = LabelEmbedding(cfg.num_classes, cfg.embed_dim)
        self.net = nn.Sequential(
            nn.Linear(cfg.latent_dim + cfg.embed_dim, width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(width, 2 * width),
            nn.BatchNorm1d(2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(2 * width, 4 * width),
            nn.BatchNorm1d(4 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(4 * width, pixels),
            nn.Tanh(),
        )

    STEM = 5  # layers of net up to the first batch norm's activation

    def stem(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net[: self.STEM](torch.cat([z, self.label_embedding(labels)], dim=1))

    @property
    def stem_norm(self) -> nn.Module:
        return self.net[self.STEM - 2]

    def grow(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.net[self.STEM :](features).view(-1, *self.image_shape)


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016): N(0, 0.02) weights, BatchNorm scales around 1."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        # nn.Embedding has no bias; a layer built with bias=False has None.
        bias = getattr(module, "bias", None)
        if bias is not None:
            nn.init.zeros_(bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and module.affine:
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, ConditionalBatchNorm):  # after its embeddings (apply visits children first)
        nn.init.normal_(module.scale.weight, 1.0, 0.02)
        nn.init.zeros_(module.shift.weight)


def build_generator(cfg: ArchConfig) -> Generator:
    net: Generator
    if cfg.arch == "mlp":
        net = MLPGenerator(cfg)
    else:
        net = DCGANCBNGenerator(cfg) if cfg.cond_g == "cbn" else DCGANGenerator(cfg)
    net.apply(init_weights)
    return net
