import pytest
import torch

from cgan.errors import CganError
from cgan.models import ArchConfig, build_discriminator, build_generator


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_shapes_and_range(arch):
    cfg = ArchConfig(arch=arch, latent_dim=8, g_width=8, d_width=8, embed_dim=4)
    generator, discriminator = build_generator(cfg), build_discriminator(cfg)
    z, labels = torch.randn(5, 8), torch.tensor([0, 1, 2, 3, 9])
    images = generator(z, labels)
    assert images.shape == (5, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    assert discriminator(images, labels).shape == (5,)


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_label_changes_both_networks(arch):
    torch.manual_seed(0)
    cfg = ArchConfig(arch=arch, latent_dim=8, g_width=8, d_width=8, embed_dim=4)
    generator, discriminator = build_generator(cfg).eval(), build_discriminator(cfg).eval()
    z = torch.randn(1, 8).repeat(2, 1)
    labels = torch.tensor([3, 7])
    images = generator(z, labels)
    assert not torch.allclose(images[0], images[1]), "the label must change the generated image"
    same_image = images[:1].repeat(2, 1, 1, 1)
    logits = discriminator(same_image, labels)
    assert logits[0] != logits[1], "the label must change the discriminator's verdict"


def test_widths_and_latent_size_are_configurable():
    small = ArchConfig(g_width=8, d_width=8, latent_dim=16)
    large = ArchConfig(g_width=16, d_width=16, latent_dim=16)
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert count(build_generator(large)) > count(build_generator(small))
    assert count(build_discriminator(large)) > count(build_discriminator(small))
    assert build_generator(small)(torch.randn(2, 16), torch.tensor([0, 1])).shape == (2, 1, 28, 28)


def test_architecture_defaults_and_round_trip():
    cfg = ArchConfig(arch="mlp")
    assert (cfg.g_width, cfg.d_width) == (256, 512)
    assert ArchConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"arch": "resnet"}, "unknown architecture"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"g_width": -1}, "g_width"),
    ],
)
def test_bad_architecture_is_a_clear_error(kwargs, message):
    with pytest.raises(CganError, match=message):
        ArchConfig(**kwargs)


def test_unknown_keys_in_stored_config_are_refused():
    with pytest.raises(CganError, match="unknown keys"):
        ArchConfig.from_dict({"arch": "dcgan", "attention": True})


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
@pytest.mark.parametrize("cond_d", ["projection", "concat"])
@pytest.mark.parametrize("spectral_norm", [True, False])
def test_discriminator_conditionings_compose(arch, cond_d, spectral_norm):
    torch.manual_seed(0)
    cfg = ArchConfig(arch=arch, g_width=8, d_width=8, cond_d=cond_d, spectral_norm=spectral_norm)
    discriminator = build_discriminator(cfg).eval()
    images = torch.rand(1, 1, 28, 28).repeat(2, 1, 1, 1) * 2 - 1
    logits = discriminator(images, torch.tensor([2, 5]))
    assert logits.shape == (2,) and logits[0] != logits[1]
    has_sn = any("parametrizations" in name for name, _ in discriminator.named_parameters())
    assert has_sn == spectral_norm


def test_unknown_discriminator_conditioning():
    with pytest.raises(CganError, match="unknown discriminator conditioning"):
        ArchConfig(cond_d="acgan-softmax")
