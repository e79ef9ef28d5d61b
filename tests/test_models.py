import json

import numpy as np
import pytest
import torch

from cgan.discriminators import MinibatchStd, build_discriminator
from cgan.errors import CganError
from cgan.models import ArchConfig, ConditionalBatchNorm, build_generator, feature_sizes

SMALL = dict(latent_dim=8, g_width=8, d_width=8, embed_dim=4)


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_shapes_and_range(arch):
    cfg = ArchConfig(arch=arch, **SMALL)
    generator, discriminator = build_generator(cfg), build_discriminator(cfg)
    z, labels = torch.randn(5, 8), torch.tensor([0, 1, 2, 3, 9])
    images = generator(z, labels)
    assert images.shape == (5, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    logits, class_logits = discriminator(images, labels)
    assert logits.shape == (5,)
    assert class_logits is None  # the default conditioning, projection, has no classifier


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_label_changes_both_networks(arch):
    torch.manual_seed(0)
    cfg = ArchConfig(arch=arch, **SMALL)
    generator, discriminator = build_generator(cfg).eval(), build_discriminator(cfg).eval()
    z = torch.randn(1, 8).repeat(2, 1)
    labels = torch.tensor([3, 7])
    images = generator(z, labels)
    assert not torch.allclose(images[0], images[1]), "the label must change the generated image"
    same_image = images[:1].repeat(2, 1, 1, 1)
    logits, _ = discriminator(same_image, labels)
    swapped, _ = discriminator(same_image, labels.flip(0))
    # Same input rows in the same positions: only the labels differ, so any difference is theirs.
    assert not torch.equal(logits, swapped), "the label must change the discriminator's verdict"


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


def test_round_trip_keeps_the_conditionings():
    cfg = ArchConfig(cond_g="cbn", cond_d="acgan", spectral_norm=False, **SMALL)
    stored = json.loads(json.dumps(cfg.to_dict()))  # as model.json holds it: image_shape becomes a list
    assert stored["cond_g"] == "cbn"
    assert ArchConfig.from_dict(stored) == cfg


def test_model_json_without_later_keys_loads_with_their_defaults():
    """model.json files written before cond_g, d_depth and minibatch_std existed lack those keys."""
    old = ArchConfig().to_dict()
    for key in ("cond_g", "d_depth", "minibatch_std"):
        del old[key]
    loaded = ArchConfig.from_dict(old)
    assert (loaded.cond_g, loaded.d_depth, loaded.minibatch_std) == ("concat", 1, False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"arch": "resnet"}, "unknown architecture"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"g_width": -1}, "g_width"),
        ({"cond_g": "film"}, "unknown generator conditioning 'film'; choose concat, cbn"),
        ({"cond_g": "cbn", "arch": "mlp"}, "dcgan"),
        ({"cond_d": "acgan-softmax"}, "unknown discriminator conditioning"),
    ],
)
def test_bad_architecture_is_a_clear_error(kwargs, message):
    with pytest.raises(CganError, match=message):
        ArchConfig(**kwargs)


def test_unknown_keys_in_stored_config_are_refused():
    with pytest.raises(CganError, match="unknown keys"):
        ArchConfig.from_dict({"arch": "dcgan", "attention": True})


@pytest.mark.parametrize(
    "options", [{}, {"cond_g": "cbn"}, {"arch": "mlp"}, {"image_size": 64}, {"image_size": 64, "cond_g": "cbn"}]
)
def test_a_generator_is_its_stem_then_the_rest(options):
    """The stem (what every rank of a distributed run computes for the whole batch) holds the first batch norm
    and no other: the later ones see each rank's own images."""
    settings = {**SMALL, **options}
    size = settings.pop("image_size", 28)
    generator = build_generator(ArchConfig(**settings, image_shape=(1, size, size)))
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(norms) >= 2 and generator.stem_norm is norms[0]
    z, labels = torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 4, 5])
    torch.manual_seed(0)
    before = [norm.running_mean.clone() for norm in norms]
    features = generator.stem(z, labels)
    moved = [not torch.equal(norm.running_mean, mean) for norm, mean in zip(norms, before, strict=True)]
    assert moved == [True] + [False] * (len(norms) - 1)
    assert features.min() < 0 if options.get("arch") == "mlp" else features.min() == 0  # after the activation


# --- generator conditioning ----------------------------------------------------------------------------


@pytest.mark.parametrize("cond_g", ["concat", "cbn"])
def test_dcgan_generator_conditionings_shapes_range_and_label(cond_g):
    torch.manual_seed(0)
    generator = build_generator(ArchConfig(cond_g=cond_g, **SMALL))
    images = generator(torch.randn(4, 8), torch.tensor([0, 1, 5, 9]))  # training mode: batch statistics
    assert images.shape == (4, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1
    generator.eval()
    z = torch.randn(1, 8).repeat(2, 1)
    images = generator(z, torch.tensor([3, 7]))
    assert not torch.allclose(images[0], images[1]), "the label must change the generated image"


def test_cbn_generator_sees_the_label_only_through_its_norms():
    generator = build_generator(ArchConfig(cond_g="cbn", **SMALL))
    keys = set(generator.state_dict())
    assert {"norm_7.scale.weight", "norm_7.shift.weight", "norm_14.scale.weight"} <= keys
    assert not any(key.startswith("label_map") for key in keys)


@pytest.mark.parametrize("conditioned, neutral", [("norm_7", "norm_14"), ("norm_14", "norm_7")])
def test_cbn_generator_conditions_both_norms(conditioned, neutral):
    """With one norm made the same for every class, the label still changes the image through the other."""
    torch.manual_seed(0)
    generator = build_generator(ArchConfig(cond_g="cbn", **SMALL)).eval()
    with torch.no_grad():
        getattr(generator, neutral).scale.weight.fill_(1.0)
        getattr(generator, neutral).shift.weight.zero_()
        getattr(generator, conditioned).shift.weight[7] = 0.5
    images = generator(torch.randn(1, 8).repeat(2, 1), torch.tensor([3, 7]))
    assert not torch.allclose(images[0], images[1])


def test_conditional_batch_norm_is_initialised_as_plain_batch_norm():
    generator = build_generator(ArchConfig(cond_g="cbn", **SMALL))
    for norm in (generator.norm_7, generator.norm_14):
        assert isinstance(norm, ConditionalBatchNorm)
        assert abs(norm.scale.weight.mean().item() - 1.0) < 0.05
        assert norm.scale.weight.std().item() < 0.05
        assert torch.equal(norm.shift.weight, torch.zeros_like(norm.shift.weight))


def test_conditional_batch_norm_scales_and_shifts_per_class():
    norm = ConditionalBatchNorm(features=3, num_classes=10).eval()  # running stats 0/1: x / sqrt(1 + eps)
    with torch.no_grad():
        norm.scale.weight.fill_(1.0)
        norm.shift.weight.zero_()
    x = torch.randn(1, 3, 4, 4).repeat(2, 1, 1, 1)
    labels = torch.tensor([3, 5])
    out = norm(x, labels)
    assert torch.allclose(out[0], out[1]), "equal scales and shifts: the label changes nothing"
    with torch.no_grad():
        norm.scale.weight[3] = 2.0
        norm.shift.weight[5, 1] = 0.5
    out = norm(x, labels)
    plain = norm.norm(x[:1])[0]
    assert torch.allclose(out[0], 2 * plain), "class 3's scale doubles its output"
    expected_5 = plain.clone()
    expected_5[1] += 0.5
    assert torch.allclose(out[1], expected_5), "class 5's shift moves channel 1 only"


# --- discriminator conditioning ------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
@pytest.mark.parametrize("cond_d", ["projection", "concat", "acgan"])
@pytest.mark.parametrize("spectral_norm", [True, False])
def test_discriminator_conditionings_compose(arch, cond_d, spectral_norm):
    torch.manual_seed(0)
    cfg = ArchConfig(arch=arch, g_width=8, d_width=8, cond_d=cond_d, spectral_norm=spectral_norm)
    discriminator = build_discriminator(cfg).eval()  # eval: no dropout (mlp), fixed spectral norms
    images = torch.rand(1, 1, 28, 28).repeat(2, 1, 1, 1) * 2 - 1
    logits, class_logits = discriminator(images, torch.tensor([2, 5]))
    swapped, swapped_class_logits = discriminator(images, torch.tensor([5, 2]))
    assert logits.shape == (2,)
    if cond_d == "acgan":
        # D does not see the label: the same image scores the same whatever the label ...
        assert torch.equal(logits, swapped)
        assert torch.allclose(logits[0], logits[1], rtol=0, atol=1e-6)
        # ... but classifies it, one logit per class.
        assert class_logits.shape == (2, 10)
        assert torch.equal(class_logits, swapped_class_logits)
    else:
        # The same rows in the same positions with the labels swapped: any difference is the labels'.
        assert not torch.allclose(logits, swapped, rtol=0, atol=1e-7), "the label must change the logit"
        assert class_logits is None and swapped_class_logits is None
    has_sn = any("parametrizations" in name for name, _ in discriminator.named_parameters())
    assert has_sn == spectral_norm


@pytest.mark.parametrize("arch", ["dcgan", "mlp"])
def test_acgan_class_logits_come_from_the_classifier(arch):
    cfg = ArchConfig(arch=arch, g_width=8, d_width=8, cond_d="acgan")
    discriminator = build_discriminator(cfg).eval()
    with torch.no_grad():
        discriminator.head.classifier.bias[7] = 100.0
    logits, class_logits = discriminator(torch.rand(3, 1, 28, 28) * 2 - 1, torch.tensor([0, 1, 2]))
    assert logits.shape == (3,)
    assert class_logits.argmax(1).tolist() == [7, 7, 7]
    class_logits.sum().backward()
    assert discriminator.head.classifier.bias.grad is not None


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64)])
def test_label_maps_computed_per_class_equal_convolving_them_beside_every_image(shape):
    """The generator convolves each class's label map once; the network is the one that convolves the
    features and the map side by side (what its weights mean), for class indices and for blends."""
    torch.manual_seed(0)
    generator = build_generator(ArchConfig(image_shape=shape, **SMALL))
    z = torch.randn(6, 8)
    blend = torch.zeros(6, 10)
    blend[:, 2], blend[:, 7] = torch.linspace(0, 1, 6), torch.linspace(1, 0, 6)
    for labels in (torch.tensor([0, 1, 2, 2, 5, 9]), blend):
        features = generator.project(z)
        for size, bigger in zip(generator.sizes, generator.sizes[1:], strict=False):
            maps = getattr(generator, f"label_map_{size}")(labels).view(-1, 4, size, size)
            features = getattr(generator, f"up_{bigger}")(torch.cat([features, maps], dim=1))
        torch.testing.assert_close(generator(z, labels), features, rtol=1e-5, atol=1e-6)


# --- the bundled generators ----------------------------------------------------------------------------


def test_concat_generator_keeps_the_key_layout_of_the_bundled_weights():
    keys = set(build_generator(ArchConfig()).state_dict())
    expected = {
        "label_map_7.weight",
        "label_map_14.weight",
        "project.0.weight",
        "up_14.0.weight",
        "up_28.0.weight",
    }
    assert expected <= keys


def test_bundled_mnist_generator_still_loads_and_generates():
    from cgan.generation import load_generator

    generator = load_generator("mnist")
    assert generator.arch.cond_g == "concat"
    images = generator.generate([3, 8], seed=0)
    assert images.shape == (2, 28, 28) and images.dtype == np.uint8
    assert images.min() < 64 and images.max() > 192, "a trained MNIST digit has dark background, bright ink"


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 32, 32), (3, 32, 32), (3, 64, 64)])
@pytest.mark.parametrize("cond_g, cond_d", [("concat", "projection"), ("cbn", "acgan"), ("concat", "concat")])
def test_dcgan_draws_and_judges_every_size_and_channel_count(shape, cond_g, cond_d):
    cfg = ArchConfig(image_shape=shape, cond_g=cond_g, cond_d=cond_d, latent_dim=8, g_width=4, d_width=4)
    images = build_generator(cfg)(torch.randn(3, 8), torch.tensor([0, 5, 9]))
    assert images.shape == (3, *shape) and images.abs().max() <= 1
    logits, classes = build_discriminator(cfg)(images, torch.tensor([0, 5, 9]))
    assert logits.shape == (3,) and (classes is None) == (cond_d != "acgan")


@pytest.mark.parametrize("shape, message", [((1, 48, 48), "28x28, 32x32, 64x64"), ((2, 28, 28), r"1 \(grayscale\) or 3")])
def test_sizes_and_channels_dcgan_cannot_draw_are_refused(shape, message):
    with pytest.raises(CganError, match=message):
        ArchConfig(image_shape=shape)


def test_28x28_layers_keep_their_names():
    """The bundled generators' weight files name the layers by size; a 64x64 generator adds a stage."""
    names = set(build_generator(ArchConfig()).state_dict())
    assert {"label_map_7.weight", "label_map_14.weight", "up_14.0.weight", "up_28.0.weight"} <= names
    names_64 = set(build_generator(ArchConfig(image_shape=(3, 64, 64))).state_dict())
    assert {"label_map_8.weight", "label_map_32.weight", "up_64.0.weight"} <= names_64


# --- a deeper discriminator and the minibatch standard deviation ----------------------------------------


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3), (64, 3)])
@pytest.mark.parametrize("d_depth", [1, 2])
@pytest.mark.parametrize("minibatch_std", [False, True])
def test_deeper_discriminator_and_minibatch_std_compose(size, channels, d_depth, minibatch_std):
    cfg = ArchConfig(image_shape=(channels, size, size), d_width=4, d_depth=d_depth, minibatch_std=minibatch_std)
    discriminator = build_discriminator(cfg).eval()
    convs = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    strided = len(feature_sizes(size)) - 1
    assert len(convs) == strided * d_depth
    logits, _ = discriminator(torch.rand(8, channels, size, size) * 2 - 1, torch.arange(8) % 10)
    assert logits.shape == (8,) and logits.isfinite().all()


def test_minibatch_std_sees_the_variety_of_each_group_of_consecutive_images():
    layer = MinibatchStd(group=4)
    same = torch.randn(1, 3, 5, 5).repeat(4, 1, 1, 1)
    varied = torch.randn(4, 3, 5, 5)
    out = layer(torch.cat([same, varied]))
    assert out.shape == (8, 4, 5, 5) and torch.equal(out[:, :3], torch.cat([same, varied]))
    std = out[:, 3]
    assert std[:4].max() < 1e-3, "four copies of one image have no variety"
    assert std[4:].min() > 0.5 and torch.all(std[4:] == std[4, 0, 0]), "one value for the whole group"
    # A shard of whole groups (one rank's share of the batch) gets the values the whole batch gives it.
    assert torch.equal(layer(torch.cat([same, varied]))[4:], layer(varied))
    # A batch that 4 does not divide groups by 2, then 1, rather than failing.
    assert layer(torch.randn(6, 3, 5, 5)).shape == (6, 4, 5, 5)
    assert torch.all(layer(torch.randn(3, 3, 5, 5))[:, 3] < 1e-3)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"d_depth": 3}, "d_depth is 1 or 2"), ({"arch": "mlp", "minibatch_std": True}, "dcgan only")],
)
def test_discriminator_options_are_checked(kwargs, message):
    with pytest.raises(CganError, match=message):
        ArchConfig(**kwargs)
