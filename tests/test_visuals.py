"""The visual commands (interpolate, latent-grid, plot, evolution, compare-real, report), the pictures behind
them, and the soft labels that class-to-class interpolation feeds the generators."""

import argparse
import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import cgan
from cgan.cli.visuals import add_parsers
from cgan.errors import CganError, CheckpointError
from cgan.generation import (
    TrainedGenerator,
    class_interpolation,
    latent_grid,
    noise_interpolation,
    slerp,
)
from cgan.generation.onnx import OnnxNetwork
from cgan.images import gif_bytes
from cgan.models import ArchConfig, LabelEmbedding, build_generator

SMALL = dict(latent_dim=8, g_width=8, d_width=8, embed_dim=4)
TILE = 28 + 2  # an image and make_grid's 2 px gap


def cgan_visual(*argv) -> int:
    """Run one visual command as `cgan` would, through the parsers that cli/visuals.py registers."""
    parser = argparse.ArgumentParser(prog="cgan")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return args.handler(args)


@pytest.fixture(scope="module")
def mnist():
    return cgan.load_generator("mnist")


def frames_of(path) -> list[np.ndarray]:
    with Image.open(path) as gif:
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("L")))
    return frames


# --- soft labels in the generators ------------------------------------------------------------------


@pytest.mark.parametrize("kind", [dict(arch="dcgan"), dict(arch="dcgan", cond_g="cbn"), dict(arch="mlp")])
def test_one_hot_class_weights_draw_what_the_class_index_draws(kind):
    torch.manual_seed(0)
    net = build_generator(ArchConfig(**kind, **SMALL)).eval()
    for module in net.modules():  # far from their initial values, as after training, so classes differ
        if isinstance(module, LabelEmbedding):
            torch.nn.init.normal_(module.weight)
    z, labels = torch.randn(4, 8), torch.tensor([0, 3, 7, 9])
    with torch.no_grad():
        by_index = net(z, labels)
        by_weights = net(z, torch.eye(10)[labels])
        halfway = net(z, 0.5 * torch.eye(10)[labels] + 0.5 * torch.eye(10)[labels.flip(0)])
    torch.testing.assert_close(by_weights, by_index, atol=1e-6, rtol=0)
    change = (halfway - by_index).abs().max()
    assert change > 0.05 * by_index.abs().max(), "a blend of two classes is neither of them"


def test_label_embedding_looks_indices_up_exactly_and_keeps_its_keys():
    embedding = LabelEmbedding(10, 6)
    labels = torch.tensor([2, 5, 5])
    assert torch.equal(embedding(labels), torch.nn.functional.embedding(labels, embedding.weight))
    assert list(embedding.state_dict()) == ["weight"]
    weights = torch.tensor([[0.25] * 4 + [0.0] * 6])
    torch.testing.assert_close(embedding(weights), embedding.weight[:4].mean(0, keepdim=True))


def test_generators_keep_their_state_dict_keys():
    keys = set(build_generator(ArchConfig()).state_dict())
    assert {"label_map_7.weight", "label_map_14.weight"} <= keys
    assert set(build_generator(ArchConfig(arch="mlp")).state_dict()) >= {"label_embedding.weight"}


# --- interpolation maths ------------------------------------------------------------------------------


def test_slerp_ends_at_its_endpoints_and_keeps_the_norm():
    a, b = torch.randn(2, 100, generator=torch.Generator().manual_seed(0))
    b = b * a.norm() / b.norm()
    path = slerp(a, b, torch.linspace(0, 1, 9)[:, None])
    torch.testing.assert_close(path[0], a)
    torch.testing.assert_close(path[-1], b)
    torch.testing.assert_close(path.norm(dim=1), a.norm().expand(9))
    straight = slerp(a, a, torch.tensor([[0.5]]))  # the same vector twice: no circle, the line
    torch.testing.assert_close(straight[0], a)


def test_class_interpolation_starts_and_ends_at_the_two_classes(mnist):
    frames = class_interpolation(mnist, [3, "7"], steps=6, count=4, seed=2)
    assert frames.shape == (6, 4, 28, 28) and frames.dtype == np.uint8
    # The same noise as generate() draws from the seed: the ends are those classes' images.
    for frame, label in ((frames[0], 3), (frames[-1], 7)):
        expected = mnist.generate([label] * 4, seed=2).astype(int)
        assert np.abs(frame.astype(int) - expected).max() <= 1  # float weights vs lookup: rounding only
    assert not np.array_equal(frames[2], frames[0])


def test_class_tour_keeps_each_waypoint_once(mnist):
    frames = class_interpolation(mnist, [0, 1, 2], steps=5, seed=0)
    assert len(frames) == 2 * (5 - 1) + 1


def test_noise_interpolation_and_latent_grid_stay_in_the_class(mnist):
    walk = noise_interpolation(mnist, 5, steps=7, count=3, seed=1)
    assert walk.shape == (7, 3, 28, 28)
    assert np.abs(walk[0].astype(int) - mnist.generate([5] * 3, seed=1).astype(int)).max() <= 1
    assert not np.array_equal(walk[0], walk[-1])
    grid = latent_grid(mnist, "5", size=4, seed=1)
    assert grid.shape == (4, 4, 28, 28)
    assert len({grid[i, j].tobytes() for i in range(4) for j in range(4)}) == 16


def test_blending_needs_a_pytorch_network(mnist):
    class Session:  # the part of an ONNX Runtime session that OnnxNetwork uses
        def run(self, outputs, feeds):
            return [np.zeros((len(feeds["z"]), 1, 28, 28), np.float32)]

    onnx = TrainedGenerator(OnnxNetwork(Session()), mnist.arch, mnist.classes, "x.onnx", mnist.meta)
    with pytest.raises(CganError, match="ONNX export takes whole class indices"):
        class_interpolation(onnx, [3, 7], steps=3)
    assert noise_interpolation(onnx, 3, steps=3).shape == (3, 1, 28, 28)


# --- interpolate and latent-grid ------------------------------------------------------------------------


def test_interpolate_gif_loops_there_and_back(tmp_path, capsys):
    out = tmp_path / "morph.gif"
    assert (
        cgan_visual("interpolate", "--dataset", "mnist", "--from", 3, "--to", 7, "--steps", 8, "--out", out)
        == 0
    )
    assert "wrote" in capsys.readouterr().out
    with Image.open(out) as gif:
        assert gif.format == "GIF" and gif.info["loop"] == 0
        assert gif.n_frames == 2 * 8 - 2  # forward, then back without repeating the ends
        assert gif.size == (4 * (TILE + 2), 4 * (TILE + 2))  # one image, padded, enlarged 4x by default
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    assert durations[0] == durations[7] == 800 and durations[1] == 80  # the ends stay longer


def test_frame_times_past_a_minute_are_refused_and_long_holds_fit_in_a_gif(tmp_path, capsys):
    too_slow = tmp_path / "too_slow.gif"
    with pytest.raises(SystemExit) as exit:
        cgan_visual("interpolate", "--dataset", "mnist", "--from", 3, "--to", 7, "--frame-ms", 700_000, "--out", too_slow)
    assert exit.value.code == 2 and "at most 60,000" in capsys.readouterr().err
    assert not too_slow.exists()
    out = tmp_path / "slow.gif"
    argv = ("interpolate", "--dataset", "mnist", "--from", 3, "--to", 7, "--steps", 3, "--frame-ms", 60_000)
    assert cgan_visual(*argv, "--out", out) == 0
    assert gif_durations(out.read_bytes()) == [600_000, 60_000, 600_000, 60_000]  # the ends stay 10 times longer
    # Longer than a GIF can store (655.35 s) is as long as it can.
    frames = [np.zeros((4, 4), np.uint8), np.full((4, 4), 255, np.uint8)]
    assert gif_durations(gif_bytes(frames, frame_ms=100_000, hold_ms=10**7)) == [655_350, 655_350]


def gif_durations(content: bytes) -> list[int]:
    with Image.open(io.BytesIO(content)) as gif:
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    return durations


def test_interpolate_png_strip_and_count(tmp_path):
    out = tmp_path / "five.png"
    cgan_visual(
        "interpolate",
        "--dataset",
        "mnist",
        "--label",
        5,
        "--steps",
        6,
        "--count",
        3,
        "--scale",
        2,
        "--out",
        out,
    )
    with Image.open(out) as png:
        assert png.format == "PNG"
        assert png.size == (2 * (6 * TILE + 2), 2 * (3 * TILE + 2))  # a row per noise vector


def test_same_seed_same_bytes_and_labels_change_the_picture(tmp_path):
    def morph(name, *argv):
        out = tmp_path / name
        cgan_visual("interpolate", "--dataset", "mnist", *argv, "--steps", 5, "--out", out)
        return out.read_bytes()

    first = morph("a.gif", "--from", 3, "--to", 7, "--seed", 4)
    assert first == morph("b.gif", "--from", 3, "--to", 7, "--seed", 4)
    assert first != morph("c.gif", "--from", 3, "--to", 7, "--seed", 5)
    assert first != morph("d.gif", "--from", 3, "--to", 8, "--seed", 4)

    grids = {}
    for label in (3, 5, 5):
        out = tmp_path / f"grid_{label}.png"
        cgan_visual("latent-grid", "--dataset", "mnist", "--label", label, "--size", 3, "--out", out)
        grids.setdefault(label, []).append(out.read_bytes())
    assert grids[5][0] == grids[5][1]
    assert grids[3][0] != grids[5][0]


def test_latent_grid_size_scale_and_class_names(tmp_path):
    by_name, by_index = tmp_path / "sneaker.png", tmp_path / "seven.png"
    cgan_visual(
        "latent-grid", "--dataset", "fashion-mnist", "--label", "sneaker", "--size", 4, "--out", by_name
    )
    cgan_visual("latent-grid", "--dataset", "fashion-mnist", "--label", 7, "--size", 4, "--out", by_index)
    with Image.open(by_name) as png:
        assert png.size == (3 * (4 * TILE + 2),) * 2
    assert by_name.read_bytes() == by_index.read_bytes()


def test_latent_grid_from_a_run_folder(tiny_run, tmp_path):
    out = tmp_path / "grid.png"
    assert cgan_visual("latent-grid", tiny_run, "--label", 1, "--size", 2, "--scale", 1, "--out", out) == 0
    assert Image.open(out).size == (2 * TILE + 2, 2 * TILE + 2)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["interpolate", "--dataset", "mnist", "--from", "sneaker", "--to", 7],
            "unknown mnist class 'sneaker'",
        ),
        (["interpolate", "--dataset", "mnist", "--from", 3], "needs both --from and --to"),
        (["interpolate", "--dataset", "mnist", "--from", 3, "--to", "3"], "same class"),
        (["interpolate", "--dataset", "mnist", "--from", 3, "--to", 7, "--label", 5], "or --label CLASS"),
        (["interpolate", "--dataset", "mnist"], "or --label CLASS"),
        (["latent-grid", "--dataset", "mnist", "--label", 12], "out of range"),
        (["latent-grid", "--dataset", "mnist", "runs/x", "--label", 1], "give either a run folder or --dataset .* not both"),
        (["latent-grid", "--label", 1], "give a run folder or --dataset NAME \\(for the bundled generator\\)$"),
        (["interpolate", "--dataset", "mnist", "--label", 1, "--out", "x.jpg"], "must end in .gif or .png"),
        (
            ["report", "--dataset", "fashion-mnist", "--label", "7s", "--out", "r.html"],
            "unknown fashion-mnist",
        ),
        (["plot", "runs/none"], "neither a run folder nor a bundled generator"),
    ],
)
def test_user_mistakes_are_clear_errors(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where nothing is written, if all goes well
    if "--out" not in argv:
        argv = [*argv, "--out", tmp_path / "x.png"]
    with pytest.raises(CganError, match=message):
        cgan_visual(*argv)


# --- plot ---------------------------------------------------------------------------------------------


def with_quality_row(run, tmp_path):
    """A copy of `run` whose metrics.csv ends with an --eval-every row."""
    copy = tmp_path / "with_quality"
    shutil.copytree(run, copy)
    with open(copy / "metrics.csv", "a") as f:
        f.write("20,2,1.5,,,,,,,,0.5,12.5,0.4,0.3\n")
    return copy


def test_plot_writes_the_same_png_for_the_same_metrics(tiny_run, tmp_path, capsys):
    assert cgan_visual("plot", tiny_run, "--out", tmp_path / "a.png") == 0
    assert "training curves" in capsys.readouterr().out
    cgan_visual("plot", tiny_run, "--out", tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    with Image.open(tmp_path / "a.png") as png:
        assert png.format == "PNG" and png.size == (1300, 850)
    run = with_quality_row(tiny_run, tmp_path)
    cgan_visual("plot", run)  # default: into the run folder
    assert (run / "training_curves.png").read_bytes() != (tmp_path / "a.png").read_bytes()


def test_plot_needs_a_run_with_metrics(tiny_run, tmp_path):
    with pytest.raises(CheckpointError, match="bundled mnist generator has no metrics.csv"):
        cgan_visual("plot", "--dataset", "mnist", "--out", tmp_path / "x.png")
    fresh = tmp_path / "fresh"
    shutil.copytree(tiny_run, fresh)
    (fresh / "metrics.csv").write_text((tiny_run / "metrics.csv").read_text().splitlines()[0] + "\n")
    with pytest.raises(CheckpointError, match="no training rows yet"):
        cgan_visual("plot", fresh)


# --- evolution ------------------------------------------------------------------------------------------


def test_evolution_has_a_frame_per_epoch(tiny_run, tmp_path):
    out = tmp_path / "training.gif"
    assert cgan_visual("evolution", tiny_run, "--out", out, "--seed", 3) == 0
    with Image.open(tiny_run / "samples" / "epoch_001.png") as grid:
        width, height = grid.size
    with Image.open(out) as gif:
        assert gif.n_frames == 2 and gif.info["loop"] == 0  # tiny_run trains 2 epochs
        assert gif.size[0] == width and gif.size[1] > height  # the grid, under a caption band
    first, last = frames_of(out)
    assert not np.array_equal(first, last)


def test_evolution_every_nth_epoch_keeps_the_first_and_last(tiny_run, tmp_path):
    run = tmp_path / "longer"
    shutil.copytree(tiny_run, run)
    for epoch in (3, 4, 5):  # as if it had trained on: the grids of epochs 1 and 2 again
        shutil.copy(
            run / "samples" / f"epoch_{epoch - 2:03d}.png", run / "samples" / f"epoch_{epoch:03d}.png"
        )
    cgan_visual("evolution", run, "--every", 2, "--out", tmp_path / "every2.gif")
    cgan_visual("evolution", run, "--out", tmp_path / "all.gif")
    assert len(frames_of(tmp_path / "every2.gif")) == 4  # epochs 1, 2, 4 and 5
    assert len(frames_of(tmp_path / "all.gif")) == 5


def test_evolution_needs_samples(tiny_run, tmp_path):
    with pytest.raises(CheckpointError, match="ships without per-epoch samples"):
        cgan_visual("evolution", "--dataset", "mnist", "--out", tmp_path / "x.gif")
    empty = tmp_path / "empty"
    shutil.copytree(tiny_run, empty)
    shutil.rmtree(empty / "samples")
    with pytest.raises(CheckpointError, match="no sample grids yet"):
        cgan_visual("evolution", empty, "--out", tmp_path / "x.gif")


# --- compare-real ---------------------------------------------------------------------------------------


def test_compare_real_puts_real_beside_generated(tiny_run, shared_data, tmp_path):
    paths = [tmp_path / name for name in ("a.png", "b.png", "c.png")]
    for path, seed in zip(paths, (1, 1, 2), strict=True):
        argv = ["compare-real", tiny_run, "--count", 3, "--seed", seed, "--scale", 1, "--out", path]
        assert cgan_visual(*argv, "--data-dir", shared_data / "mnist") == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()
    with Image.open(paths[0]) as png:
        width, height = png.size
    assert width > 2 * (3 * TILE + 2) and height > 10 * TILE + 2  # two panels, names and titles around


def test_compare_real_without_the_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(CganError, match="cgan data download mnist"):
        cgan_visual("compare-real", "--dataset", "mnist", "--data-dir", tmp_path, "--out", tmp_path / "x.png")


# --- report -----------------------------------------------------------------------------------------------


def test_report_of_a_run_is_self_contained_and_reproducible(tiny_run, shared_data, tmp_path):
    run = with_quality_row(tiny_run, tmp_path)
    assert cgan_visual("report", run, "--data-dir", shared_data / "mnist") == 0
    page = (run / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("data:image/png;base64,") >= 4  # curves, every class, real vs generated, latent grid
    assert page.count("data:image/gif;base64,") == 3  # class tour, noise walk, evolution
    assert "http://" not in page and "https://" not in page  # nothing to fetch: it opens offline
    assert "max_images" in page and "320" in page  # the training config
    assert "0.5000" in page and "12.5000" in page  # the quality row of metrics.csv
    assert 'class="missing"' not in page
    cgan_visual("report", run, "--data-dir", shared_data / "mnist", "--out", tmp_path / "again.html")
    assert (tmp_path / "again.html").read_text() == page


def test_report_of_a_bundled_generator_shows_what_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cgan_visual("report", "--dataset", "mnist", "--data-dir", tmp_path, "--label", "8") == 0
    page = (tmp_path / "mnist_report.html").read_text()
    assert "# Bundled mnist generator" in page  # the model card holds its evaluation
    assert "has no metrics.csv" in page and "ships without per-epoch samples" in page
    assert "No real images" in page and "cgan data download mnist" in page
    assert page.count("data:image/gif;base64,") == 2 and "class 8" in page


def test_report_images_decode(tiny_run, tmp_path):
    import base64
    import re

    cgan_visual("report", tiny_run, "--data-dir", tmp_path, "--out", tmp_path / "r.html")
    uris = re.findall(r'src="data:image/(png|gif);base64,([^"]+)"', (tmp_path / "r.html").read_text())
    assert uris
    for kind, payload in uris:
        with Image.open(io.BytesIO(base64.b64decode(payload))) as picture:
            assert picture.format == kind.upper()
