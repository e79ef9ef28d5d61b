"""generation.inference: the folded DCGAN generator computes the trained network's function."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cgan
from cgan.errors import CganError
from cgan.generation import TrainedGenerator, generate_images, noise
from cgan.generation.inference import (
    FoldedCBNGenerator,
    FoldedGenerator,
    inference_network,
    interleave,
    phase_weight,
)
from cgan.models import ArchConfig, build_generator


def trained_like(arch: ArchConfig) -> torch.nn.Module:
    """A generator whose batch norms hold statistics and affine weights far from their initial values, as a
    trained one's do (folding identity batch norms would prove little)."""
    torch.manual_seed(0)
    net = build_generator(arch)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.3, 3.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.3, 0.3)
    return net.eval()


def test_phase_weight_turns_the_transposed_convolution_into_a_plain_one():
    x, weight = torch.randn(3, 5, 6, 7), torch.randn(5, 4, 4, 4)
    expected = F.conv_transpose2d(x, weight, stride=2, padding=1)
    got = interleave(F.conv2d(x, phase_weight(weight), padding=1), 6, 7)
    assert got.shape == expected.shape == (3, 4, 12, 14)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64)])
def test_folded_generator_computes_the_network_in_fp32(shape):
    net = trained_like(ArchConfig(num_classes=7, image_shape=shape, g_width=16))
    folded = FoldedGenerator(net)
    z, labels = noise(1, 9, 100), torch.tensor([0, 1, 2, 3, 4, 5, 6, 6, 0])
    blend = torch.softmax(torch.randn(9, 7), dim=1)  # class weights, as interpolations feed them
    with torch.inference_mode():
        torch.testing.assert_close(folded(z, labels), net(z, labels), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(folded(z, blend), net(z, blend), atol=1e-5, rtol=1e-5)


def test_only_the_dcgan_generators_are_folded():
    net = build_generator(ArchConfig(num_classes=10, arch="mlp"))
    assert inference_network(net) is net
    assert isinstance(inference_network(build_generator(ArchConfig(num_classes=10))), FoldedGenerator)


def generator_of(net: torch.nn.Module, arch: ArchConfig, precision: str) -> TrainedGenerator:
    classes = [str(i) for i in range(arch.num_classes)]
    meta = {"dataset": "mnist", "classes": classes, "arch": arch.to_dict()}
    return TrainedGenerator(net, arch, classes, "test", meta, precision)


def test_generate_in_fp32_gives_the_networks_images():
    arch = ArchConfig(num_classes=10, image_shape=(1, 28, 28))
    net = trained_like(arch)
    labels = [i % 10 for i in range(300)]
    images = generator_of(net, arch, "fp32").generate(labels, seed=4)
    reference = generate_images(net, noise(4, 300, 100), torch.tensor(labels))
    difference = np.abs(images.astype(int) - reference)
    assert difference.max() <= 1 and (difference == 0).mean() > 0.999  # float rounding at a .5 boundary


def test_bf16_images_stay_within_a_few_grey_levels_and_do_not_depend_on_the_batch():
    arch = ArchConfig(num_classes=10, image_shape=(1, 28, 28))
    net = trained_like(arch)
    labels = [i % 10 for i in range(300)]
    bf16 = generator_of(net, arch, "bf16")
    images = bf16.generate(labels, seed=4)
    np.testing.assert_array_equal(images, bf16.generate(labels, seed=4, batch_size=7))
    reference = generator_of(net, arch, "fp32").generate(labels, seed=4)
    difference = np.abs(images.astype(int) - reference)
    assert difference.mean() < 1.0 and difference.max() <= 16


def test_load_generator_refuses_an_unknown_precision():
    with pytest.raises(CganError, match="precision must be one of auto, bf16, fp32"):
        cgan.load_generator("mnist", precision="fp16")


def test_a_changed_precision_takes_effect_at_the_next_draw():
    arch = ArchConfig(num_classes=10, image_shape=(1, 28, 28))
    net = trained_like(arch)
    labels = [i % 10 for i in range(100)]
    generator = generator_of(net, arch, "bf16")
    generator.generate(labels, seed=4)
    generator.precision = "fp32"
    np.testing.assert_array_equal(
        generator.generate(labels, seed=4), generator_of(net, arch, "fp32").generate(labels, seed=4)
    )


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64)])
def test_folded_conditional_batch_norm_generator_computes_the_network(shape):
    net = build_generator(ArchConfig(num_classes=7, image_shape=shape, g_width=16, cond_g="cbn"))
    torch.manual_seed(1)
    for module in net.modules():  # statistics and per-class affine weights far from their initial values
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.3, 3.0)
        if isinstance(module, torch.nn.Embedding):
            module.weight.data.uniform_(-1.5, 1.5)
    net.eval()
    folded = inference_network(net, "fp32")
    assert isinstance(folded, FoldedCBNGenerator)
    z, labels = noise(1, 9, 100), torch.tensor([0, 1, 2, 3, 4, 5, 6, 6, 0])
    blend = torch.softmax(torch.randn(9, 7), dim=1)
    with torch.inference_mode():
        torch.testing.assert_close(folded(z, labels), net(z, labels), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(folded(z, blend), net(z, blend), atol=1e-5, rtol=1e-5)
        bf16 = inference_network(net, "bf16")(z, labels).float()
    assert (bf16 - net(z, labels)).abs().mean() < 0.02
