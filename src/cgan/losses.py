"""Adversarial losses, computed on logits so that no sigmoid ever saturates to log(0)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def vanilla_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), where D = sigmoid(logit); softplus(-l) = -log sigmoid(l)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def nonsaturating_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)) (Goodfellow et al. 2014): strong gradients early, when D easily rejects the fakes."""
    return F.softplus(-fake_logits).mean()
