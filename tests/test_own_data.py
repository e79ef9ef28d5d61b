"""The user's own data: image folders, dataset.json, .npz files, the held-out test split, the decode cache,
every bad input as one clear DataError, and the Dataset object they resolve to. Every image is a real MNIST
digit, written by the tests in the format under test."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cgan import data
from cgan.cli import main
from cgan.data import folders
from cgan.errors import DataError

NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


pytestmark = pytest.mark.usefixtures("isolated_data")


@pytest.fixture(scope="module")
def digits(shared_data) -> tuple[np.ndarray, np.ndarray]:
    """The first 300 MNIST training digits (uint8 (300, 28, 28)) and their labels."""
    images, labels = data.load("mnist", "train", shared_data / "mnist")
    return images.numpy()[:300], labels.numpy()[:300]


def tint(images: np.ndarray) -> np.ndarray:
    """Colour versions of grayscale digits: a different function of the pixel in each channel."""
    return np.stack([images, images // 2, 255 - images], axis=-1)


def write_class_folders(root: Path, images, labels, suffix=".png", names=NAMES, **save) -> Path:
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:04d}{suffix}", **save)
    return root


def cache_files() -> list[Path]:
    return sorted((data.userdata.cache_root() / "folders").glob("*"))


# --- image folders ----------------------------------------------------------------------------


def test_png_folder_reads_back_exactly_with_a_held_out_split(digits, tmp_path):
    images, labels = digits
    dataset = data.resolve_dataset(write_class_folders(tmp_path / "digits", images, labels))
    assert dataset.kind == "folder" and dataset.name == "digits"
    assert dataset.classes == tuple(sorted(NAMES)) and dataset.image_shape == (1, 28, 28)
    train_images, train_labels = dataset.split("train")
    test_images, test_labels = dataset.split("test")
    assert train_images.dtype == np.uint8 and train_labels.dtype == np.int64
    assert len(train_images) + len(test_images) == 300

    # Every image comes back pixel for pixel, under its class name.
    original = {(NAMES[y], image.tobytes()) for image, y in zip(images, labels, strict=True)}
    both = [*zip(train_images, train_labels, strict=True), *zip(test_images, test_labels, strict=True)]
    assert {(dataset.classes[y], image.tobytes()) for image, y in both} == original

    # 10% of each class, rounded, at least 1, held out as "test".
    per_class = np.bincount(labels, minlength=10)
    by_name = dict(zip(NAMES, per_class, strict=True))
    expected = [max(1, round(data.TEST_FRACTION * by_name[name])) for name in dataset.classes]
    assert np.bincount(test_labels, minlength=10).tolist() == expected


def test_the_split_and_fingerprint_follow_the_content_not_the_place(digits, tmp_path):
    images, labels = digits
    first = data.resolve_dataset(write_class_folders(tmp_path / "a" / "digits", images, labels))
    copy = data.resolve_dataset(shutil.copytree(tmp_path / "a" / "digits", tmp_path / "b" / "digits"))
    assert first.fingerprint == copy.fingerprint and first != copy  # same content, another place
    assert np.array_equal(first.split("test")[1], copy.split("test")[1])
    assert np.array_equal(first.split("test")[0], copy.split("test")[0])
    assert first.evaluator_file == copy.evaluator_file
    assert (
        first.evaluator_file == data.userdata.cache_root() / "evaluators" / f"{first.fingerprint}.safetensors"
    )


@pytest.mark.parametrize(
    "suffix, save", [(".jpg", {"quality": 95}), (".webp", {"lossless": True}), (".bmp", {})]
)
def test_jpeg_webp_bmp(digits, tmp_path, suffix, save):
    images, labels = digits[0][:100], digits[1][:100]
    dataset = data.resolve_dataset(write_class_folders(tmp_path / "d", images, labels, suffix, **save))
    assert dataset.image_shape == (1, 28, 28)
    restored = np.concatenate([dataset.split("train")[0], dataset.split("test")[0]]).astype(int)
    assert restored.shape == (100, 28, 28)
    tolerance = 0 if suffix != ".jpg" else 40  # JPEG is lossy
    assert abs(np.sort(restored.sum(axis=(1, 2))) - np.sort(images.astype(int).sum(axis=(1, 2)))).max() <= (
        tolerance * 28
    )


def test_colour_is_detected_and_channels_can_be_forced(digits, tmp_path):
    images, labels = digits[0][:100], digits[1][:100]
    colour = write_class_folders(tmp_path / "colour", tint(images), labels)
    dataset = data.resolve_dataset(colour)
    assert dataset.image_shape == (3, 28, 28) and dataset.split("train")[0].shape[1:] == (28, 28, 3)
    everything = np.concatenate([dataset.split(s)[0] for s in ("train", "test")])
    assert {image.tobytes() for image in everything} == {image.tobytes() for image in tint(images)}

    gray = data.resolve_dataset(colour, channels=1)
    assert gray.image_shape == (1, 28, 28) and gray.split("train")[0].ndim == 3
    assert gray.fingerprint != dataset.fingerprint

    # RGB files whose pixels are gray count as grayscale; forced to 3 channels, they are repeated.
    stacked = write_class_folders(tmp_path / "stacked", np.repeat(images[..., None], 3, axis=-1), labels)
    assert data.resolve_dataset(stacked).image_shape == (1, 28, 28)
    three = data.resolve_dataset(stacked, channels=3).split("train")[0]
    assert three.shape[1:] == (28, 28, 3) and (three == three[..., :1]).all()


def test_mixed_sizes_and_modes_come_out_one_size(digits, tmp_path):
    images, labels = digits[0][:40], digits[1][:40]
    root = tmp_path / "mixed"
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        picture = Image.fromarray(image)
        variants = [
            picture,  # L, 28x28
            picture.resize((40, 30)).convert("RGB"),
            picture.resize((64, 64)).convert("P"),
            picture.convert("RGBA"),
            picture.convert("LA").resize((100, 50)),
            Image.fromarray(image.astype(np.uint16) * 257),  # 16-bit grayscale
            picture.convert("1"),
            Image.fromarray(tint(image)).resize((50, 70)),  # one colour picture makes it all colour
        ]
        variants[i % len(variants)].save(folder / f"{i}.png")
    dataset = data.resolve_dataset(root)
    assert dataset.image_shape == (3, data.DEFAULT_SIZE, data.DEFAULT_SIZE)  # sizes differ: the default size
    assert data.resolve_dataset(root, image_size=64, channels=1).image_shape == (1, 64, 64)

    # A 16-bit image keeps its content, scaled to 8 bits.
    only16 = tmp_path / "sixteen"
    for label in (0, 1):
        (only16 / str(label)).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(images[i].astype(np.uint16) * 257).save(only16 / str(label) / f"{i}.png")
    restored = np.concatenate([data.resolve_dataset(only16).split(s)[0] for s in ("train", "test")])
    assert sorted(x.tobytes() for x in restored) == sorted(images[i].tobytes() for i in (0, 0, 1, 1))


def test_resize_policy_keeps_the_centre_square(tmp_path):
    """A 96x32 picture of red | green | blue thirds becomes the green square, at any size."""
    picture = np.zeros((32, 96, 3), np.uint8)
    picture[:, :32, 0] = picture[:, 32:64, 1] = picture[:, 64:, 2] = 255
    for name in ("a", "b"):
        (tmp_path / "wide" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(picture).save(tmp_path / "wide" / name / f"{i}.png")
    for size in data.SIZES:
        images, _ = data.resolve_dataset(tmp_path / "wide", image_size=size).split("train")
        assert images.shape[1:] == (size, size, 3)
        assert (images[..., 1] == 255).all() and (images[..., [0, 2]] == 0).all()


def test_class_names_with_spaces_and_other_alphabets(digits, tmp_path):
    names = ("Crème brûlée", "ankle boot", "Ёлка", "猫", "T-shirt/top".replace("/", " or "))
    mask = digits[1] < len(names)
    images, labels = digits[0][mask][:60], digits[1][mask][:60]
    dataset = data.resolve_dataset(write_class_folders(tmp_path / "names", images, labels, names=names))
    assert dataset.classes == tuple(sorted(names))
    for name in names:
        assert dataset.classes[dataset.class_index(name)] == name
    assert dataset.classes[dataset.class_index("creme brulee")] == "Crème brûlée"
    assert dataset.classes[dataset.class_index("Ankle-Boot")] == "ankle boot"
    assert dataset.classes[dataset.class_index("ёлка")] == "Ёлка"
    assert dataset.class_index("2") == 2
    for bad in ("dog", "-1", "+2", "9", True):
        with pytest.raises(DataError):
            dataset.class_index(bad)
    with pytest.raises(
        DataError, match="unknown names class 'dog'; use an index 0-4 or one of: Crème brûlée"
    ):
        dataset.class_index("dog")


def test_a_class_named_like_a_number_is_that_class(digits, tmp_path):
    images, labels = digits[0][:60], digits[1][:60] % 3
    names = ("1", "10", "2")  # sorted as text: "2" is index 2, "10" is index 1
    dataset = data.resolve_dataset(write_class_folders(tmp_path / "n", images, labels, names=names))
    assert [dataset.class_index(name) for name in ("1", "10", "2")] == [0, 1, 2]
    assert dataset.class_index(1) == 1


def test_explicit_train_and_test_folders_are_used_as_they_are(digits, tmp_path):
    images, labels = digits
    write_class_folders(tmp_path / "split" / "train", images[:200], labels[:200])
    write_class_folders(tmp_path / "split" / "test", images[200:], labels[200:])
    dataset = data.resolve_dataset(tmp_path / "split")
    assert dataset.classes == tuple(sorted(NAMES))
    for split, part in (("train", slice(None, 200)), ("test", slice(200, None))):
        split_images, split_labels = dataset.split(split)
        assert len(split_images) == len(images[part])
        expected = sorted((NAMES[y], x.tobytes()) for x, y in zip(images[part], labels[part], strict=True))
        got = sorted(
            (dataset.classes[y], x.tobytes()) for x, y in zip(split_images, split_labels, strict=True)
        )
        assert got == expected

    (tmp_path / "split" / "test" / "eleven").mkdir()
    Image.fromarray(images[0]).save(tmp_path / "split" / "test" / "eleven" / "x.png")
    with pytest.raises(DataError, match="has class folders that train/ lacks: eleven"):
        data.resolve_dataset(tmp_path / "split")


# --- labels from dataset.json -----------------------------------------------------------------


def write_flat(root: Path, images, labels, class_names=None) -> Path:
    (root / "img").mkdir(parents=True)
    entries = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(image).save(root / "img" / f"{i:05d}.png")
        entries.append([f"img/{i:05d}.png", int(label)])
    document = {"labels": entries} | ({"class_names": class_names} if class_names else {})
    (root / "dataset.json").write_text(json.dumps(document))
    return root


def test_labels_from_dataset_json(digits, tmp_path):
    images, labels = digits
    named = data.resolve_dataset(write_flat(tmp_path / "named", images, labels, list(NAMES)))
    assert named.classes == NAMES
    numbered = data.resolve_dataset(write_flat(tmp_path / "numbered", images, labels))
    assert numbered.classes == tuple(str(d) for d in range(10))
    both = [numbered.split(s) for s in ("train", "test")]
    got = sorted((int(y), x.tobytes()) for xs, ys in both for x, y in zip(xs, ys, strict=True))
    assert got == sorted((int(y), x.tobytes()) for x, y in zip(images, labels, strict=True))


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: d["labels"].__setitem__(3, ["img/00003.png", 10]),
            "the label 10 of img/00003.png is not a class",
        ),
        (
            lambda d: d["labels"].__setitem__(3, ["img/00003.png", -1]),
            "the label -1 of img/00003.png is not a class",
        ),
        (
            lambda d: d["labels"].__setitem__(3, ["img/missing.png", 1]),
            "lists files that are not in .*img/missing.png",
        ),
        (
            lambda d: d["labels"].__setitem__(3, ["../outside.png", 1]),
            "'../outside.png' is not a path inside",
        ),
        (lambda d: d["labels"].__setitem__(3, ["img/00003.png"]), "labels entry 3 is"),
        (lambda d: d.__setitem__("labels", None), 'has no "labels" list'),
        (lambda d: d.__setitem__("class_names", ["a", "a"]), "distinct"),
        (lambda d: d["labels"].__setitem__(4, ["img/00003.png", 1]), "lists some files more than once .*img/00003.png"),
        (lambda d: d.__setitem__("class_names", ["a/b", *NAMES[1:]]), "'a/b' is a path"),
        (lambda d: d.__setitem__("class_names", ["..", *NAMES[1:]]), "'..' is a path"),
        (lambda d: d.__setitem__("class_names", ["a\nb", *NAMES[1:]]), "control characters"),
        (
            lambda d: (d.pop("class_names"), d["labels"].__setitem__(3, ["img/00003.png", 10**9])),
            "the labels go up to 1,000,000,000",
        ),
    ],
)
def test_bad_dataset_json(digits, tmp_path, change, message):
    root = write_flat(tmp_path / "flat", digits[0][:40], digits[1][:40], list(NAMES))
    document = json.loads((root / "dataset.json").read_text())
    change(document)
    (root / "dataset.json").write_text(json.dumps(document))
    with pytest.raises(DataError, match=message):
        data.resolve_dataset(root)
    assert cache_files() == []


# --- the cache --------------------------------------------------------------------------------


def test_second_start_reads_the_cache_and_a_changed_folder_is_decoded_again(digits, tmp_path, monkeypatch):
    images, labels = digits
    root = write_class_folders(tmp_path / "d", images, labels)
    first = data.resolve_dataset(root)
    [cache] = cache_files()
    assert first.cache_file == cache and cache.stat().st_size <= 1.2 * images.nbytes + 64 * 1024

    real_decode = folders.decode_all

    def must_not_decode(*args):
        raise AssertionError("decoded although the cache matches")

    monkeypatch.setattr(folders, "decode_all", must_not_decode)
    assert data.resolve_dataset(root) == first

    monkeypatch.setattr(folders, "decode_all", real_decode)
    Image.fromarray(images[0]).save(root / "three" / "extra.png")
    changed = data.resolve_dataset(root)
    assert changed.fingerprint != first.fingerprint
    assert sum(len(changed.split(s)[0]) for s in ("train", "test")) == 301
    assert cache_files() == [changed.cache_file]  # the stale cache is gone


def test_a_damaged_cache_is_rebuilt(digits, tmp_path):
    root = write_class_folders(tmp_path / "d", *[a[:50] for a in digits])
    first = data.resolve_dataset(root)
    first.cache_file.write_bytes(first.cache_file.read_bytes()[:1000])
    again = data.resolve_dataset(root)
    assert again == first and len(again.split("train")[0]) == len(first.split("train")[0])


def test_a_folder_changed_while_decoding_writes_no_cache(digits, tmp_path, monkeypatch):
    root = write_class_folders(tmp_path / "d", *[a[:50] for a in digits])
    real_decode = folders.decode_all

    def decode_then_change(folder, files, size, channels):
        images = real_decode(folder, files, size, channels)
        Image.fromarray(digits[0][0]).save(root / "one" / "late.png")  # another program adds a file
        return images

    monkeypatch.setattr(folders, "decode_all", decode_then_change)
    with pytest.raises(DataError, match="changed while it was being read; run again"):
        data.resolve_dataset(root)
    assert cache_files() == []


# --- bad folders ------------------------------------------------------------------------------


def only_a_train_folder(root):
    """The class folders moved into root/train/, with no test/ beside it."""
    classes = sorted(root.iterdir())
    (root / "train").mkdir()
    for folder in classes:
        folder.rename(root / "train" / folder.name)


def bomb_png() -> bytes:
    """A PNG header claiming 20000 x 20000 pixels: more than PIL will decode."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda r: shutil.rmtree(r / "two") or (r / "two").mkdir(), "two holds no images"),
        (
            lambda r: [shutil.rmtree(p) for p in r.iterdir() if p.name != "one"],
            "has 1 class; a conditional GAN",
        ),
        (lambda r: [shutil.rmtree(p) for p in r.iterdir()], "has no class folders"),
        (only_a_train_folder, r"holds train/ alone; give both train/ and test/"),  # not one class "train"
        (
            lambda r: (r / "one" / "notes.txt").write_text("hi"),
            r"not PNG, JPEG, WebP or BMP images: one/notes\.txt",
        ),
        (
            lambda r: (r / "one" / "fake.png").write_text("not a picture"),
            r"not readable images: one/fake\.png \(",
        ),
        (
            lambda r: (r / "two" / "cut.png").write_bytes((r / "one" / "0003.png").read_bytes()[:60]),
            r"two/cut\.png \(",
        ),
        (
            lambda r: (r / "two" / "bomb.png").write_bytes(bomb_png()),
            r"two/bomb\.png \(too many pixels .*bomb",
        ),
    ],
)
def test_bad_folders_are_one_clear_error_and_leave_no_cache(digits, tmp_path, spoil, message):
    root = write_class_folders(tmp_path / "d", *[a[:40] for a in digits])
    spoil(root)
    with pytest.raises(DataError, match=message) as error:
        data.resolve_dataset(root)
    assert "\n" not in str(error.value)
    assert cache_files() == []


def test_a_class_with_one_image_cannot_be_split(digits, tmp_path):
    root = write_class_folders(tmp_path / "d", *[a[:40] for a in digits])
    for extra in sorted((root / "four").iterdir())[1:]:
        extra.unlink()
    with pytest.raises(DataError, match="class 'four' has only one image; each class needs two or more"):
        data.resolve_dataset(root)


def test_hidden_and_desktop_files_are_left_out(digits, tmp_path):
    root = write_class_folders(tmp_path / "d", *[a[:40] for a in digits])
    (root / "one" / ".DS_Store").write_bytes(b"\0\1")
    (root / "one" / "Thumbs.db").write_bytes(b"\0\1")
    (root / ".git").mkdir()
    (root / "README.md").write_text("files beside the class folders are not images of a class")
    dataset = data.resolve_dataset(root)
    assert dataset.num_classes == 10 and sum(len(dataset.split(s)[1]) for s in ("train", "test")) == 40


def test_linked_folders_are_followed_once(digits, tmp_path):
    root = write_class_folders(tmp_path / "d", *[a[:40] for a in digits])
    elsewhere = write_class_folders(tmp_path / "elsewhere", digits[0][40:50], [0] * 10)
    (root / "extra").symlink_to(elsewhere / "zero", target_is_directory=True)  # a linked class folder
    (root / "one" / "loop").symlink_to(root / "one", target_is_directory=True)  # a link to itself
    dataset = data.resolve_dataset(root)
    assert "extra" in dataset.classes and sum(len(dataset.split(s)[1]) for s in ("train", "test")) == 50


def test_a_link_up_out_of_a_class_folder_is_refused(digits, tmp_path, capsys):
    """`one/up -> ..` would read the dataset folder, every other class's images included, as class one's."""
    root = write_class_folders(tmp_path / "d", *[a[:40] for a in digits])
    (root / "one" / "up").symlink_to("..", target_is_directory=True)
    assert main(["data", "info", str(root)]) == 2
    err = capsys.readouterr().err
    assert f"{root / 'one' / 'up'} links to {root}, a folder that holds its class folder" in err
    assert len(err.strip().splitlines()) == 1


# --- .npz -------------------------------------------------------------------------------------


def test_npz_one_set_with_class_names(digits, tmp_path):
    images, labels = digits
    np.savez(tmp_path / "digits.npz", images=images, labels=labels, class_names=np.array(NAMES))
    dataset = data.resolve_dataset(tmp_path / "digits.npz")
    assert (dataset.kind, dataset.name, dataset.classes, dataset.image_shape) == (
        "npz",
        "digits",
        NAMES,
        (1, 28, 28),
    )
    test_images, test_labels = dataset.split("test")
    assert len(test_images) + len(dataset.split("train")[0]) == 300
    assert np.bincount(test_labels).tolist() == [max(1, round(n / 10)) for n in np.bincount(labels)]
    assert data.resolve_dataset(str(tmp_path / "digits.npz")) == dataset
    assert data.resolve_dataset(tmp_path / "digits.npz", image_size=32, channels=3).split("train")[0].shape[
        1:
    ] == (
        32,
        32,
        3,
    )


def test_npz_keras_layout_and_colour(digits, tmp_path):
    images, labels = digits
    np.savez(tmp_path / "k.npz", x_train=tint(images[:200]), y_train=labels[:200], x_test=tint(images[200:]),
             y_test=labels[200:])  # fmt: skip
    dataset = data.resolve_dataset(tmp_path / "k.npz")
    assert dataset.classes == tuple(str(d) for d in range(10)) and dataset.image_shape == (3, 28, 28)
    assert np.array_equal(dataset.split("test")[0], tint(images[200:]))
    assert np.array_equal(dataset.split("train")[1], labels[:200])


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"images": "float", "labels": "ok"}, "holds float32 images .* expected uint8"),
        ({"images": "ok", "labels": "short"}, "expected 300 integers"),
        ({"images": "ok", "labels": "negative"}, "label -1 is not a class"),
        ({"images": "ok", "labels": "ok", "class_names": "objects"}, "does not unpickle"),
        (
            {"images": "ok", "labels": "ok", "class_names": "three"},
            "label 9 is not a class; the classes are 0-2",
        ),
        ({"pictures": "ok"}, "holds pictures; expected the arrays images and labels"),
        # Class names become file names (generate --out-dir, synth): none may be a path, or empty.
        ({"images": "ok", "labels": "ok", "class_names": "escaping"}, "'../../x' is a path"),
        ({"images": "ok", "labels": "ok", "class_names": "unnamed"}, "class names must be non-empty text"),
        # One stray label must not make a billion empty classes (nor a line naming them all).
        ({"images": "ok", "labels": "stray"}, r"labels go up to 1,000,000,000, but 999,999,990 .* \(the first: 10,"),
        ({"images": "none", "labels": "no_labels"}, "holds no images"),
        ({"images": "empty_pixels", "labels": "ok"}, "holds images of 0x0 pixels: there is nothing to learn"),
    ],
)
def test_bad_npz(digits, tmp_path, arrays, message):
    images, labels = digits
    values = {
        "ok": None,
        "float": images.astype(np.float32) / 255,
        "short": labels[:-1],
        "negative": np.where(np.arange(300) == 5, -1, labels),
        "objects": np.array(list(NAMES), dtype=object),
        "three": np.array(["a", "b", "c"]),
        "escaping": np.array(["../../x", *NAMES[1:]]),
        "unnamed": np.array(["", *NAMES[1:]]),
        "stray": np.where(np.arange(300) == 5, 10**9, labels),
        "none": np.zeros((0, 28, 28), np.uint8),
        "no_labels": np.zeros(0, np.int64),
        "empty_pixels": np.zeros((300, 0, 0), np.uint8),
    }
    defaults = {"images": images, "labels": labels, "pictures": images}
    np.savez(tmp_path / "bad.npz", **{k: defaults[k] if v == "ok" else values[v] for k, v in arrays.items()})
    with pytest.raises(DataError, match=message):
        data.resolve_dataset(tmp_path / "bad.npz")


def test_npz_missing_or_damaged(tmp_path):
    with pytest.raises(DataError, match=r"cannot read .*none\.npz \(No such file"):
        data.resolve_dataset(tmp_path / "none.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\3\4 not really a zip")
    with pytest.raises(DataError, match="is not a readable .npz file"):
        data.resolve_dataset(tmp_path / "broken.npz")
    (tmp_path / "text.npz").write_text("hello world, not arrays")  # np.load would take it for a pickle
    with pytest.raises(DataError, match="an .npz is a zip archive of arrays, and it is not one"):
        data.resolve_dataset(tmp_path / "text.npz")


# --- the Dataset object -----------------------------------------------------------------------


def test_builtins_resolve_as_before(shared_data, tmp_path):
    mnist = data.resolve_dataset("mnist", shared_data / "mnist")
    assert mnist == data.resolve_dataset("MNIST", shared_data / "mnist") and len({mnist, mnist}) == 1
    assert mnist != data.resolve_dataset("mnist")  # searched, not this folder
    assert mnist.evaluator_file.name == "mnist.safetensors" and mnist.evaluator_file.is_file()
    assert mnist.describe() == f"built-in dataset mnist in {shared_data / 'mnist'} (28x28, grayscale)"
    assert data.resolve_dataset("mnist", image_size=28, channels=1) == data.resolve_dataset("mnist")
    with pytest.raises(DataError, match="mnist is 28x28 with 1 channel"):
        data.resolve_dataset("mnist", image_size=32)
    cifar = data.resolve_dataset("CIFAR-10")
    assert cifar.name == "cifar10" and cifar.image_shape == (3, 32, 32) and cifar.classes[-1] == "truck"
    assert (
        cifar.evaluator_file == data.userdata.cache_root() / "evaluators" / f"{cifar.fingerprint}.safetensors"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"source": "imagenet"}, "no dataset 'imagenet': it is neither a built-in dataset"),
        ({"source": "mnist", "image_size": 48}, "image size 48 is not supported; use one of 28, 32, 64"),
        ({"source": "mnist", "channels": 2}, "channels must be 1"),
    ],
)
def test_resolve_mistakes(kwargs, message):
    with pytest.raises(DataError, match=message):
        data.resolve_dataset(**kwargs)


# --- cgan data info ---------------------------------------------------------------------------


def test_cli_info(digits, tmp_path, capsys):
    root = write_class_folders(tmp_path / "my photos", *digits)
    assert main(["data", "info", str(root), "--image-size", "32"]) == 0
    out = capsys.readouterr().out
    dataset = data.resolve_dataset(root, image_size=32)
    assert f"image folder {root.resolve()} (32x32, grayscale)" in out
    assert f"cache:       {dataset.cache_file}" in out and f"fingerprint: {dataset.fingerprint}" in out
    assert "image shape: 1 x 32 x 32" in out and "(not trained yet)" in out
    held_out = sum(max(1, round(n * data.TEST_FRACTION)) for n in np.bincount(digits[1]))
    assert f"images:      {300 - held_out} train, {held_out} test" in out
    assert "10 classes:" in out and "eight" in out

    assert main(["data", "info", str(tmp_path / "nothing")]) == 2
    assert "no dataset" in capsys.readouterr().err
