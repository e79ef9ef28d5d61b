import math

import torch

from cgan.losses import nonsaturating_g_loss, vanilla_d_loss


def test_vanilla_d_loss_matches_the_textbook_formula():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sig = torch.sigmoid
    expected = -(torch.log(sig(real)).mean() + torch.log(1 - sig(fake)).mean())
    assert torch.allclose(vanilla_d_loss(real, fake), expected)


def test_losses_at_zero_logits_are_log_2():
    zeros = torch.zeros(4)
    assert math.isclose(vanilla_d_loss(zeros, zeros).item(), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(nonsaturating_g_loss(zeros).item(), math.log(2), rel_tol=1e-6)


def test_losses_stay_finite_for_extreme_logits():
    """A sigmoid-then-log implementation gives inf/nan here; the logit form does not."""
    real = torch.tensor([-200.0], requires_grad=True)
    fake = torch.tensor([200.0], requires_grad=True)
    d_loss = vanilla_d_loss(real, fake)
    g_loss = nonsaturating_g_loss(-fake)
    d_loss.backward()
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert math.isclose(d_loss.item(), 400.0, rel_tol=1e-6)
    assert torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()


def test_nonsaturating_gradient_is_strong_when_d_rejects_fakes():
    """-log D(G(z)) keeps a gradient of about -1 where log(1 - D(G(z))) would vanish."""
    logits = torch.tensor([-10.0], requires_grad=True)
    nonsaturating_g_loss(logits).backward()
    assert logits.grad.item() < -0.99


def test_hinge_losses_by_hand():
    from cgan.losses import hinge_d_loss, hinge_g_loss

    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.25])
    # real: max(0, 1-2)=0, max(0, 1-0.5)=0.5 -> 0.25; fake: max(0, 1-3)=0, max(0, 1.25)=1.25 -> 0.625
    assert math.isclose(hinge_d_loss(real, fake).item(), 0.875)
    assert math.isclose(hinge_g_loss(fake).item(), 1.375)


def test_unknown_loss_is_a_clear_error():
    import pytest

    from cgan.errors import CganError
    from cgan.losses import get_loss

    with pytest.raises(CganError, match="unknown loss 'wgan'"):
        get_loss("wgan")
