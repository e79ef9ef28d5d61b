"""Colour and size: the training speed of 32x32 colour images against 28x28 grayscale at the same network
width, and the peak memory of training on a CIFAR-10-sized dataset, measured in one run.

    python bench/colour.py [--steps 30] [--repeats 5] [--threads N]

Prints images/s of one default training step (the default widths and recipe) for each image shape, the
shapes taking turns within each round (the median of the rounds is reported), and the ratio to 28x28
grayscale (target: 32x32 colour at >= 0.6x). Then the peak resident memory (VmHWM) of a `cgan train
--dataset cifar10` process for 100 steps, on CIFAR-10's binary file layout filled with 60,000 random images
(the real archive cannot be downloaded everywhere; its size, not its content, sets the memory): target
<= 1.5 GB. Absolute figures depend on the machine and its load; compare the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cgan.data import get_spec
from cgan.training import TrainConfig
from cgan.training.step import GANStep

BATCH_SIZE = 128
SHAPES = {"28x28 grayscale": (1, 28, 28), "32x32 colour": (3, 32, 32), "64x64 colour": (3, 64, 64)}
PEAK_RSS_OF_TRAIN = """
import sys
from cgan.cli import main
code = main(sys.argv[1:])
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0], file=sys.stderr)
sys.exit(code)
"""


def training_speed(steps: int, repeats: int) -> dict[str, float]:
    """Median images/s of a default training step per image shape."""
    config = TrainConfig(batch_size=BATCH_SIZE)
    generator = torch.Generator().manual_seed(0)
    trainers, batches = {}, {}
    for name, shape in SHAPES.items():
        trainers[name] = GANStep(config, config.arch_config(10, shape), torch.device("cpu"))
        batches[name] = (
            torch.rand(BATCH_SIZE, *shape, generator=generator) * 2 - 1,
            torch.randint(0, 10, (BATCH_SIZE,), generator=generator),
        )
    seconds: dict[str, list[float]] = {name: [] for name in SHAPES}
    for round_ in range(repeats + 1):  # the first round warms up
        for name, step in trainers.items():
            start = time.perf_counter()
            for _ in range(steps):
                step(*batches[name], measure=False)
            if round_:
                seconds[name].append(time.perf_counter() - start)
    return {name: steps * BATCH_SIZE / statistics.median(times) for name, times in seconds.items()}


def write_cifar_layout(folder: Path) -> None:
    """CIFAR-10's binary batches (1 label byte + 3,072 pixel bytes a record), filled with random images."""
    rng = np.random.default_rng(0)
    files = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name in files:
        records = rng.integers(0, 256, (10_000, 3073), dtype=np.uint8)
        records[:, 0] = rng.integers(0, 10, 10_000)
        (folder / name).write_bytes(records.tobytes())
    (folder / "batches.meta.txt").write_text("\n".join(get_spec("cifar10").classes) + "\n\n")


def cifar_training_peak_rss(tmp: Path, threads: int | None) -> float:
    data_dir = tmp / "cifar-10-batches-bin"
    data_dir.mkdir()
    write_cifar_layout(data_dir)
    command = [sys.executable, "-c", PEAK_RSS_OF_TRAIN, "train", "--dataset", "cifar10", "--data-dir", str(data_dir)]
    command += ["--max-steps", "100", "--no-progress", "--out", str(tmp / "run")]
    command += ["--threads", str(threads)] if threads else []
    done = subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(done.stderr.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="training steps per timing (default: 30)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; the median is reported (default: 5)")
    parser.add_argument("--threads", type=int, help="torch threads (default: PyTorch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH_SIZE}, default widths")
    speeds = training_speed(args.steps, args.repeats)
    base = speeds["28x28 grayscale"]
    for name, rate in speeds.items():
        print(f"  {name:<16} {rate:8.0f} images/s  {rate / base:5.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        peak = cifar_training_peak_rss(Path(tmp), args.threads)
    print(f"peak RSS of `cgan train --dataset cifar10` (100 steps, 60,000 images): {peak:.0f} MB")


if __name__ == "__main__":
    main()
