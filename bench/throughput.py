"""Training speed of the default model, fp32 against the fast path, measured in one run (generation:
bench/generation.py).

    python bench/throughput.py [--steps 40] [--repeats 5] [--threads N] [--data-dir DIR]

Prints, for this machine:
- the measured matmul and convolution throughput (GFLOP/s, fp32 and bf16), to put the model's beside;
- training images/s of the default model in fp32 and with each speed option alone and all together, with
  the ratio to fp32 (options timed in turn, round after round; the median of the rounds is reported);
- the peak resident memory of a `cgan train` process.
Absolute figures vary between machines and with their load; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from cgan import data
from cgan.training import TrainConfig
from cgan.training.step import GANStep

BATCH_SIZE = TrainConfig().batch_size


def timed(fn, repeats: int) -> float:
    """Median seconds of fn() over repeats, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine_flops(repeats: int) -> dict[str, float]:
    results = {}
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        a, b = torch.randn(1024, 1024, dtype=dtype), torch.randn(1024, 1024, dtype=dtype)
        seconds = timed(lambda a=a, b=b: a @ b, repeats)
        results[f"matmul {name}"] = 2 * 1024**3 / seconds / 1e9
        x = torch.randn(BATCH_SIZE, 32, 14, 14, dtype=dtype)
        w = torch.randn(64, 32, 4, 4, dtype=dtype)
        out = torch.nn.functional.conv2d(x, w, stride=2, padding=1)
        flops = 2 * out.numel() * 32 * 4 * 4
        seconds = timed(lambda x=x, w=w: torch.nn.functional.conv2d(x, w, stride=2, padding=1), repeats)
        results[f"conv {name}"] = flops / seconds / 1e9
    return results


SPEED_OPTIONS = {
    "fp32": {"precision": "fp32", "fused": False},
    "bf16": {"precision": "bf16", "fused": False},
    "channels_last": {"precision": "fp32", "channels_last": True, "fused": False},
    "fused Adam": {"precision": "fp32", "fused": True},
    "defaults": {},  # what `cgan train` does: bf16 where native, fused Adam, default memory layout
    "defaults + channels_last": {"channels_last": True},
}


def make_trainer(options: dict, run_dir: Path) -> GANStep:
    options = dict(options)
    fused = options.pop("fused", True)
    config = TrainConfig(out=str(run_dir), **options)
    spec = data.get_spec(config.dataset)
    trainer = GANStep(config, config.arch_config(spec.num_classes, spec.image_shape), torch.device("cpu"))
    if not fused:  # the optimisers PyTorch picks by default (foreach), for comparison
        betas = (config.beta1, config.beta2)
        trainer.opt_g = torch.optim.Adam(trainer.generator.parameters(), lr=config.lr, betas=betas)
        trainer.opt_d = torch.optim.Adam(trainer.discriminator.parameters(), lr=config.lr, betas=betas)
    return trainer


def training_speed(images, labels, steps: int, repeats: int, tmp: Path) -> dict[str, tuple[float, float]]:
    """images/s and GFLOP/s achieved per option; the options take turns within each round."""
    trainers = {
        name: make_trainer(options, tmp / name.replace(" ", "_")) for name, options in SPEED_OPTIONS.items()
    }
    batches = []
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        index = torch.randint(0, len(images), (BATCH_SIZE,), generator=generator)
        batches.append((images[index].unsqueeze(1).float() / 127.5 - 1, labels[index]))

    def run(trainer: GANStep) -> None:
        for real, y in batches:
            trainer(real.contiguous(memory_format=trainer.memory_format), y, measure=False)

    flops = {}
    for name, trainer in trainers.items():
        with FlopCounterMode(display=False) as counter:
            trainer(*batches[0], measure=False)
        flops[name] = counter.get_total_flops()
        run(trainer)  # warm-up
    seconds = {name: [] for name in trainers}
    for _ in range(repeats):
        for name, trainer in trainers.items():
            start = time.perf_counter()
            run(trainer)
            seconds[name].append(time.perf_counter() - start)
    result = {}
    for name in trainers:
        median = statistics.median(seconds[name])
        result[name] = (steps * BATCH_SIZE / median, flops[name] * steps / median / 1e9)
    return result


PEAK_RSS_OF_TRAIN = """
import sys
from cgan.cli import main
code = main(sys.argv[1:])
# VmHWM: this process's own peak resident memory (Linux), not the parent's that a fork starts from.
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0], file=sys.stderr)
sys.exit(code)
"""


def training_peak_rss(data_dir: str | None, tmp: Path) -> float:
    """Peak RSS in MB of `cgan train` for 300 steps with the defaults (data loading included)."""
    command = [sys.executable, "-c", PEAK_RSS_OF_TRAIN, "train", "--max-steps", "300", "--no-progress"]
    command += ["--out", str(tmp / "rss")] + (["--data-dir", data_dir] if data_dir else [])
    done = subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(done.stderr.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="training steps per timing (default: 40)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; the median is reported (default: 5)")
    parser.add_argument("--threads", type=int, help="torch threads (default: PyTorch's choice)")
    parser.add_argument("--data-dir", help="folder with MNIST's IDX files (default: the usual places)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {BATCH_SIZE}")

    print("\nmachine (GFLOP/s):")
    for name, value in machine_flops(args.repeats).items():
        print(f"  {name:<12} {value:8.1f}")

    images, labels = data.load("mnist", "train", args.data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        speeds = training_speed(images, labels, args.steps, args.repeats, Path(tmp))
        print("\ntraining, default model:")
        base = speeds["fp32"][0]
        for name, (rate, gflops) in speeds.items():
            print(
                f"  {name:<16} {rate:8.0f} images/s  {rate / base:5.2f}x fp32  {gflops:6.1f} GFLOP/s achieved"
            )

        print(f"\npeak RSS of `cgan train` (300 steps): {training_peak_rss(args.data_dir, Path(tmp)):.0f} MB")


if __name__ == "__main__":
    main()
