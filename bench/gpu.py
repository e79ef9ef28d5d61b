"""Training and generation speed on one CUDA GPU, in one run.

    python bench/gpu.py --data-dir DIR [--steps 300] [--batch-sizes 128,1024] [--precisions auto,fp32]
        [--widths 32] [--datasets mnist,cifar10,npz64] [--profile]

Trains with `cgan.fit` (the loop `cgan train` runs) on the GPU for --steps steps per case and reports
images/s over the steps after the first WARM_UP (from the run's metrics.csv, whose logged steps wait for the
GPU, so the times are of finished work), for:
- MNIST (the real files under --data-dir/mnist), 28x28 grayscale;
- CIFAR-10's binary layout filled with 60,000 random images (32x32 colour; speed does not depend on the
  pixels, and the real archive cannot be downloaded everywhere);
- an .npz of 20,000 random 64x64 colour images in 10 classes;
each at every network width (--g-width and --d-width both; 32 is the default), batch size and precision
asked for (auto = bf16 on GPUs that compute it natively). Then generation images/s of the bundled MNIST
generator on the GPU (`load_generator("mnist", device="cuda")`), in fp32 and bf16, and on the CPU in the same
run for comparison. --profile also counts, with torch.profiler, the GPU kernels of one default training step
and the host's time per step in each precision (a small model's step is bound by launching kernels, not by
the GPU's arithmetic).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from colour import write_cifar_layout  # bench/colour.py, beside this file
from torch.profiler import ProfilerActivity, profile

from cgan import load_generator
from cgan.training import TrainConfig, fit
from cgan.training.step import GANStep

WARM_UP = 100  # steps left out of the images/s: cuDNN's algorithm search, allocations


def training_speed(data: dict, out: Path, steps: int, batch_size: int, precision: str, width: int) -> float:
    """images/s of the steps after WARM_UP of one run on the GPU."""
    config = TrainConfig(
        **data, out=str(out), device="cuda", batch_size=batch_size, precision=precision, max_steps=steps,
        epochs=10**6, log_every=WARM_UP, checkpoint_every=10**9, samples_per_class=1, g_width=width, d_width=width,
    )  # fmt: skip
    fit(config, progress=False)
    with open(out / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["d_loss"]]
    first, last = rows[0], rows[-1]
    return (
        (int(last["step"]) - int(first["step"]))
        * batch_size
        / (float(last["elapsed_s"]) - float(first["elapsed_s"]))
    )


def generation_speed(device: str, precision: str, count: int, repeats: int) -> float:
    generator = load_generator("mnist", device=device, precision=precision)
    labels = [i % 10 for i in range(count)]
    generator.generate(labels, seed=0)  # warm-up: the inference network, cuDNN's search
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        generator.generate(labels, seed=seed)  # returns uint8 on the CPU: the GPU's work is finished
        times.append(time.perf_counter() - start)
    return count / statistics.median(times)


def kernels_per_step(precision: str, steps: int = 20) -> tuple[float, float]:
    """(GPU kernels, host milliseconds) per default training step at the default batch on MNIST's shape."""
    config = TrainConfig(precision=precision)
    step = GANStep(config, config.arch_config(10, (1, 28, 28)), torch.device("cuda"))
    real = torch.rand(config.batch_size, 1, 28, 28, device="cuda") * 2 - 1
    labels = torch.randint(0, 10, (config.batch_size,), device="cuda")
    for _ in range(steps):  # warm-up
        step(real, labels, measure=False)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step(real, labels, measure=False)
        host_s = time.perf_counter() - start
        torch.cuda.synchronize()
    kernels = sum(1 for event in prof.events() if event.device_type == torch.autograd.DeviceType.CUDA)
    return kernels / steps, host_s / steps * 1000


def datasets(tmp: Path, data_dir: str, names: list[str]) -> dict[str, dict]:
    found = {}
    if "mnist" in names:
        found["MNIST 28x28x1"] = {"dataset": "mnist", "data_dir": str(Path(data_dir) / "mnist")}
    if "cifar10" in names:
        cifar = tmp / "cifar-10-batches-bin"
        cifar.mkdir()
        write_cifar_layout(cifar)
        found["CIFAR-10 32x32x3"] = {"dataset": "cifar10", "data_dir": str(cifar)}
    if "npz64" in names:
        rng = np.random.default_rng(0)
        npz = tmp / "random64.npz"
        images = rng.integers(0, 256, (20_000, 64, 64, 3), dtype=np.uint8)
        np.savez(npz, images=images, labels=rng.integers(0, 10, 20_000))
        found["npz 64x64x3"] = {"data": str(npz), "image_size": 64}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True, help="the folder holding mnist/")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-sizes", default="128,1024")
    parser.add_argument("--precisions", default="auto,fp32")
    parser.add_argument("--widths", default="32", help="g_width = d_width values (default: 32, the default)")
    parser.add_argument("--datasets", default="mnist,cifar10,npz64")
    parser.add_argument("--profile", action="store_true", help="also count the kernels of a default step")
    parser.add_argument("--images", type=int, default=20480, help="labels per generate call")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU: this bench measures one")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, {args.steps} steps a case")
    if args.profile:
        for precision in args.precisions.split(","):
            kernels, host_ms = kernels_per_step(precision)
            print(
                f"  default step, {precision:<5}: {kernels:.0f} GPU kernels, {host_ms:.1f} ms of host time",
                flush=True,
            )
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        cases = itertools.product(
            datasets(tmp, args.data_dir, args.datasets.split(",")).items(),
            map(int, args.widths.split(",")),
            map(int, args.batch_sizes.split(",")),
            args.precisions.split(","),
        )
        for number, ((name, data), width, batch_size, precision) in enumerate(cases):
            rate = training_speed(data, tmp / f"run-{number}", args.steps, batch_size, precision, width)
            print(
                f"  train {name:<18} width {width:>4} batch {batch_size:>5} {precision:<5} {rate:10,.0f} images/s",
                flush=True,
            )
    print("generation, bundled MNIST generator, one generate call of", args.images, "labels:")
    for device, precision in (("cuda", "fp32"), ("cuda", "bf16"), ("cpu", "auto")):
        rate = generation_speed(device, precision, args.images, repeats=5)
        print(f"  generate {device:<4} {precision:<5} {rate:12,.0f} images/s", flush=True)


if __name__ == "__main__":
    main()
