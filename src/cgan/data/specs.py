"""The built-in datasets (MNIST, Fashion-MNIST, CIFAR-10): their classes, files, checksums and mirrors, and
the parsing of a class label given by index or by name."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral

from ..errors import DataError

SIGNED_NUMBER = re.compile(r"[+-]\s*\d+")


def _normalise(text: str) -> str:
    """Fold case, accents, punctuation and spaces, so "Ankle boot", "ankle_boot" and "ankle-boot" compare
    equal, and "Crème brûlée" matches "creme brulee" (letters of other scripts are kept)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c))


def class_index(
    dataset: str, classes: Sequence[str], label: str | int, aliases: Mapping[str, int] | None = None
) -> int:
    """Label index from an index (7 or "7") or a class name ("sneaker", "Ankle boot", "T-shirt/top").

    A class named exactly as written wins over an index, so folders named "1", "10", "2" keep their names.
    """
    count = len(classes)
    choices = f"use an index 0-{count - 1} or one of: {', '.join(classes)}"
    if isinstance(label, str) and label in classes:
        return classes.index(label)
    if isinstance(label, Integral) and not isinstance(label, bool):
        index = int(label)
    elif isinstance(label, str) and label.strip().isdigit():
        index = int(label.strip())
    elif isinstance(label, str) and SIGNED_NUMBER.fullmatch(label.strip()):
        # Normalising would drop the sign and read "-1" as class 1.
        raise DataError(f"{dataset} class {label!r} is not a class; {choices}")
    elif isinstance(label, str):
        key = _normalise(label)
        matches = {i for i, c in enumerate(classes) if _normalise(c) == key}
        if not matches and aliases and key in aliases:
            matches = {aliases[key]}
        if not matches:
            raise DataError(f"unknown {dataset} class {label!r}; {choices}")
        if len(matches) > 1:
            raise DataError(
                f"{dataset} class {label!r} is ambiguous; write it exactly as one of: {', '.join(classes)}"
            )
        return matches.pop()
    else:
        raise DataError(f"a class label must be an int or a string, not {type(label).__name__}")
    if not 0 <= index < count:
        raise DataError(
            f"{dataset} class index {index} is out of range; use 0-{count - 1} or one of: {', '.join(classes)}"
        )
    return index


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is called, what its files are, how to check them and where to download them."""

    name: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    # Per split; IDX: (images, labels); CIFAR binary: its batches.
    files: dict[str, tuple[str, ...]]
    # Of each file's decompressed content; empty where only the archive's checksum is published.
    sha256: dict[str, str]
    mirrors: tuple[str, ...]
    counts: dict[str, int]
    # Where under a root folder (--data-dir, $CGAN_DATA_DIR, ./data) the files may be, besides the root itself.
    subfolders: tuple[str, ...]
    # How the files are read: "idx" or "cifar-binary" (files.READERS).
    format: str = "idx"
    # Needed besides the splits' files (CIFAR's batches.meta.txt).
    extra_files: tuple[str, ...] = ()
    # Downloaded as one archive (name, md5 as published) instead of file by file.
    archive: str | None = None
    archive_md5: str | None = None
    # Debian/Ubuntu package that installs the files under /usr/share/datasets/<name>.
    apt_package: str | None = None
    # Other accepted spellings of class names (normalised with `_normalise`) -> label.
    aliases: dict[str, int] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def filenames(self) -> tuple[str, ...]:
        """All files of all splits, in download order, then the extra ones."""
        return tuple(f for split in self.files for f in self.files[split]) + self.extra_files

    def class_index(self, label: str | int) -> int:
        return class_index(self.name, self.classes, label, self.aliases)


_IDX_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_COUNTS = {"train": 60000, "test": 10000}

# SHA-256 of the decompressed IDX files. Mirrors gzip the same bytes differently, so only the
# decompressed content is a stable identity.
DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        classes=tuple(str(d) for d in range(10)),
        image_shape=(1, 28, 28),
        files=_IDX_FILES,
        sha256={
            "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        counts=_COUNTS,
        subfolders=("mnist", "MNIST/raw"),  # the second as torchvision leaves it
    ),
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        classes=(
            "t-shirt",
            "trouser",
            "pullover",
            "dress",
            "coat",
            "sandal",
            "shirt",
            "sneaker",
            "bag",
            "ankle-boot",
        ),
        image_shape=(1, 28, 28),
        files=_IDX_FILES,
        sha256={
            "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        counts=_COUNTS,
        subfolders=("fashion-mnist", "FashionMNIST/raw"),
        apt_package="dataset-fashion-mnist",
        # The official Fashion-MNIST label names.
        aliases={"tshirttop": 0, "top": 0, "sneakers": 7, "boot": 9},
    ),
    # The binary version (one label byte, then 1024 red, 1024 green, 1024 blue bytes per image); never the
    # pickled "python version".
    "cifar10": DatasetSpec(
        name="cifar10",
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        image_shape=(3, 32, 32),
        files={
            "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
            "test": ("test_batch.bin",),
        },
        sha256={},
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        counts={"train": 50000, "test": 10000},
        subfolders=("cifar10", "cifar-10-batches-bin"),  # the second as the archive unpacks
        format="cifar-binary",
        extra_files=("batches.meta.txt",),
        archive="cifar-10-binary.tar.gz",
        archive_md5="c32a1d4ab5d03f1284b67883e8d87530",
    ),
}


def get_spec(name: str) -> DatasetSpec:
    """The spec for "mnist", "fashion-mnist" or "cifar10" (also "fashion_mnist", "FashionMNIST", "CIFAR-10", ...)."""
    by_key = {_normalise(n): spec for n, spec in DATASETS.items()}
    spec = by_key.get(_normalise(name)) if isinstance(name, str) else None
    if spec is None:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return spec
