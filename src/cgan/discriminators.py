"""The discriminator networks, conditioned on the class label.

Every discriminator has `forward(images, labels) -> (logits (B,), class_logits (B, classes) or None)`, the
class logits coming from an auxiliary classifier (AC-GAN) only; labels are class indices (B,). Built from the
run's `ArchConfig` (models.py), as the generators are.
"""

from __future__ import annotations

import torch
from torch import nn

from .models import ArchConfig, feature_sizes, init_weights


class ConditionalHead(nn.Module):
    """A discriminator's last layer, conditioned as `cond_d` says, from a feature vector to the outputs.

    projection (Miyato & Koyama 2018): logit = linear(features) + <embedding(label), features>.
    acgan (Odena et al. 2017): an unconditional logit, plus class logits from a second linear layer.
    concat: the label was already given beside the image, so a plain linear layer.
    """

    def __init__(self, cond_d: str, features: int, num_classes: int):
        super().__init__()
        self.cond_d = cond_d
        self.linear = nn.Linear(features, 1)
        if cond_d == "projection":
            self.class_embedding = nn.Embedding(num_classes, features)
        elif cond_d == "acgan":
            self.classifier = nn.Linear(features, num_classes)

    def forward(self, features: torch.Tensor, labels: torch.Tensor):
        logits = self.linear(features).squeeze(1)
        if self.cond_d == "projection":
            return logits + (self.class_embedding(labels) * features).sum(1), None
        if self.cond_d == "acgan":
            return logits, self.classifier(features)
        return logits, None


class MinibatchStd(nn.Module):
    """Appends one feature map to each image's: the standard deviation of every feature over its group of
    `group` consecutive images in the batch, averaged (Karras et al. 2018). A generator that draws too
    little variety gives itself away to D through it.

    Groups are consecutive images, so a batch split into per-rank shards of whole groups (distributed
    training) forms the groups one process would. A batch that `group` does not divide uses 2, else 1."""

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = features.shape
        group = next(size for size in (self.group, 2, 1) if batch % size == 0)
        grouped = features.float().view(-1, group, channels, height, width)
        # (x - mean)² by hand: torch's var over a small middle dimension is about 100x slower on CPUs.
        variance = (grouped - grouped.mean(dim=1, keepdim=True)).square().mean(dim=1)
        std = (variance + 1e-8).sqrt().mean(dim=(1, 2, 3))  # one per group
        maps = std.repeat_interleave(group).to(features.dtype).view(batch, 1, 1, 1).expand(batch, 1, height, width)
        return torch.cat([features, maps], dim=1)


class DCGANDiscriminator(nn.Module):
    """Strided convolutions that halve the image down to the generator's first size (two for 28x28 and
    32x32 images, three for 64x64), doubling the channels, to a feature vector; then the conditional head.
    With d_depth 2 a 3x3 convolution follows each strided one; with minibatch_std the standard-deviation
    map joins the features before the last convolution (d_depth 2) or the head (d_depth 1).

    With concat conditioning the label also enters as a learned image-sized map stacked beside the image.
    """

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        channels, height, width = cfg.image_shape
        self.image_shape = cfg.image_shape
        self.label_maps = cfg.cond_d == "concat"
        if self.label_maps:
            self.label_map = nn.Embedding(cfg.num_classes, height * width)
        assert cfg.d_width is not None  # ArchConfig.__post_init__ fills unset widths in
        sizes = feature_sizes(height)
        layers: list[nn.Module] = []
        into = channels + self.label_maps
        for step in range(len(sizes) - 1):
            out = cfg.d_width * 2**step
            layers += [nn.Conv2d(into, out, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            if cfg.d_depth == 2:
                std = cfg.minibatch_std and step == len(sizes) - 2  # before the last 3x3 convolution
                if std:
                    layers.append(MinibatchStd())
                layers += [nn.Conv2d(out + int(std), out, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            into = out
        if cfg.minibatch_std and cfg.d_depth == 1:
            layers.append(MinibatchStd())
            into += 1
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = ConditionalHead(cfg.cond_d, into * sizes[0] * sizes[0], cfg.num_classes)

    def forward(self, images: torch.Tensor, labels: torch.Tensor):
        if self.label_maps:
            _, height, width = self.image_shape
            images = torch.cat([images, self.label_map(labels).view(-1, 1, height, width)], dim=1)
        return self.head(self.features(images), labels)


class MLPDiscriminator(nn.Module):
    """The flattened image (beside a learned image-sized label map, for concat) through two hidden layers."""

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        pixels = cfg.image_shape[0] * cfg.image_shape[1] * cfg.image_shape[2]
        width = cfg.d_width
        assert width is not None  # ArchConfig.__post_init__ fills unset widths in
        self.label_maps = cfg.cond_d == "concat"
        if self.label_maps:
            self.label_map = nn.Embedding(cfg.num_classes, pixels)
        self.features = nn.Sequential(
            nn.Linear(2 * pixels if self.label_maps else pixels, width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(width, width),
            nn.Dropout(0.3),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.head = ConditionalHead(cfg.cond_d, width, cfg.num_classes)

    def forward(self, images: torch.Tensor, labels: torch.Tensor):
        flat = images.flatten(1)
        if self.label_maps:
            flat = torch.cat([flat, self.label_map(labels)], dim=1)
        return self.head(self.features(flat), labels)


def build_discriminator(cfg: ArchConfig) -> nn.Module:
    net = DCGANDiscriminator(cfg) if cfg.arch == "dcgan" else MLPDiscriminator(cfg)
    net.apply(init_weights)
    if cfg.spectral_norm:  # after initialising: the parametrisation then divides those weights by their norm
        for layer in list(net.modules()):
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.utils.parametrizations.spectral_norm(layer)
    return net
