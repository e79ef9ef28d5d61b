"""Adversarial losses and gradient penalties, computed on logits so that no sigmoid saturates to log(0).

Each loss is a pair: the discriminator's loss on (real logits, fake logits) and the generator's on fake
logits. WGAN-GP adds a penalty on the critic's input gradients, which the training step computes with
`gradient_penalty` because it needs the critic itself, not only its outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..errors import CganError


def vanilla_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), where D = sigmoid(logit); softplus(-l) = -log sigmoid(l)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def image_mean(losses: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """The mean of the images' losses, or their sum weighted by `weights` (top-k updates keep some images)."""
    return losses.mean() if weights is None else (losses * weights).sum()


def nonsaturating_g_loss(fake_logits: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """-log D(G(z)) (Goodfellow et al. 2014): strong gradients early, when D easily rejects the fakes."""
    return image_mean(F.softplus(-fake_logits), weights)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """max(0, 1 - D(x)) + max(0, 1 + D(G(z))) (Lim & Ye 2017; Miyato et al. 2018)."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def mean_critic_g_loss(fake_logits: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """-D(G(z)): the generator's loss under both hinge and Wasserstein losses."""
    return image_mean(-fake_logits, weights)


def least_squares_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """(D(x) - 1)^2 + D(G(z))^2, halved (Mao et al. 2017, targets a=0, b=c=1)."""
    return 0.5 * ((real_logits - 1.0).pow(2).mean() + fake_logits.pow(2).mean())


def least_squares_g_loss(fake_logits: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    return image_mean(0.5 * (fake_logits - 1.0).pow(2), weights)


def wasserstein_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D(G(z)) - D(x): the critic's estimate of the Wasserstein-1 distance, negated (Arjovsky et al. 2017)."""
    return fake_logits.mean() - real_logits.mean()


class AdversarialLoss(NamedTuple):
    d_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (real logits, fake logits) -> loss
    g_loss: Callable[..., torch.Tensor]  # (fake logits, optional weights of the images) -> loss
    gradient_penalty: bool = False  # WGAN-GP: the critic's loss also needs `gradient_penalty`


LOSSES = {
    "vanilla": AdversarialLoss(vanilla_d_loss, nonsaturating_g_loss),
    "hinge": AdversarialLoss(hinge_d_loss, mean_critic_g_loss),
    "lsgan": AdversarialLoss(least_squares_d_loss, least_squares_g_loss),
    "wgan-gp": AdversarialLoss(wasserstein_d_loss, mean_critic_g_loss, gradient_penalty=True),
}


def get_loss(name: str) -> AdversarialLoss:
    try:
        return LOSSES[name]
    except KeyError:
        raise CganError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None


def input_gradients(
    outputs: torch.Tensor, inputs: torch.Tensor, loss_scale: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """d(sum of outputs)/d(inputs), one row per sample, in fp32, kept in the graph (for a penalty).

    Under fp16 mixed precision the sum is multiplied by `loss_scale` before autograd, so small gradients do
    not underflow in fp16, and the gradients are divided by it before any norm is taken of them (the
    gradient-penalty recipe of PyTorch's AMP examples); the training step passes the loss scaler's scale
    over the number of outputs (`GANStep.penalty_scale`), a tensor. With bf16 or fp32 the scale is 1 and
    changes nothing.
    """
    (grads,) = torch.autograd.grad(outputs.float().sum() * loss_scale, inputs, create_graph=True)
    return grads.float().flatten(1) / loss_scale


def gradient_penalty(
    critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor,
    mix: torch.Tensor,
    loss_scale: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): mean of (||grad D(x_mix)|| - 1)^2, the norm per sample over all
    non-batch dimensions, at x_mix = mix * real + (1 - mix) * fake with one `mix` in [0, 1] per sample.

    `critic(images, labels)` returns one logit per image.
    """
    mix = mix.view(-1, *([1] * (real.dim() - 1)))
    mixed = (mix * real.detach() + (1 - mix) * fake.detach()).requires_grad_(True)
    norms = input_gradients(critic(mixed, labels), mixed, loss_scale).norm(dim=1)
    return (norms - 1.0).pow(2).mean()


def r1_penalty(
    real_logits: torch.Tensor, real: torch.Tensor, loss_scale: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): mean squared norm of D's gradient at the real images, which must have
    been given to D with requires_grad. The caller weighs it by gamma / 2."""
    return input_gradients(real_logits, real, loss_scale).pow(2).sum(dim=1).mean()


def mode_seeking_loss(fake: torch.Tensor, z: torch.Tensor, labels: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Mode seeking (Mao et al. 2019, MSGAN): 1 / (mean |G(z1) - G(z2)| / mean |z1 - z2| + eps) over pairs of
    generated images of one class, so that G loses for drawing two noises of a class alike. The pairs are
    each image and the next one of its class in the batch (no extra images are drawn); a batch with no two
    images of one class gives 0."""
    order = torch.argsort(labels, stable=True)
    first, second = order[:-1], order[1:]
    same = (labels[first] == labels[second]).float()
    image_gaps = (fake[first].float() - fake[second].float()).abs().flatten(1).mean(dim=1)
    noise_gaps = (z[first].float() - z[second].float()).abs().mean(dim=1)
    # Sums over the same pairs: their ratio is the ratio of the means. Clamped so that no pair gives 0, not 0/0.
    ratio = (image_gaps * same).sum() / (noise_gaps * same).sum().clamp_min(torch.finfo(torch.float32).tiny)
    return (same.sum() > 0).float() / (ratio + eps)


def consistency_loss(logits: torch.Tensor, transformed_logits: torch.Tensor) -> torch.Tensor:
    """Consistency regularisation (Zhang et al. 2020, CR-GAN): the mean squared difference between D's
    outputs for images and for the same images transformed in a way that keeps them real."""
    return (logits - transformed_logits).pow(2).mean()
