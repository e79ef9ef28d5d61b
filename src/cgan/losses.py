"""Adversarial losses, computed on logits so that no sigmoid ever saturates to log(0).

Each loss is a pair: the discriminator's loss on (real logits, fake logits) and the generator's on fake logits.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from .errors import CganError


def vanilla_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), where D = sigmoid(logit); softplus(-l) = -log sigmoid(l)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def nonsaturating_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)) (Goodfellow et al. 2014): strong gradients early, when D easily rejects the fakes."""
    return F.softplus(-fake_logits).mean()


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """max(0, 1 - D(x)) + max(0, 1 + D(G(z))) (Lim & Ye 2017; Miyato et al. 2018)."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


class AdversarialLoss(NamedTuple):
    d_loss: object
    g_loss: object


LOSSES = {
    "vanilla": AdversarialLoss(vanilla_d_loss, nonsaturating_g_loss),
    "hinge": AdversarialLoss(hinge_d_loss, hinge_g_loss),
}


def get_loss(name: str) -> AdversarialLoss:
    try:
        return LOSSES[name]
    except KeyError:
        raise CganError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}") from None
