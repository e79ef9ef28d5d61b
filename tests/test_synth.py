"""cgan synth: synthetic labelled datasets in the formats other tools read, deterministic, streamed."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image

import cgan
from cgan.cli import main
from cgan.data import read_idx
from cgan.errors import CganError
from cgan.evaluation import read_npz, read_png_folder
from cgan.generation import TrainedGenerator
from cgan.models import ArchConfig, build_generator
from cgan.synth import class_counts, synthesize


@pytest.fixture(scope="module")
def mnist():
    return cgan.load_generator("mnist")


def test_folder_is_one_subfolder_per_class_with_a_manifest(tmp_path, capsys):
    out = tmp_path / "synthetic"
    assert main(["synth", "--dataset", "fashion-mnist", "--per-class", "3", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(cgan.load_generator("fashion-mnist").classes)
    assert len(list((out / "ankle-boot").glob("*.png"))) == 3
    with Image.open(next((out / "sneaker").glob("*.png"))) as picture:
        assert picture.size == (28, 28) and picture.mode == "L"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == [3] * 10 and manifest["seed"] == 0 and manifest["format"] == "folder"
    assert "cgan synth --dataset fashion-mnist" in manifest["command"]
    images, labels = read_png_folder(out, "fashion-mnist")  # cgan's own reader agrees on every label
    assert images.shape == (30, 28, 28) and np.bincount(labels).tolist() == [3] * 10


def test_npz_holds_the_proportions_asked_for(mnist, tmp_path):
    counts = class_counts(10, None, 1001, [1, 1, 1, 1, 1, 1, 1, 1, 1, 7])
    assert sum(counts) == 1001 and counts[9] == max(counts)
    synthesize(mnist, tmp_path / "x.npz", counts, seed=3, fmt="npz")
    images, labels = read_npz(tmp_path / "x.npz")
    assert images.shape == (1001, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == counts
    with np.load(tmp_path / "x.npz", allow_pickle=False) as archive:
        assert archive["class_names"].tolist() == list(mnist.classes)
    assert json.loads((tmp_path / "x.npz.manifest.json").read_text())["counts"] == counts


def test_an_out_ending_in_npz_writes_an_npz_without_format(tmp_path, capsys):
    out = tmp_path / "few.npz"
    assert main(["synth", "--dataset", "mnist", "--per-class", "2", "--out", str(out)]) == 0
    assert "(npz, seed 0)" in capsys.readouterr().out
    images, labels = read_npz(out)
    assert images.shape == (20, 28, 28) and np.bincount(labels).tolist() == [2] * 10
    # The same in Python: the format follows the name unless given.
    result = synthesize(cgan.load_generator("mnist"), tmp_path / "api.npz", [1] * 10, seed=4)
    assert result.manifest["format"] == "npz" and read_npz(result.path)[0].shape == (10, 28, 28)


def test_a_seed_out_of_range_is_one_line_and_writes_nothing(mnist, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_code:  # argparse's own exit, as for every option it parses
        main(["synth", "--dataset", "mnist", "--per-class", "1", "--seed", "-1", "--out", str(tmp_path / "a")])
    assert exit_code.value.code == 2
    assert "argument --seed: must lie in 0 to 2**63 - 1, got -1" in capsys.readouterr().err
    for seed in (-1, 2**63):
        with pytest.raises(CganError, match=r"seed must be an integer from 0 to 2\*\*63 - 1"):
            synthesize(mnist, tmp_path / "b", [1] * 10, seed=seed)
    assert list(tmp_path.iterdir()) == []


def test_idx_is_what_mnist_readers_expect(mnist, tmp_path):
    synthesize(mnist, tmp_path / "idx", [2] * 10, seed=0, fmt="idx")
    images = read_idx(tmp_path / "idx" / "train-images-idx3-ubyte")
    labels = read_idx(tmp_path / "idx" / "train-labels-idx1-ubyte")
    assert images.shape == (20, 28, 28) and labels.tolist() == np.repeat(np.arange(10), 2).tolist()


def test_same_seed_same_dataset_other_seed_other(mnist, tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        synthesize(mnist, tmp_path / f"{name}.npz", [150] * 10, seed=seed, fmt="npz")
    a, b, c = (read_npz(tmp_path / f"{name}.npz")[0] for name in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_memory_does_not_grow_with_the_count(mnist, tmp_path):
    tracemalloc.start()
    synthesize(mnist, tmp_path / "big.npz", [2000] * 10, seed=0, fmt="npz")  # 15.7 MB of pixels
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 8e6, f"peak {peak / 1e6:.1f} MB"


def test_an_interrupted_synth_leaves_nothing(mnist, tmp_path):
    class Failing(torch.nn.Module):  # the bundled network, failing at its third chunk
        def __init__(self):
            super().__init__()
            self.net, self.calls = mnist.net, 0

        def forward(self, z, labels):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return self.net(z, labels)

    failing = TrainedGenerator(Failing(), mnist.arch, mnist.classes, "failing", mnist.meta)
    for fmt, name in (("folder", "f"), ("npz", "n.npz"), ("idx", "i")):
        with pytest.raises(KeyboardInterrupt):
            synthesize(failing, tmp_path / name, [300] * 10, fmt=fmt)
        failing.net.calls = 0
    assert list(tmp_path.iterdir()) == []


def test_mistakes_are_one_line(mnist, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("mine")
    assert main(["synth", "--dataset", "mnist", "--per-class", "2", "--out", str(tmp_path / "taken")]) == 2
    assert "already exists" in capsys.readouterr().err
    # The format and the name must agree, or `cgan evaluate` would take an .npz named .png for a picture.
    for fmt, name in (("npz", "c.png"), ("folder", "d.npz"), ("idx", "e.npz")):
        assert main(["synth", "--dataset", "mnist", "--per-class", "2", "--format", fmt, "--out", str(tmp_path / name)]) == 2
        assert f"--format {fmt} writes" in capsys.readouterr().err and not (tmp_path / name).exists()
    colour = ArchConfig(image_shape=(3, 32, 32), latent_dim=8, g_width=4)
    rgb = TrainedGenerator(build_generator(colour), colour, mnist.classes, "rgb", {"dataset": "x"})
    with pytest.raises(CganError, match="IDX format holds grayscale"):
        synthesize(rgb, tmp_path / "rgb", [1] * 10, fmt="idx")
    with pytest.raises(CganError, match="--proportions needs 10"):
        class_counts(10, None, 100, [1, 2])
    # Weights are relative: huge ones split the count as small ones do (their sum once overflowed to inf).
    assert class_counts(3, None, 4, [1e308, 1e308, 0]) == class_counts(3, None, 4, [1, 1, 0]) == [2, 2, 0]
    assert not (tmp_path / "rgb").exists()
    # Fewer images than classes, split evenly, would leave classes empty.
    assert main(["synth", "--dataset", "mnist", "--count", "5", "--out", str(tmp_path / "few")]) == 2
    assert "--count 5 would leave 5 of the 10 classes without images" in capsys.readouterr().err
    assert not (tmp_path / "few").exists()


def test_a_class_given_no_images_gets_no_folder(tmp_path, capsys):
    """Weight 0 leaves a class out: an empty class folder would be refused by cgan's own reader (and by
    torchvision's ImageFolder), so the folder holds only the classes that have images, and reads back."""
    out = tmp_path / "no-nines"
    assert main(["synth", "--dataset", "mnist", "--count", "18", "--proportions", "1,1,1,1,1,1,1,1,1,0", "--out", str(out)]) == 0
    assert f"wrote {out}: 18 images of 9 classes" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [str(i) for i in range(9)]
    assert json.loads((out / "manifest.json").read_text())["counts"] == [2] * 9 + [0]
    assert main(["data", "info", str(out)]) == 0


def test_colour_generators_write_colour_datasets(tmp_path):
    colour = ArchConfig(image_shape=(3, 32, 32), latent_dim=8, g_width=4, num_classes=2)
    rgb = TrainedGenerator(build_generator(colour), colour, ["cat", "dog"], "rgb", {"dataset": "pets"})
    synthesize(rgb, tmp_path / "pets.npz", [3, 2], fmt="npz")
    images, labels = read_npz(tmp_path / "pets.npz")
    assert images.shape == (5, 32, 32, 3) and labels.tolist() == [0, 0, 0, 1, 1]
    synthesize(rgb, tmp_path / "pets", [1, 1], fmt="folder")
    with Image.open(next((tmp_path / "pets" / "dog").glob("*.png"))) as picture:
        assert picture.mode == "RGB" and picture.size == (32, 32)
