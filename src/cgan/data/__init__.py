"""Datasets: the built-in ones (specs), their files on disk (idx, files), their download, and the Dataset
object that the rest of cgan receives.

Everything a user can get wrong (missing folder, corrupt file, failed download) raises `DataError`
with a message that says what is wrong and how to fix it.
"""

from .dataset import Dataset, resolve_dataset
from .download import download
from .files import ENV_DATA_DIR, cache_dir, find_data_dir, load
from .idx import read_idx
from .specs import DATASETS, DatasetSpec, get_spec

__all__ = [
    "DATASETS",
    "ENV_DATA_DIR",
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
