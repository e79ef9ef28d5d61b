import math

import pytest
import torch
from torch import nn

from cgan.errors import CganError
from cgan.training.losses import (
    LOSSES,
    get_loss,
    gradient_penalty,
    hinge_d_loss,
    least_squares_d_loss,
    least_squares_g_loss,
    mean_critic_g_loss,
    mode_seeking_loss,
    nonsaturating_g_loss,
    r1_penalty,
    vanilla_d_loss,
    wasserstein_d_loss,
)


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
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.25])
    # real: max(0, 1-2)=0, max(0, 1-0.5)=0.5 -> 0.25; fake: max(0, 1-3)=0, max(0, 1.25)=1.25 -> 0.625
    assert math.isclose(hinge_d_loss(real, fake).item(), 0.875)
    # G: -mean(fake) = -(-3 + 0.25) / 2 = 1.375
    assert math.isclose(mean_critic_g_loss(fake).item(), 1.375)


def test_least_squares_losses_by_hand():
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([0.5, -1.5])
    # D: (real-1)^2 = 4, 0 -> mean 2; fake^2 = 0.25, 2.25 -> mean 1.25; halved sum = 0.5 * 3.25 = 1.625
    # (with the targets swapped, real^2 and (fake-1)^2, it would be 0.5 * (5 + 3.25) = 4.125)
    assert math.isclose(least_squares_d_loss(real, fake).item(), 1.625)
    # G: (fake-1)^2 for fake = [3, 0]: 4, 1 -> mean 2.5; halved = 1.25 (G wants D(G(z)) = 1, not 0)
    assert math.isclose(least_squares_g_loss(torch.tensor([3.0, 0.0])).item(), 1.25)
    # At the targets both losses vanish.
    assert least_squares_d_loss(torch.ones(3), torch.zeros(3)).item() == 0.0
    assert least_squares_g_loss(torch.ones(3)).item() == 0.0


def test_wasserstein_d_loss_by_hand():
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([0.5, -1.5])
    # mean(fake) - mean(real) = -0.5 - 2 = -2.5: the critic lowers it by scoring real above fake
    assert math.isclose(wasserstein_d_loss(real, fake).item(), -2.5)
    # and G's loss under WGAN is -mean(fake) = 0.5
    assert math.isclose(LOSSES["wgan-gp"].g_loss(fake).item(), 0.5)


def test_loss_table_pairs_and_gradient_penalty_flag():
    assert LOSSES["lsgan"] == (least_squares_d_loss, least_squares_g_loss, False)
    assert LOSSES["hinge"] == (hinge_d_loss, mean_critic_g_loss, False)
    assert LOSSES["wgan-gp"] == (wasserstein_d_loss, mean_critic_g_loss, True)
    assert {name: loss.gradient_penalty for name, loss in LOSSES.items()} == {
        "vanilla": False,
        "hinge": False,
        "lsgan": False,
        "wgan-gp": True,
    }
    assert get_loss("wgan-gp") is LOSSES["wgan-gp"]


def test_unknown_loss_is_a_clear_error_listing_every_loss():
    with pytest.raises(CganError, match="unknown loss 'wgan'") as info:
        get_loss("wgan")
    for name in ("vanilla", "hinge", "lsgan", "wgan-gp"):
        assert name in str(info.value)


# --- gradient penalties -------------------------------------------------------------------------------


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b per image: its input gradient is w at every x, whatever the label."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.as_tensor(w, dtype=torch.float32))
        self.b = nn.Parameter(torch.tensor(0.5))

    def forward(self, images, labels):
        return (images * self.w).flatten(1).sum(1) + self.b


def quadratic_critic(images, labels):
    """D(x) = 0.5 * ||x||^2 per image: its input gradient is x itself."""
    return 0.5 * images.pow(2).flatten(1).sum(1)


def batch(size=4, shape=(1, 2, 2), seed=0):
    gen = torch.Generator().manual_seed(seed)
    real = torch.randn(size, *shape, generator=gen)
    fake = torch.randn(size, *shape, generator=gen)
    mix = torch.rand(size, generator=gen)
    return real, fake, torch.zeros(size, dtype=torch.long), mix


W_NORM_3 = [[[1.0, 2.0], [2.0, 0.0]]]  # (1, 2, 2): ||w|| = sqrt(1 + 4 + 4) = 3


def test_gradient_penalty_of_a_linear_critic_is_norm_minus_one_squared():
    # grad = w for every sample and every mix, so the penalty is (||w|| - 1)^2 = (3 - 1)^2 = 4
    real, fake, labels, mix = batch()
    assert math.isclose(gradient_penalty(LinearCritic(W_NORM_3), real, fake, labels, mix).item(), 4.0)
    # ... for any mix, including the end points
    for mix in (torch.zeros(4), torch.ones(4)):
        assert math.isclose(gradient_penalty(LinearCritic(W_NORM_3), real, fake, labels, mix).item(), 4.0)


def test_gradient_penalty_vanishes_for_a_unit_norm_critic():
    # w = 0.5 everywhere on 2x2: ||w|| = sqrt(4 * 0.25) = 1 -> (1 - 1)^2 = 0
    real, fake, labels, mix = batch()
    penalty = gradient_penalty(LinearCritic([[[0.5, 0.5], [0.5, 0.5]]]), real, fake, labels, mix)
    assert abs(penalty.item()) < 1e-12


def test_gradient_penalty_takes_the_norm_per_sample_over_all_non_batch_dims():
    # Two channels: w[0] = [[2, 0], [0, 0]] (norm 2), w[1] = [[1, 2], [0, 0]] (norm sqrt 5): ||w|| = 3 -> 4.
    # Wrong norms give other numbers:
    #   per channel: ((2-1)^2 + (sqrt5-1)^2) / 2 = (1 + 1.528) / 2 = 1.264
    #   per pixel (over channels): pixels (0,0): sqrt5, (0,1): 2, others 0 -> (1.528 + 1 + 1 + 1) / 4 = 1.132
    #   per element: (|w_i| - 1)^2 over the 8 entries 2,0,0,0,1,2,0,0: (1+1+1+1+0+1+1+1) / 8 = 0.875
    #   over the whole batch of 4: ||grad|| = sqrt(4) * 3 = 6 -> 25
    w = [[[2.0, 0.0], [0.0, 0.0]], [[1.0, 2.0], [0.0, 0.0]]]
    real, fake, labels, mix = batch(shape=(2, 2, 2))
    assert math.isclose(gradient_penalty(LinearCritic(w), real, fake, labels, mix).item(), 4.0, rel_tol=1e-6)


def test_gradient_penalty_gradient_reaches_the_critic_weights():
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 2 * w / 3 = 4w/3 (the mean over identical samples
    # changes nothing); this needs the input gradient to stay in the graph (create_graph=True)
    critic = LinearCritic(W_NORM_3)
    real, fake, labels, mix = batch()
    gradient_penalty(critic, real, fake, labels, mix).backward()
    assert torch.allclose(critic.w.grad, 4.0 / 3.0 * torch.tensor(W_NORM_3))


def test_gradient_penalty_is_taken_at_the_per_sample_mix_of_real_and_fake():
    # D(x) = 0.5 ||x||^2 has gradient x, so the norm is ||x_mix||, with x_mix = mix * real + (1 - mix) * fake.
    # real = 2 everywhere, fake = 0 on 2x2 images (4 pixels):
    #   sample 0, mix 0.75: x_mix = 1.5 -> norm sqrt(4 * 2.25) = 3 -> (3 - 1)^2 = 4
    #   sample 1, mix 0.5:  x_mix = 1.0 -> norm sqrt(4) = 2        -> (2 - 1)^2 = 1   => mean 2.5
    # (real and fake swapped: x_mix = 0.5, 1.0 -> 0, 1 -> 0.5; mix[0] for both samples: 4, 4 -> 4)
    real, fake = torch.full((2, 1, 2, 2), 2.0), torch.zeros(2, 1, 2, 2)
    labels, mix = torch.tensor([3, 7]), torch.tensor([0.75, 0.5])
    assert math.isclose(gradient_penalty(quadratic_critic, real, fake, labels, mix).item(), 2.5)


def test_gradient_penalty_passes_the_mixed_images_and_labels_to_the_critic():
    seen = {}

    def recording_critic(images, labels):
        seen["images"], seen["labels"] = images.detach().clone(), labels
        return quadratic_critic(images, labels)

    real, fake, _, mix = batch(size=3)
    labels = torch.tensor([4, 0, 9])
    gradient_penalty(recording_critic, real, fake, labels, mix)
    expected = mix.view(3, 1, 1, 1) * real + (1 - mix.view(3, 1, 1, 1)) * fake
    assert torch.allclose(seen["images"], expected)
    assert torch.equal(seen["labels"], labels)


def test_gradient_penalty_does_not_reach_the_generator():
    # The penalty trains the critic only: real and fake enter detached.
    real, fake, labels, mix = batch()
    fake.requires_grad_(True)
    gradient_penalty(quadratic_critic, real, fake, labels, mix).backward()
    assert fake.grad is None


def small_mlp_critic(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))
    return net, lambda images, labels: net(images).squeeze(1)


def test_gradient_penalty_under_bf16_autocast_with_loss_scale_matches_fp32():
    net, critic = small_mlp_critic()
    real, fake, labels, mix = batch(size=8)
    reference = gradient_penalty(critic, real, fake, labels, mix)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        penalty = gradient_penalty(critic, real, fake, labels, mix, loss_scale=1024.0)
    assert torch.isfinite(penalty)
    assert penalty.dtype == torch.float32
    assert reference.item() > 0.1  # far enough from 0 for a relative comparison to mean something
    assert math.isclose(penalty.item(), reference.item(), rel_tol=2e-2)
    penalty.backward()
    # Every parameter but the last bias (which does not change the input gradient) gets a finite gradient.
    grads = {name: p.grad for name, p in net.named_parameters()}
    assert grads.pop("3.bias") is None
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads.values())


def test_loss_scale_is_undone_before_the_norm():
    # A scaled gradient's norm would be 1024 times larger: (1024 n - 1)^2 instead of (n - 1)^2.
    _, critic = small_mlp_critic()
    real, fake, labels, mix = batch(size=8)
    unscaled = gradient_penalty(critic, real, fake, labels, mix).item()
    scaled = gradient_penalty(critic, real, fake, labels, mix, loss_scale=1024.0).item()
    assert math.isclose(scaled, unscaled, rel_tol=1e-6)
    assert math.isclose(
        gradient_penalty(LinearCritic(W_NORM_3), real, fake, labels, mix, loss_scale=1024.0).item(), 4.0
    )


def test_r1_penalty_of_a_linear_critic_is_squared_weight_norm():
    # grad = w per sample: mean over the batch of ||w||^2 = 9
    critic = LinearCritic(W_NORM_3)
    real = torch.randn(4, 1, 2, 2).requires_grad_(True)
    penalty = r1_penalty(critic(real, None), real)
    assert math.isclose(penalty.item(), 9.0, rel_tol=1e-6)
    # d/dw ||w||^2 = 2w: the penalty trains the critic
    penalty.backward()
    assert torch.allclose(critic.w.grad, 2 * torch.tensor(W_NORM_3))


def test_r1_penalty_is_the_batch_mean_of_squared_per_sample_norms():
    # D(x) = 0.5 ||x||^2 has gradient x. Sample 0: all 1 on 2x2 -> ||x||^2 = 4; sample 1: all 2 -> 16.
    # Mean: (4 + 16) / 2 = 10 (summed over the batch: 20; mean of unsquared norms: (2 + 4) / 2 = 3)
    real = torch.stack([torch.ones(1, 2, 2), torch.full((1, 2, 2), 2.0)]).requires_grad_(True)
    assert math.isclose(r1_penalty(quadratic_critic(real, None), real).item(), 10.0)
    assert math.isclose(r1_penalty(quadratic_critic(real, None), real, loss_scale=1024.0).item(), 10.0)


def test_r1_penalty_needs_real_images_that_require_grad():
    critic = LinearCritic(W_NORM_3)
    real = torch.randn(4, 1, 2, 2)  # given to D without requires_grad: no gradient w.r.t. it exists
    with pytest.raises(RuntimeError):
        r1_penalty(critic(real, None), real)


def test_mode_seeking_loss_is_the_reciprocal_gap_ratio_over_pairs_of_one_class():
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [0.0, 4.0], [5.0, 5.0]])
    fake = torch.tensor([0.0, 3.0, 1.0, 0.0, 9.0]).view(5, 1, 1, 1).expand(5, 1, 2, 2)
    labels = torch.tensor([1, 1, 0, 0, 2])  # pairs: (2, 3) of class 0 and (0, 1) of class 1; 4 is alone
    image_gaps, noise_gaps = 1.0 + 3.0, 3.0 + 1.0  # per pair: the mean absolute difference
    assert mode_seeking_loss(fake, z, labels).item() == pytest.approx(1 / (image_gaps / noise_gaps + 1e-5))
    # Two noises of one class drawn alike: the loss is as large as eps allows.
    assert mode_seeking_loss(torch.zeros(4, 1, 2, 2), z[:4], labels[:4]).item() == pytest.approx(1e5)


def test_mode_seeking_loss_pushes_images_of_one_class_apart_and_is_zero_without_pairs():
    z = torch.randn(8, 4)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    fake = (z[:, :1] * 0.01).view(8, 1, 1, 1).repeat(1, 1, 2, 2).requires_grad_(True)
    mode_seeking_loss(fake, z, labels).backward()
    moved = fake.detach() - 0.01 * fake.grad  # one step of gradient descent on the loss alone
    gaps = lambda images: (images[0::2] - images[1::2]).abs().mean()  # noqa: E731
    assert gaps(moved) > gaps(fake.detach())
    alone = torch.randn(3, 1, 2, 2, requires_grad=True)
    loss = mode_seeking_loss(alone, torch.randn(3, 4), torch.tensor([0, 1, 2]))
    loss.backward()
    assert loss.item() == 0 and torch.equal(alone.grad, torch.zeros_like(alone))


@pytest.mark.parametrize("name", ["vanilla", "hinge", "lsgan", "wgan-gp"])
def test_weighted_generator_loss_is_the_mean_over_the_kept_images(name):
    logits = torch.tensor([0.3, -2.0, 1.5, 0.7, -0.1, 4.0])
    kept = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    g_loss = LOSSES[name].g_loss
    expected = g_loss(logits[kept.bool()])
    assert g_loss(logits, kept / 3).item() == pytest.approx(expected.item())
    assert g_loss(logits, torch.full((6,), 1 / 6)).item() == pytest.approx(g_loss(logits).item())
