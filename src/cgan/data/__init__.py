"""Datasets: the built-in ones (specs; IDX and CIFAR-10 binary files, found and downloaded), the user's own
(image folders, .npz files), and the Dataset object that the rest of cgan receives.

Everything a user can get wrong (missing folder, corrupt file, failed download, bad labels) raises
`DataError` with a message that says what is wrong and how to fix it.
"""

from .dataset import SOURCES, Dataset, resolve_dataset
from .download import download
from .files import ENV_DATA_DIR, cache_dir, find_data_dir, load
from .idx import read_idx
from .specs import DATASETS, DatasetSpec, get_spec
from .userdata import DEFAULT_SIZE, SIZES, TEST_FRACTION

__all__ = [
    "DATASETS",
    "DEFAULT_SIZE",
    "ENV_DATA_DIR",
    "SIZES",
    "SOURCES",
    "TEST_FRACTION",
    "Dataset",
    "DatasetSpec",
    "cache_dir",
    "download",
    "find_data_dir",
    "get_spec",
    "load",
    "read_idx",
    "resolve_dataset",
]
