"""CIFAR-10 from its binary distribution: the batches read as colour images, found like MNIST, downloaded as
the archive (verified, unpacked safely, atomically into the cache) from a real HTTP server on loopback that
serves small CIFAR-style archives the tests make from real MNIST digits."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
import shutil
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from cgan import data
from cgan.cli import main
from cgan.errors import DataError

CIFAR = data.get_spec("cifar10")


pytestmark = pytest.mark.usefixtures("isolated_data")


def cifar_batch(images: np.ndarray, labels: np.ndarray) -> bytes:
    """CIFAR-10 binary records: the label byte, then the red, green and blue planes."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1).tobytes()


@pytest.fixture(scope="module")
def cifar_like(shared_data) -> tuple[np.ndarray, np.ndarray]:
    """60 MNIST digits, padded to 32x32 and coloured (a different function of the pixel in each channel),
    with their labels: 50 to train (5 batches of 10), 10 to test."""
    images, labels = data.load("mnist", "test", shared_data / "mnist")
    padded = np.pad(images.numpy()[:60], ((0, 0), (2, 2), (2, 2)))
    return np.stack([padded, padded // 2, 255 - padded], axis=-1), labels.numpy()[:60]


def write_cifar(folder: Path, cifar_like, meta: str | None = None) -> Path:
    images, labels = cifar_like
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(5):
        (folder / f"data_batch_{i + 1}.bin").write_bytes(
            cifar_batch(images[10 * i : 10 * i + 10], labels[10 * i : 10 * i + 10])
        )
    (folder / "test_batch.bin").write_bytes(cifar_batch(images[50:], labels[50:]))
    (folder / "batches.meta.txt").write_text(meta if meta is not None else "\n".join(CIFAR.classes) + "\n\n")
    return folder


def test_cifar_binary_batches_read_as_colour(cifar_like, tmp_path):
    images, labels = cifar_like
    dataset = data.resolve_dataset("cifar10", write_cifar(tmp_path / "c", cifar_like))
    train_images, train_labels = dataset.split("train")
    assert train_images.shape == (50, 32, 32, 3) and train_images.flags.c_contiguous
    assert np.array_equal(train_images, images[:50]) and np.array_equal(train_labels, labels[:50])
    assert np.array_equal(dataset.split("test")[0], images[50:])


def test_cifar_is_found_like_mnist(cifar_like, tmp_path, monkeypatch, capsys):
    local = write_cifar(tmp_path / "data" / "cifar-10-batches-bin", cifar_like)  # as the archive unpacks
    assert data.find_data_dir("cifar10") == local
    system = write_cifar(tmp_path / "usr-share-datasets" / "cifar10", cifar_like)
    assert data.find_data_dir("cifar10") == system
    cached = write_cifar(data.cache_dir("cifar10"), cifar_like)
    assert data.find_data_dir("cifar10") == cached
    env = write_cifar(tmp_path / "env" / "cifar-10-batches-bin", cifar_like)
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path / "env"))
    assert main(["data", "where", "cifar-10"]) == 0 and capsys.readouterr().out.strip() == str(env)

    (env / "test_batch.bin").unlink()
    monkeypatch.setenv(data.ENV_DATA_DIR, str(tmp_path / "nowhere"))
    shutil.rmtree(cached), shutil.rmtree(system), shutil.rmtree(local)
    assert main(["data", "where", "cifar10"]) == 2
    err = capsys.readouterr().err
    assert "cifar10 data not found anywhere" in err and "cgan data download cifar10" in err


@pytest.mark.parametrize(
    "spoil, message",
    [
        (
            lambda f: (f / "data_batch_3.bin").write_bytes(b"\0" * 3000),
            "not a whole number of 3073-byte records",
        ),
        (
            lambda f: (f / "test_batch.bin").write_bytes(b"\x0c" + bytes(3072)),
            "label 12, .* is it a CIFAR-100 file",
        ),
        (
            lambda f: (f / "batches.meta.txt").write_text("apple\npear\n"),
            "names the classes apple, pear; expected",
        ),
    ],
)
def test_bad_cifar_files(cifar_like, tmp_path, spoil, message):
    folder = write_cifar(tmp_path / "c", cifar_like)
    spoil(folder)
    with pytest.raises(DataError, match=message):
        for split in ("train", "test"):
            data.load("cifar10", split, folder)


# --- downloading CIFAR-10 ---------------------------------------------------------------------


def tar_gz(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cifar_mirror(cifar_like, tmp_path_factory):
    """A real HTTP server on loopback serving CIFAR-style archives: good/, evil/ (a member that climbs out
    and a batch that is a symbolic link), short/ (a batch missing), cut/ (the archive cut in half)."""
    root = tmp_path_factory.mktemp("cifar-mirror")
    write_cifar(root / "files", cifar_like)
    good = {f"cifar-10-batches-bin/{name}": (root / "files" / name).read_bytes() for name in CIFAR.filenames}
    good["cifar-10-batches-bin/readme.html"] = b"<p>CIFAR-10</p>"
    evil = dict(good) | {"cifar-10-batches-bin/../../escaped.bin": b"x"}
    evil.pop("cifar-10-batches-bin/data_batch_2.bin")
    archives = {
        "good": tar_gz(good),
        "evil": tar_gz(evil, {"cifar-10-batches-bin/data_batch_2.bin": "/etc/passwd"}),
        "short": tar_gz({k: v for k, v in good.items() if not k.endswith("test_batch.bin")}),
    }
    archives["cut"] = archives["good"][: len(archives["good"]) // 2]
    for folder, content in archives.items():
        (root / folder).mkdir()
        (root / folder / CIFAR.archive).write_bytes(content)

    class Quiet(SimpleHTTPRequestHandler):
        def do_GET(self):
            self.server.requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    md5 = {name: hashlib.md5(content).hexdigest() for name, content in archives.items()}
    yield f"http://127.0.0.1:{server.server_address[1]}", md5, server.requests
    server.shutdown()
    server.server_close()


def served(monkeypatch, cifar_mirror, folder: str, md5_of: str | None = None) -> str:
    """Points the cifar10 spec at `folder` of the test server, with that archive's md5 as the published one."""
    url, md5, _ = cifar_mirror
    spec = dataclasses.replace(CIFAR, mirrors=(f"{url}/{folder}/",), archive_md5=md5[md5_of or folder])
    monkeypatch.setitem(data.specs.DATASETS, "cifar10", spec)
    return f"{url}/{folder}/{CIFAR.archive}"


def test_cifar_download_into_the_cache_then_found_and_not_fetched_again(
    cifar_mirror, cifar_like, monkeypatch, capsys
):
    served(monkeypatch, cifar_mirror, "good")
    assert main(["data", "download", "cifar10"]) == 0
    folder = data.cache_dir("cifar10")
    assert f"cifar10 is ready in {folder}" in capsys.readouterr().out
    assert sorted(os.listdir(folder)) == sorted(CIFAR.filenames)  # no readme, no temporary files
    images, labels = data.resolve_dataset("cifar10").split("train")
    assert np.array_equal(images, cifar_like[0][:50]) and np.array_equal(labels, cifar_like[1][:50])

    requests = cifar_mirror[2]
    requests.clear()
    assert data.download("cifar10") == folder and requests == []


@pytest.mark.parametrize(
    "folder, md5_of, reason",
    [
        ("good", None, None),  # checked against the official md5 below
        ("cut", "cut", "not a readable .tar.gz"),
        ("short", "short", r"lacks cifar-10-batches-bin/test_batch\.bin"),
        ("evil", "evil", r"data_batch_2\.bin is not a regular file"),
    ],
)
def test_cifar_download_rejects_bad_archives_and_leaves_nothing(
    cifar_mirror, monkeypatch, tmp_path, folder, md5_of, reason
):
    url = served(monkeypatch, cifar_mirror, folder, md5_of)
    if reason is None:  # the test archive is not the real one: the published md5 refuses it
        monkeypatch.setitem(
            data.specs.DATASETS,
            "cifar10",
            dataclasses.replace(data.get_spec("cifar10"), archive_md5=CIFAR.archive_md5),
        )
        reason = f"md5 mismatch: got {cifar_mirror[1]['good']}, expected {CIFAR.archive_md5}"
    dest = tmp_path / "dl"
    with pytest.raises(DataError, match=reason) as error:
        data.download("cifar10", dest)
    assert f"{url}: " in str(error.value)
    assert os.listdir(dest) == []
    assert not (tmp_path / "escaped.bin").exists() and not list(tmp_path.rglob("escaped.bin"))
