import pytest
import torch

from cgan.errors import CganError
from cgan.training.augment import (
    DEFAULT_POLICY,
    augment,
    brightness,
    contrast,
    cutout,
    parse_policy,
    translation,
)

CENTRE = 14  # on 28x28 with ratio 0.125 the shift is at most 4 pixels: a centre pixel never leaves


def rng(seed=0):
    return torch.Generator().manual_seed(seed)


def noise(*shape, seed=0):
    """Seeded uniform images in [-1, 1]."""
    return torch.rand(*shape, generator=rng(seed)) * 2 - 1


def probes(batch=32, channels=1):
    """Background -1 with one bright pixel at the centre of each image."""
    images = torch.full((batch, channels, 28, 28), -1.0)
    images[:, :, CENTRE, CENTRE] = 1.0
    return images


def shifts_of(translated):
    """Where each probe's bright pixel went: (dy, dx) per image."""
    flat = translated[:, 0].flatten(1).argmax(1)
    return [(int(i) // 28 - CENTRE, int(i) % 28 - CENTRE) for i in flat]


def shifted(image, dy, dx):
    """The image moved by (dy, dx) whole pixels, uncovered pixels set to the background -1."""
    out = torch.full_like(image, -1.0)
    height, width = image.shape[-2:]
    src_rows, dst_rows = slice(max(0, -dy), height - max(0, dy)), slice(max(0, dy), height - max(0, -dy))
    src_cols, dst_cols = slice(max(0, -dx), width - max(0, dx)), slice(max(0, dx), width - max(0, -dx))
    out[..., dst_rows, dst_cols] = image[..., src_rows, src_cols]
    return out


# --- translation ---------------------------------------------------------------------------------------


def test_translation_moves_a_pixel_by_whole_pixels_and_fills_with_background():
    out = translation(probes(), rng())
    assert out.shape == (32, 1, 28, 28)
    for image in out:
        assert (image == 1.0).sum() == 1, "exactly one bright pixel: moved, not blurred or lost"
        assert (image == -1.0).sum() == 28 * 28 - 1, "everything else is background"
    assert all(abs(dy) <= 4 and abs(dx) <= 4 for dy, dx in shifts_of(out))


def test_translation_shift_varies_across_the_batch():
    moves = shifts_of(translation(probes(), rng()))
    assert len(set(moves)) > 1
    assert len({dy for dy, _ in moves}) > 1 and len({dx for _, dx in moves}) > 1


def test_translation_is_deterministic_for_a_seed():
    images = noise(8, 1, 28, 28)
    assert torch.equal(translation(images, rng(5)), translation(images, rng(5)))
    assert not torch.equal(translation(images, rng(5)), translation(images, rng(6)))


def test_translation_moves_every_channel_of_the_whole_image_alike():
    # The shifts depend on the seed and batch size only, so probes with the same seed reveal them.
    images = noise(8, 3, 28, 28)
    out = translation(images, rng(1))
    assert out.shape == images.shape
    for image, result, (dy, dx) in zip(images, out, shifts_of(translation(probes(8), rng(1))), strict=True):
        assert torch.equal(result, shifted(image, dy, dx))


def test_translation_passes_gradients_to_the_kept_pixels():
    images = (noise(6, 1, 28, 28)).requires_grad_(True)
    translation(images, rng(2)).sum().backward()
    for grad, (dy, dx) in zip(images.grad, shifts_of(translation(probes(6), rng(2))), strict=True):
        # each kept input pixel lands once in the output: gradient 1; pixels shifted out: 0
        assert set(grad.unique().tolist()) <= {0.0, 1.0}
        assert grad.sum() == (28 - abs(dy)) * (28 - abs(dx))
        assert torch.equal(grad, (shifted(torch.ones(1, 28, 28), -dy, -dx) == 1).float())


# --- cutout --------------------------------------------------------------------------------------------


def test_cutout_zeroes_one_square_clipped_at_the_edges_and_keeps_the_rest():
    images = noise(64, 1, 28, 28) * 0.25 + 0.75  # in [0.5, 1]: no pixel is 0 before cutout
    out = cutout(images, rng(3))
    assert out.shape == images.shape
    sides = []
    for image, result in zip(images, out, strict=True):
        blank = result[0] == 0
        rows, cols = blank.any(1).nonzero().flatten(), blank.any(0).nonzero().flatten()
        # one solid rectangle of contiguous rows and columns
        assert torch.equal(rows, torch.arange(rows[0], rows[-1] + 1))
        assert torch.equal(cols, torch.arange(cols[0], cols[-1] + 1))
        assert blank.sum() == len(rows) * len(cols)
        # of side 14 = 0.5 * 28, shorter only where the square reaches past an edge
        for kept, last in ((rows, 27), (cols, 27)):
            side = len(kept)
            assert 7 <= side <= 14
            if side < 14:
                assert kept[0] == 0 or kept[-1] == last
            sides.append(side)
        assert torch.equal(result[0][~blank], image[0][~blank]), "pixels outside the square are unchanged"
    assert 14 in sides and min(sides) < 14, "the sample shows both whole and clipped squares"


def test_cutout_blanks_the_same_square_in_every_channel():
    out = cutout(torch.ones(4, 3, 28, 28), rng(4))
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])


# --- brightness and contrast ---------------------------------------------------------------------------


def test_brightness_adds_one_offset_per_image():
    images = noise(16, 1, 28, 28)
    offsets = (brightness(images, rng(5)) - images).flatten(1)
    assert torch.allclose(offsets, offsets[:, :1].expand_as(offsets), atol=1e-6), "constant within an image"
    per_image = offsets[:, 0]
    assert (per_image >= -0.5).all() and (per_image < 0.5).all()
    assert per_image.std() > 0.05, "and different across images"


def test_contrast_scales_each_image_about_its_mean():
    images = noise(16, 1, 28, 28)
    out = contrast(images, rng(6))
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(out.mean(dim=(1, 2, 3), keepdim=True), mean, atol=1e-6), "the mean is kept"
    deviation = images - mean
    # the least-squares factor per image, then check it explains every pixel
    per_image = (out - mean).mul(deviation).sum(dim=(1, 2, 3)) / deviation.pow(2).sum(dim=(1, 2, 3))
    assert torch.allclose(out, deviation * per_image.view(-1, 1, 1, 1) + mean, atol=1e-5), (
        "one factor per image"
    )
    assert (per_image >= 0.5 - 1e-5).all() and (per_image < 1.5 + 1e-5).all()
    assert per_image.std() > 0.05, "and different across images"


# --- policies ------------------------------------------------------------------------------------------


def test_parse_policy_accepts_known_names_in_order():
    assert parse_policy("translation,cutout") == ("translation", "cutout")
    assert parse_policy(" cutout , brightness,contrast ") == ("cutout", "brightness", "contrast")
    assert parse_policy(DEFAULT_POLICY) == ("translation", "cutout")


@pytest.mark.parametrize("policy", ["rotate", "", " , ", "translation,rotate"])
def test_parse_policy_refuses_unknown_or_empty_policies(policy):
    with pytest.raises(CganError, match="translation, cutout, brightness, contrast"):
        parse_policy(policy)


def test_augment_applies_the_policy_in_order():
    images = noise(8, 1, 28, 28)
    by_hand = rng(7)
    expected = cutout(translation(images, by_hand), by_hand)
    assert torch.equal(augment(images, ("translation", "cutout"), rng(7)), expected)
    # the other order gives another result: cutout's blank square would then be moved and -1 filled
    assert not torch.equal(augment(images, ("cutout", "translation"), rng(7)), expected)


def test_augment_with_the_default_policy_keeps_shape_and_gradients():
    images = (noise(4, 1, 28, 28)).requires_grad_(True)
    out = augment(images, parse_policy(DEFAULT_POLICY), rng(8))
    assert out.shape == images.shape
    out.sum().backward()
    assert images.grad is not None and images.grad.sum() > 0
