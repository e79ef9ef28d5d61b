"""ONNX export: a graph with a dynamic batch and int64 labels that matches PyTorch within 1e-5."""

import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from cgan.cli import main
from cgan.errors import CganError
from cgan.export import METADATA_KEY, export_onnx
from cgan.generation import load_generator


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "g.onnx"
    worst = export_onnx(tiny_run, path)
    return path, worst


def test_export_matches_torch_at_any_batch_size(tiny_run, exported):
    path, worst = exported
    assert worst <= 1e-5
    generator = load_generator(tiny_run)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = {i.name: i for i in session.get_inputs()}
    assert inputs["labels"].type == "tensor(int64)" and inputs["z"].type == "tensor(float)"
    for batch in (1, 3, 130):  # none of them the batch size the graph was traced with
        z = torch.randn(batch, generator.arch.latent_dim)
        labels = torch.arange(batch) % 10
        (images,) = session.run(None, {"z": z.numpy(), "labels": labels.numpy()})
        with torch.inference_mode():
            expected = generator.net(z, labels).numpy()
        assert images.shape == (batch, 1, 28, 28)
        np.testing.assert_allclose(images, expected, atol=1e-5, rtol=0)


def test_export_carries_the_model_description(tiny_run, exported):
    path, _ = exported
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    model = json.loads(props[METADATA_KEY])
    assert model["dataset"] == "mnist" and model["classes"] == [str(i) for i in range(10)]
    assert model == json.loads((tiny_run / "model.json").read_text())


def test_cli_export_of_a_bundled_generator(tmp_path, capsys):
    out = tmp_path / "mnist.onnx"
    assert main(["export", "mnist", "--onnx", str(out)]) == 0
    assert "largest difference from PyTorch" in capsys.readouterr().out
    assert out.stat().st_size > 1_000_000
    assert main(["export", "mnist", "--onnx", str(tmp_path / "g.txt")]) == 2
    assert "--onnx must end in .onnx, got 'g.txt'" in capsys.readouterr().err
    assert not (tmp_path / "g.txt").exists()


def test_export_of_a_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(CganError, match="neither a run folder"):
        export_onnx(tmp_path / "nothing", tmp_path / "g.onnx")
    assert not (tmp_path / "g.onnx").exists()


def test_onnx_runtime_backend_draws_what_pytorch_draws(tiny_run, exported):
    path, _ = exported
    onnx_generator, torch_generator = load_generator(path), load_generator(tiny_run, precision="fp32")
    assert onnx_generator.classes == torch_generator.classes
    labels = [0, 3, "7", 9] * 5
    a = onnx_generator.generate(labels, seed=4).astype(int)
    b = torch_generator.generate(labels, seed=4).astype(int)
    assert np.abs(a - b).max() <= 1  # a 1e-6 difference may round a pixel the other way


def test_foreign_or_damaged_onnx_files_are_refused(tmp_path):
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["z"], ["images"])],
        "foreign",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1])],
    )
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph), str(foreign))
    with pytest.raises(CganError, match="not exported by cgan"):
        load_generator(foreign)
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(CganError, match="not a readable ONNX model"):
        load_generator(damaged)
    with pytest.raises(CganError, match="does not exist"):
        load_generator(tmp_path / "missing.onnx")
