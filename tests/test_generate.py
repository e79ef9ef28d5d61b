"""Generation from a run folder, through the Python API and the `cgan generate` command."""

import numpy as np
import pytest
import torch
from PIL import Image

import cgan
from cgan.cli import main
from cgan.errors import CganError, CheckpointError
from cgan.generation.latent import noise_interpolation


def test_same_seed_same_images_different_seed_different_images(tiny_run):
    generator = cgan.load_generator(tiny_run)
    a = generator.generate([7] * 8, seed=1)
    assert a.dtype == np.uint8 and a.shape == (8, 28, 28)
    assert np.array_equal(a, generator.generate([7] * 8, seed=1))
    assert not np.array_equal(a, generator.generate([7] * 8, seed=2))


def test_images_do_not_depend_on_batching(tiny_run):
    generator = cgan.load_generator(tiny_run)
    labels = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 3
    assert np.array_equal(
        generator.generate(labels, seed=3), generator.generate(labels, seed=3, batch_size=7)
    )


def test_labels_by_name_and_index(tiny_run):
    generator = cgan.load_generator(tiny_run)
    assert generator.label_index("7") == generator.label_index(7) == 7
    with pytest.raises(CganError, match="unknown mnist class 'sneaker'; use an index 0-9"):
        generator.label_index("sneaker")
    with pytest.raises(CganError, match="out of range"):
        generator.generate([10], seed=0)


def test_labels_as_arrays_and_tensors_and_what_is_refused(tiny_run):
    generator = cgan.load_generator(tiny_run)
    expected = generator.generate([3, 7], seed=5)
    for labels in (np.array([3, 7]), torch.tensor([3, 7]), np.array(["3", "7"])):
        assert np.array_equal(generator.generate(labels, seed=5), expected)
    assert np.array_equal(generator.generate([3, 7], seed=np.int64(5)), expected)
    # A lone label would be read character by character ("17": classes 1 and 7) or not at all.
    for labels in ("17", 7, None):
        with pytest.raises(CganError, match="labels must be a list of class indices or names, one per image"):
            generator.generate(labels, seed=0)
    with pytest.raises(CganError, match="not float"):
        generator.generate(torch.tensor([1.0, 2.0]), seed=0)
    for seed in (-1, 2**63, 2**70, 1.5):
        with pytest.raises(CganError, match=r"seed must be an integer from 0 to 2\*\*63 - 1"):
            generator.generate([1], seed=seed)
    with pytest.raises(CganError, match="seed must be"):
        noise_interpolation(generator, 1, steps=3, seed=2**64)


def test_cli_png_grid_for_one_class(tiny_run, tmp_path, capsys):
    out = tmp_path / "sevens.png"
    assert (
        main(["generate", str(tiny_run), "--label", "7", "--count", "25", "--seed", "1", "--out", str(out)])
        == 0
    )
    assert Image.open(out).size == (5 * 30 + 2, 5 * 30 + 2)  # 5x5 tiles of 28 px with 2 px gaps
    assert "25 images of 7 (seed 1)" in capsys.readouterr().out
    assert main(["generate", str(tiny_run), "--label", "7", "--count", "1", "--out", str(tmp_path / "a.png")]) == 0
    assert ": 1 image of 7 (seed" in capsys.readouterr().out


def test_cli_all_classes_one_row_each(tiny_run, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["generate", str(tiny_run), "--all", "--count", "4", "--scale", "2", "--out", str(out)]) == 0
    assert Image.open(out).size == (2 * (4 * 30 + 2), 2 * (10 * 30 + 2))


def test_cli_npz_is_reproducible(tiny_run, tmp_path):
    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for path in paths:
        main(["generate", str(tiny_run), "--label", "7", "--count", "50", "--seed", "1", "--out", str(path)])
    a, b = (np.load(p) for p in paths)
    assert a["images"].shape == (50, 28, 28) and a["images"].dtype == np.uint8
    assert a["labels"].tolist() == [7] * 50
    assert np.array_equal(a["images"], b["images"])


def test_cli_out_dir_writes_one_png_per_image_and_never_replaces_one(tiny_run, tmp_path, capsys):
    folder = tmp_path / "pngs"
    assert (
        main(["generate", str(tiny_run), "--label", "3", "5", "--count", "2", "--out-dir", str(folder)]) == 0
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "00000_3.png",
        "00001_3.png",
        "00002_5.png",
        "00003_5.png",
    ]
    assert Image.open(folder / "00000_3.png").size == (28, 28)
    # The same command again would replace those files: refused, and they stay as they were.
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert main(["generate", str(tiny_run), "--label", "3", "--count", "2", "--seed", "9", "--out-dir", str(folder)]) == 2
    assert f"{folder} already holds 00000_3.png and 1 more; choose another folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["--label", "11"], "out of range"),
        (["--label", "dog"], "unknown mnist class 'dog'"),
        (["--all", "--out", "x.jpg"], "must end in .png or .npz"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(tiny_run, tmp_path, capsys, args, message):
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "x.png")]
    assert main(["generate", str(tiny_run), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_missing_run_folder(tmp_path, capsys):
    assert main(["generate", str(tmp_path / "nope"), "--all", "--out", str(tmp_path / "x.png")]) == 2
    assert "neither a run folder nor a bundled generator" in capsys.readouterr().err


def test_run_folder_with_damaged_weights(tiny_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    weights = broken / "generator.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="truncated"):
        cgan.load_generator(broken)
    (broken / "model.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        cgan.load_generator(broken)


def test_a_model_of_data_cgan_cannot_find_generates_but_cannot_be_measured(tiny_run, tmp_path):
    import json
    import shutil

    foreign = tmp_path / "foreign"
    shutil.copytree(tiny_run, foreign)
    model = json.loads((foreign / "model.json").read_text())
    (foreign / "model.json").write_text(json.dumps({**model, "dataset": "imagenet"}))
    generator = cgan.load_generator(foreign)  # its own classes are in model.json: it draws them
    assert generator.generate(["3"], seed=0).shape == (1, 28, 28)
    with pytest.raises(CganError, match="no dataset 'imagenet'"):
        cgan.evaluate_generator(generator, per_class=2, cas=False)
