"""cgan.data: reading and checking IDX files, finding them on disk, downloading them from mirrors."""

import functools
import gzip
import hashlib
import json
import os
import shutil
import struct
import threading
import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch

from cgan import data
from cgan.errors import DataError

MNIST = data.get_spec("mnist")
FASHION = data.get_spec("fashion-mnist")


pytestmark = pytest.mark.usefixtures("isolated_data")


def idx_bytes(array: np.ndarray, dtype_code: int = 0x08) -> bytes:
    header = struct.pack(f">BBBB{array.ndim}I", 0, 0, dtype_code, array.ndim, *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    """Write `array` as IDX to `path` (a ".gz" name), gzipped or under the un-gzipped name."""
    raw = idx_bytes(array)
    if not gz:
        path = path.with_suffix("")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def fake_dataset(folder: Path, n: int = 5, gz: bool = True) -> Path:
    """A tiny, well-formed dataset (n examples per split) with all four MNIST file names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for images_name, labels_name in MNIST.files.values():
        write_idx(folder / images_name, rng.integers(0, 256, (n, 28, 28)), gz)
        write_idx(folder / labels_name, np.arange(n) % 10, gz)
    return folder


# --- real data --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, mean", [("mnist", 0.1307), ("fashion-mnist", 0.2860)])
def test_load_real_train(shared_data, name, mean):
    images, labels = data.load(name, "train", data_dir=shared_data / name)
    assert images.shape == (60000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,) and labels.dtype == torch.int64
    assert images.float().mean().item() / 255 == pytest.approx(mean, abs=1e-4)
    assert labels.min() >= 0 and labels.max() == 9


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_load_real_test_split_via_env_root(shared_data, monkeypatch, name):
    monkeypatch.setenv(data.ENV_DATA_DIR, str(shared_data))  # the root: files are in <root>/<name>/
    images, labels = data.load(name, "test")
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert torch.bincount(labels).sum() == 10000


def test_mnist_labels_are_the_official_ones(shared_data):
    _, labels = data.load("mnist", data_dir=shared_data)
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert torch.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_fashion_mnist_is_balanced(shared_data):
    _, labels = data.load("fashion_mnist", data_dir=shared_data)
    assert torch.bincount(labels).tolist() == [6000] * 10


def test_spec_checksums_match_real_files(shared_data):
    for spec in (MNIST, FASHION):
        for filename in spec.filenames:
            content = gzip.decompress((shared_data / spec.name / filename).read_bytes())
            assert hashlib.sha256(content).hexdigest() == spec.sha256[filename], filename


def test_uncompressed_files_load_the_same(shared_data, tmp_path):
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    for filename in MNIST.filenames:
        content = gzip.decompress((shared_data / "mnist" / filename).read_bytes())
        (raw_dir / filename.removesuffix(".gz")).write_bytes(content)
    raw_images, raw_labels = data.load("mnist", "test", data_dir=raw_dir)
    gz_images, gz_labels = data.load("mnist", "test", data_dir=shared_data / "mnist")
    assert torch.equal(raw_images, gz_images) and torch.equal(raw_labels, gz_labels)


def test_gzip_is_detected_by_content_not_name(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    gz_named_plain = tmp_path / "plain.gz"
    gz_named_plain.write_bytes(idx_bytes(array))
    plain_named_gz = tmp_path / "plain-idx3-ubyte"
    plain_named_gz.write_bytes(gzip.compress(idx_bytes(array)))
    for path in (gz_named_plain, plain_named_gz):
        result = data.read_idx(path)
        assert result.dtype == np.uint8 and np.array_equal(result, array)
        assert result.flags.writeable


# --- corrupt files ----------------------------------------------------------------------------


def test_bad_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(b"\x08\x03\x00\x00" + bytes(20))
    with pytest.raises(DataError, match="not an IDX file"):
        data.read_idx(path)


def test_unsupported_type_and_dims(tmp_path):
    path = tmp_path / "floats"
    path.write_bytes(idx_bytes(np.zeros(3), dtype_code=0x0D))
    with pytest.raises(DataError, match="0x0d is not supported"):
        data.read_idx(path)
    path.write_bytes(idx_bytes(np.zeros((2, 2))))
    with pytest.raises(DataError, match="2 dimensions"):
        data.read_idx(path)


@pytest.mark.parametrize("change, problem", [(-10, "truncated"), (+3, "has trailing bytes")])
def test_payload_size_must_match_dims(tmp_path, change, problem):
    content = idx_bytes(np.zeros((5, 28, 28)))
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(content[:change] if change < 0 else content + bytes(change))
    with pytest.raises(DataError) as error:
        data.read_idx(path)
    message = str(error.value)
    assert str(path) in message and problem in message
    assert "5x28x28 need 3920 data bytes" in message and f"found {3920 + change}" in message


def test_truncated_and_bad_crc_gzip(tmp_path):
    packed = gzip.compress(idx_bytes(np.zeros((5, 28, 28))))
    path = tmp_path / "images.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as error:
        data.read_idx(path)
    assert str(path) in str(error.value)

    bad_crc = bytearray(packed)
    bad_crc[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    path.write_bytes(bytes(bad_crc))
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        data.read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        data.read_idx(tmp_path / "nothing.gz")


def test_load_rejects_wrong_image_size(tmp_path):
    folder = fake_dataset(tmp_path / "d")
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((5, 32, 32)))
    with pytest.raises(DataError, match=r"shape \(5, 32, 32\), expected \(N, 28, 28\)"):
        data.load("mnist", "test", data_dir=folder)


def test_load_rejects_label_out_of_range(tmp_path):
    folder = fake_dataset(tmp_path / "d")
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 10, 2, 3]))
    with pytest.raises(DataError, match=r"label 10, but mnist has only 10 classes \(0-9\)"):
        data.load("mnist", "test", data_dir=folder)


def test_load_rejects_count_mismatch(tmp_path):
    folder = fake_dataset(tmp_path / "d")
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 3]))
    with pytest.raises(DataError, match="has 5 images but .* has 4 labels"):
        data.load("mnist", "test", data_dir=folder)


def test_load_rejects_unknown_split(tmp_path):
    with pytest.raises(DataError, match="unknown split 'valid'.*train, test"):
        data.load("mnist", "valid", data_dir=fake_dataset(tmp_path / "d"))


# --- finding the files ------------------------------------------------------------------------


def test_search_order(tmp_path, monkeypatch):
    explicit = fake_dataset(tmp_path / "explicit")
    env_root = tmp_path / "env"
    from_env = fake_dataset(env_root / "mnist")
    cached = fake_dataset(data.cache_dir("mnist"))
    system = fake_dataset(tmp_path / "usr-share-datasets" / "mnist")
    local = fake_dataset(tmp_path / "data" / "MNIST" / "raw")
    monkeypatch.setenv(data.ENV_DATA_DIR, str(env_root))

    assert data.find_data_dir("mnist", explicit) == explicit
    assert data.find_data_dir("mnist") == from_env
    monkeypatch.delenv(data.ENV_DATA_DIR)
    assert data.find_data_dir("mnist") == cached
    shutil.rmtree(cached)
    assert data.find_data_dir("mnist") == system
    shutil.rmtree(system)
    assert data.find_data_dir("mnist") == local


def test_explicit_dir_without_files_does_not_fall_through(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_DATA_DIR, str(fake_dataset(tmp_path / "env")))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=f"not found in {empty}"):
        data.find_data_dir("mnist", empty)


def test_torchvision_layout_with_both_encodings(tmp_path, shared_data):
    raw = tmp_path / "root" / "FashionMNIST" / "raw"
    fake_dataset(raw, gz=False)  # un-gzipped twins that would fail the checksum: the ".gz" files win
    for filename in FASHION.filenames:
        (raw / filename).symlink_to(shared_data / "fashion-mnist" / filename)
    assert data.find_data_dir("fashion-mnist", tmp_path / "root") == raw
    images, labels = data.load("fashion-mnist", "test", data_dir=tmp_path / "root")
    assert images.shape == (10000, 28, 28) and torch.bincount(labels).tolist() == [1000] * 10


# --- checksums of the files read --------------------------------------------------------------


def real_copy(folder: Path, shared_data: Path, name: str = "mnist") -> Path:
    """The real files of `name`: the train files linked, the test files copied un-gzipped (to change)."""
    folder.mkdir(parents=True)
    spec = data.get_spec(name)
    for filename in spec.files["train"]:
        (folder / filename).symlink_to(shared_data / name / filename)
    for filename in spec.files["test"]:
        content = gzip.decompress((shared_data / name / filename).read_bytes())
        (folder / filename.removesuffix(".gz")).write_bytes(content)
    return folder


def test_another_datasets_folder_is_refused_by_name(shared_data, capsys):
    from cgan.cli import main

    out = Path("run")
    argv = ["train", "--dataset", "mnist", "--data-dir", str(shared_data / "fashion-mnist"), "--out", str(out)]
    assert main([*argv, "--max-steps", "1", "--no-progress"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "train-images-idx3-ubyte.gz is not the mnist file" in error
    assert "it is fashion-mnist's" in error and "--dataset fashion-mnist" in error
    assert not out.exists()


def test_a_modified_file_is_named_with_what_to_do(shared_data, tmp_path):
    folder = real_copy(tmp_path / "d", shared_data)
    images = folder / "t10k-images-idx3-ubyte"
    content = bytearray(images.read_bytes())
    content[-1] ^= 0xFF  # one pixel: still a well-formed IDX file
    images.write_bytes(bytes(content))
    with pytest.raises(DataError) as error:
        data.load("mnist", "test", data_dir=folder)
    message = str(error.value)
    assert message.startswith(f"{images} is not the mnist file") and "cgan data download mnist" in message


def test_verified_files_are_remembered_by_size_and_time(shared_data, tmp_path):
    folder = real_copy(tmp_path / "d", shared_data)
    data.load("mnist", "test", data_dir=folder)
    memo = json.loads((tmp_path / "xdg-cache" / "cgan" / "verified.json").read_text())
    images = folder / "t10k-images-idx3-ubyte"
    assert memo[str(images)]["sha256"] == MNIST.sha256["t10k-images-idx3-ubyte.gz"]

    # The same size and time: taken as verified, not hashed again (what makes the second run fast) ...
    before = images.stat()
    content = bytearray(images.read_bytes())
    content[-1] ^= 0xFF
    images.write_bytes(bytes(content))
    os.utime(images, ns=(before.st_atime_ns, before.st_mtime_ns))
    data.load("mnist", "test", data_dir=folder)
    # ... while a file written since is checked again.
    os.utime(images, ns=(before.st_atime_ns, before.st_mtime_ns + 1))
    with pytest.raises(DataError, match="is not the mnist file"):
        data.load("mnist", "test", data_dir=folder)


def test_a_damaged_memo_only_costs_hashing_again(shared_data, tmp_path):
    memo = tmp_path / "xdg-cache" / "cgan" / "verified.json"
    memo.parent.mkdir(parents=True)
    memo.write_text("{not json")
    images, _ = data.load("mnist", "test", data_dir=shared_data / "mnist")
    assert len(images) == 10000
    assert str((shared_data / "mnist" / "t10k-images-idx3-ubyte.gz").resolve()) in memo.read_text()


def test_incomplete_folder_does_not_count(tmp_path):
    folder = fake_dataset(tmp_path / "d")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"missing t10k-labels-idx1-ubyte\.gz"):
        data.find_data_dir("mnist", folder)


def test_cache_dir_honours_xdg(tmp_path, monkeypatch):
    assert data.cache_dir("fashion_mnist") == tmp_path / "xdg-cache" / "cgan" / "fashion-mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.cache_dir("mnist") == tmp_path / "home" / ".cache" / "cgan" / "mnist"


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_nothing_found_lists_folders_and_remedies(tmp_path, monkeypatch, name):
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path / "env"))
    with pytest.raises(DataError) as error:
        data.find_data_dir(name)
    message = str(error.value)
    for folder in (
        tmp_path / "env",
        tmp_path / "env" / name,
        data.cache_dir(name),
        tmp_path / "usr-share-datasets" / name,
        tmp_path / "data" / name,
    ):
        assert f"  {folder} (" in message
    for remedy in (f"cgan data download {name}", "--data-dir DIR", "CGAN_DATA_DIR=DIR"):
        assert remedy in message
    assert ("apt-get install dataset-fashion-mnist" in message) == (name == "fashion-mnist")


# --- dataset specs ----------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["mnist", "MNIST", "fashion-mnist", "fashion_mnist", "FashionMNIST"])
def test_get_spec_aliases(alias):
    assert data.get_spec(alias).name == ("fashion-mnist" if "fashion" in alias.lower() else "mnist")


def test_get_spec_unknown():
    with pytest.raises(
        DataError, match="unknown dataset 'cifar100'; known datasets: mnist, fashion-mnist, cifar10"
    ):
        data.get_spec("cifar100")


def test_specs():
    assert set(data.DATASETS) == {"mnist", "fashion-mnist", "cifar10"}
    for spec in (MNIST, FASHION):
        assert spec.num_classes == 10 and spec.image_shape == (1, 28, 28)
        assert spec.counts == {"train": 60000, "test": 10000}
        assert len(spec.mirrors) >= 2 and set(spec.sha256) == set(spec.filenames)


@pytest.mark.parametrize(
    "label, index",
    [(3, 3), ("3", 3), (np.int64(9), 9), ("sneaker", 7), ("Ankle boot", 9), ("ankle_boot", 9),
     ("T-shirt/top", 0), ("t-shirt", 0), ("SHIRT", 6)],
)  # fmt: skip
def test_class_index(label, index):
    assert FASHION.class_index(label) == index


def test_class_index_mnist_digits():
    assert [MNIST.class_index(str(d)) for d in range(10)] == list(range(10))


@pytest.mark.parametrize("label", ["hat", 10, "-1", True])
def test_class_index_unknown(label):
    with pytest.raises(DataError) as error:
        FASHION.class_index(label)
    if not isinstance(label, bool):
        assert "t-shirt, trouser, pullover" in str(error.value) and "ankle-boot" in str(error.value)


# --- downloading ------------------------------------------------------------------------------


class _MirrorHandler(SimpleHTTPRequestHandler):
    """Serves files from the mirror root, plus two misbehaving paths:

    /cut/<file>   promises the whole good file but hangs up halfway through the body
    /slow/<file>  answers nothing for longer than the tests' timeout
    """

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path.startswith("/cut/"):
            body = (Path(self.directory) / "good" / self.path.removeprefix("/cut/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
        elif self.path.startswith("/slow/"):
            time.sleep(2)
        else:
            super().do_GET()

    def log_message(self, *args):
        pass


@dataclass
class Mirror:
    url: str  # http://127.0.0.1:PORT
    root: Path
    requests: list[str]

    def base(self, folder: str) -> str:
        return f"{self.url}/{folder}/"


@pytest.fixture(scope="module")
def mirror(shared_data, tmp_path_factory):
    """A real HTTP server on loopback with folders: good/ (the MNIST files), wrong/ (Fashion-MNIST
    under MNIST names), regz/ (MNIST re-gzipped at another level), trunc/ (each file cut in half)."""
    root = tmp_path_factory.mktemp("mirror")
    for folder in ("good", "wrong", "regz", "trunc"):
        (root / folder).mkdir()
    for filename in MNIST.filenames:
        packed = (shared_data / "mnist" / filename).read_bytes()
        (root / "good" / filename).write_bytes(packed)
        (root / "wrong" / filename).symlink_to(shared_data / "fashion-mnist" / filename)
        (root / "regz" / filename).write_bytes(gzip.compress(gzip.decompress(packed), compresslevel=1))
        (root / "trunc" / filename).write_bytes(packed[: len(packed) // 2])

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_MirrorHandler, directory=str(root)))
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Mirror(f"http://127.0.0.1:{server.server_address[1]}", root, server.requests)
    server.shutdown()
    server.server_close()


def assert_is_mnist(folder: Path, shared_data: Path):
    for filename in MNIST.filenames:
        content = gzip.decompress((folder / filename).read_bytes())
        assert hashlib.sha256(content).hexdigest() == MNIST.sha256[filename]
    images, labels = data.load("mnist", "test", data_dir=folder)
    expected_images, expected_labels = data.load("mnist", "test", data_dir=shared_data / "mnist")
    assert torch.equal(images, expected_images) and torch.equal(labels, expected_labels)
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]


def test_download_to_cache_then_found_and_not_fetched_again(mirror, shared_data):
    folder = data.download("mnist", mirrors=[mirror.base("good")])
    assert folder == data.cache_dir("mnist")
    assert data.find_data_dir("mnist") == folder
    assert_is_mnist(folder, shared_data)

    mirror.requests.clear()
    assert data.download("mnist", mirrors=[mirror.base("missing")]) == folder
    assert mirror.requests == []


def test_download_falls_back_past_404_refused_and_timeout(mirror, shared_data, tmp_path):
    dest = tmp_path / "dl"
    mirror.requests.clear()
    mirrors = [mirror.base("missing"), "http://127.0.0.1:1/", mirror.base("slow"), mirror.base("good")]
    assert data.download("mnist", dest, mirrors=mirrors, timeout=0.3) == dest
    assert_is_mnist(dest, shared_data)
    first = MNIST.filenames[0]
    assert mirror.requests[:3] == [f"/missing/{first}", f"/slow/{first}", f"/good/{first}"]


@pytest.mark.parametrize(
    "folder, reason", [("trunc", "corrupt or truncated gzip"), ("cut", "truncated download")]
)
def test_truncated_download_fails_and_leaves_nothing(mirror, tmp_path, folder, reason):
    dest = tmp_path / "dl"
    with pytest.raises(DataError) as error:
        data.download("mnist", dest, mirrors=[mirror.base(folder)])
    message = str(error.value)
    assert f"{mirror.base(folder)}{MNIST.filenames[0]}: " in message and reason in message
    assert os.listdir(dest) == []


def test_wrong_content_fails_checksum_then_next_mirror_wins(mirror, shared_data, tmp_path):
    with pytest.raises(DataError, match="sha256 mismatch"):
        data.download("mnist", tmp_path / "only-wrong", mirrors=[mirror.base("wrong")])
    assert os.listdir(tmp_path / "only-wrong") == []

    dest = data.download("mnist", tmp_path / "dl", mirrors=[mirror.base("wrong"), mirror.base("good")])
    assert_is_mnist(dest, shared_data)


def test_other_gzip_encoding_verifies(mirror, shared_data, tmp_path):
    dest = data.download("mnist", tmp_path / "dl", mirrors=[mirror.base("regz")])
    assert_is_mnist(dest, shared_data)
    for filename in MNIST.filenames:
        saved = (dest / filename).read_bytes()
        assert saved == (mirror.root / "regz" / filename).read_bytes()
        assert saved != (shared_data / "mnist" / filename).read_bytes()


def test_all_mirrors_failing_lists_each_reason(mirror, tmp_path):
    with pytest.raises(DataError) as error:
        data.download("mnist", tmp_path / "dl", mirrors=[mirror.base("missing"), "http://127.0.0.1:1/"])
    message = str(error.value)
    assert f"{mirror.base('missing')}{MNIST.filenames[0]}: HTTP 404" in message
    assert f"http://127.0.0.1:1/{MNIST.filenames[0]}: cannot connect" in message
