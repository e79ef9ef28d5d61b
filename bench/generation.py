"""Generation speed through the public API, each backend beside the network as trained, in one run.

    python bench/generation.py [--images 20480] [--repeats 5] [--threads N]
    python bench/generation.py --quality [--seeds 0,1,2] [--data-dir DIR]

For the default 28x28 model (fresh weights: speed does not depend on their values), the same with
conditional batch norm, the bundled generators and the classic MLP CGAN architecture, prints images/s of
`generator.generate(labels, seed=1)` for `--images` labels and the time of one image, per backend:
- "network": the trained network itself in fp32, as generate ran it before generation.inference existed;
- "folded fp32" and "folded bf16": generation.inference's rewrite (what generate uses now; auto = bf16
  where the CPU computes it natively);
- "onnxruntime": the exported .onnx (the onnx extra).
Also the FLOPs per image (PyTorch's FlopCounterMode on the network as trained) and, from this CPU's
measured matrix-product throughput (its peak), the share of what that arithmetic allows in the precision
generate runs in on this CPU (bf16 where native, else fp32). Backends are timed in turn,
round after round; the median of the rounds is reported. Ratios are what to compare across machines.

--quality instead measures what bf16 generation does to the images: `cgan evaluate`'s class accuracy,
fd_evaluator, precision and recall of each bundled generator drawn in fp32 and in bf16, for several seeds
(the seed-to-seed spread is the noise a difference has to stand out of).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from cgan import data
from cgan.evaluation.api import evaluate_generator
from cgan.generation import TrainedGenerator, generate_images, load_generator, noise
from cgan.generation.inference import resolve_precision
from cgan.models import ArchConfig, build_generator
from cgan.training import TrainConfig


def matmul_gflops(dtype: torch.dtype, repeats: int) -> float:
    """This CPU's measured peak: a 1024x1024 matrix product."""
    a, b = torch.randn(1024, 1024, dtype=dtype), torch.randn(1024, 1024, dtype=dtype)
    times = []
    for _ in range(repeats * 4):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * 1024**3 / statistics.median(times) / 1e9


def fresh_generator(arch_name: str, **options) -> TrainedGenerator:
    spec = data.get_spec("mnist")
    arch = TrainConfig(arch=arch_name, **options).arch_config(spec.num_classes, spec.image_shape)
    meta = {
        "format": "cgan-generator",
        "dataset": "mnist",
        "classes": list(spec.classes),
        "arch": arch.to_dict(),
    }
    return TrainedGenerator(build_generator(arch), arch, spec.classes, "fresh", meta)


def flops_per_image(generator: TrainedGenerator) -> float:
    z, labels = noise(0, 64, generator.arch.latent_dim), torch.arange(64) % len(generator.classes)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        generator.net.eval()(z, labels)
    return counter.get_total_flops() / 64


class NetworkAsTrained:
    """generate() as it ran before generation.inference: the trained network itself, in fp32."""

    def __init__(self, generator: TrainedGenerator):
        self.generator = generator

    def generate(self, labels: list[int], seed: int):
        z = noise(seed, len(labels), self.generator.arch.latent_dim)
        return generate_images(self.generator.net, z, torch.tensor(labels))


def backends(generator: TrainedGenerator, arch: ArchConfig, tmp: Path) -> dict[str, object]:
    runners: dict[str, object] = {"network": NetworkAsTrained(generator)}
    if arch.arch == "dcgan":
        for precision in ("fp32", "bf16"):
            folded = TrainedGenerator(generator.net, arch, generator.classes, "", generator.meta, precision)
            runners[f"folded {precision}"] = folded
    try:
        from cgan.export import export_onnx

        export_onnx(generator, tmp / "g.onnx")
        runners["onnxruntime"] = load_generator(tmp / "g.onnx")
    except Exception as exc:  # the onnx extra is optional
        print(f"  (no onnxruntime backend: {exc})")
    return runners


def quality(seeds: list[int], data_dir: str | None) -> None:
    keys = ("class_accuracy", "fd_evaluator", "precision", "recall")
    for name in ("mnist", "fashion-mnist"):
        print(f"\n{name} (1,000 per class), mean and seed-to-seed range over seeds {seeds}:")
        for precision in ("fp32", "bf16"):
            generator = load_generator(name, precision=precision)
            runs = [evaluate_generator(generator, seed=seed, cas=False, data_dir=data_dir) for seed in seeds]
            cells = [
                f"{key} {statistics.mean(r[key] for r in runs):.4f} "
                f"[{min(r[key] for r in runs):.4f}, {max(r[key] for r in runs):.4f}]"
                for key in keys
            ]
            print(f"  {precision}: " + "  ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20480, help="labels per generate call (default: 20480)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; the median is reported (default: 5)")
    parser.add_argument("--threads", type=int, help="torch threads (default: PyTorch's choice)")
    parser.add_argument("--quality", action="store_true", help="evaluate fp32 against bf16 images instead")
    parser.add_argument("--seeds", default="0,1,2", help="--quality: evaluation seeds (default: 0,1,2)")
    parser.add_argument("--data-dir", help="--quality: the datasets' folder (default: the usual places)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quality:
        quality([int(seed) for seed in args.seeds.split(",")], args.data_dir)
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.images} images per call")
    peak = {
        name: matmul_gflops(dtype, args.repeats)
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
    }
    print("matmul throughput of this CPU (GFLOP/s): " + ", ".join(f"{k} {v:.1f}" for k, v in peak.items()))
    # The share is of what the precision generate() runs in here allows: bf16 only where the CPU computes
    # it natively (elsewhere bf16 is emulated, far slower than fp32, and generate() keeps fp32).
    used = resolve_precision("auto")
    print(f"generate() runs in {used} on this CPU: the shares below are of the {used} allowance")

    models = {
        "default 28x28": fresh_generator("dcgan"),
        "default 28x28, --cond-g cbn": fresh_generator("dcgan", cond_g="cbn"),
        "bundled mnist": load_generator("mnist"),
        "bundled fashion-mnist": load_generator("fashion-mnist"),
        "mlp": fresh_generator("mlp"),
    }
    labels = [i % 10 for i in range(args.images)]
    with tempfile.TemporaryDirectory() as tmp:
        for name, generator in models.items():
            flops = flops_per_image(generator)
            allowed = {k: v * 1e9 / flops for k, v in peak.items()}
            print(
                f"\n{name}: {flops / 1e6:.2f} MFLOP per image; that throughput allows "
                + ", ".join(f"{v:,.0f} images/s in {k}" for k, v in allowed.items())
            )
            runners = backends(generator, generator.arch, Path(tmp))
            rates: dict[str, list[float]] = {k: [] for k in runners}
            single: dict[str, list[float]] = {k: [] for k in runners}
            for runner in runners.values():
                runner.generate(labels[:256], seed=1)  # warm-up: builds the inference form, oneDNN kernels
            for _ in range(args.repeats):
                for backend, runner in runners.items():
                    start = time.perf_counter()
                    runner.generate(labels, seed=1)
                    rates[backend].append(args.images / (time.perf_counter() - start))
                    start = time.perf_counter()
                    for _ in range(20):
                        runner.generate([7], seed=1)
                    single[backend].append((time.perf_counter() - start) / 20 * 1000)
            base = statistics.median(rates["network"])
            for backend in runners:
                rate = statistics.median(rates[backend])
                print(
                    f"  {backend:<12} {rate:9,.0f} images/s  {rate / base:5.2f}x network  "
                    f"{100 * rate / allowed[used]:5.1f}% of {used} allowance  "
                    f"one image {statistics.median(single[backend]):.2f} ms"
                )


if __name__ == "__main__":
    main()
