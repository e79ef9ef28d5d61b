"""The cost of training as several processes: 2 gloo ranks with 1 thread each against 1 process with 2 threads,
at the same global batch, on the same machine, in one invocation.

    python bench/distributed.py [--steps 300] [--rounds 3] [--batch-size 128] [--data-dir DIR]

Each round trains the default model for --steps steps both ways (`cgan train`'s own loop, launched by
torchrun for the ranks), and a third way that bounds what 2 ranks can reach: 2 independent processes at
the same time, 1 thread and half the batch each (each rank's share of the work on the same busy cores,
without communication; their images/s summed), taking turns; images/s are measured over the steps after the first 50 (from the
run's metrics.csv) and the median of the rounds is printed with the ratio. Rank 0 also reports the share of
its training time spent inside all-reduce calls (the gradients', and the small ones: batch-norm statistics,
stop flags, logged losses), which includes waiting for the slower rank.
Absolute figures vary between machines and with their load; the ratio is what to compare.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WARM_UP = 50  # steps left out of the images/s: allocations, first-touch of the data


def worker(args) -> None:
    """One training run (one process, or one rank under torchrun); rank 0 writes its figures to --result."""
    import torch
    import torch.distributed as dist

    from cgan.training import TrainConfig, fit

    spent = {"gradients": 0.0, "small": 0.0}
    all_reduce = dist.all_reduce

    def timed_all_reduce(tensor, *rest, **options):
        start = time.perf_counter()
        work = all_reduce(tensor, *rest, **options)
        spent["gradients" if tensor.numel() > 1000 else "small"] += time.perf_counter() - start
        return work

    dist.all_reduce = timed_all_reduce
    run = Path(args.result).with_suffix("")
    config = TrainConfig(
        data_dir=args.data_dir,
        out=str(run),
        batch_size=args.batch_size,
        max_steps=args.steps,
        epochs=1000,
        threads=args.threads,
        log_every=WARM_UP,
        checkpoint_every=10**9,  # the one checkpoint at the end
        sync_batch_norm=not args.no_sync_batch_norm,
    )
    result = fit(config, progress=False)
    if int(os.environ.get("RANK", 0)) == 0:
        with open(run / "metrics.csv") as f:
            rows = [r for r in csv.DictReader(f) if r["d_loss"]]
        first, last = rows[0], rows[-1]
        steps = int(last["step"]) - int(first["step"])
        seconds = float(last["elapsed_s"]) - float(first["elapsed_s"])
        figures = {
            "images_per_s": steps * args.batch_size / seconds,
            "training_s": float(last["elapsed_s"]),
            "threads": torch.get_num_threads(),
            "step": result.step,
            **{f"all_reduce_{k}_s": v for k, v in spent.items()},
        }
        Path(args.result).write_text(json.dumps(figures))


# The ways each round trains: (name, ranks, independent processes, threads each, global batch / batch each,
# batch-norm statistics of the global batch).
WAYS = (
    ("1 process, 2 threads", 1, 1, 2, 1, True),
    ("2 gloo ranks, 1 thread each", 2, 1, 1, 2, True),
    ("the same, --no-sync-batch-norm", 2, 1, 1, 2, False),
    ("2 independent processes, half the batch and 1 thread each", 1, 2, 1, 2, True),
)


def measure(args, way: tuple, folder: Path, round_: int) -> dict:
    """Train one way; its figures (images/s summed over independent processes)."""
    name, ranks, processes, threads, share, sync_batch_norm = way
    results = [folder / f"{WAYS.index(way)}-{round_}-{i}.json" for i in range(processes)]
    started = []
    for result in results:
        common = [str(Path(__file__).resolve()), "--worker", "--steps", str(args.steps), "--batch-size",
                  str(args.batch_size // share * ranks), "--result", str(result), "--threads", str(threads)]  # fmt: skip
        if not sync_batch_norm:
            common.append("--no-sync-batch-norm")
        if args.data_dir:
            common += ["--data-dir", args.data_dir]
        if ranks == 1:
            command = [sys.executable, *common]
        else:
            launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={ranks}", "--standalone"]
            command = [*launcher, *common]
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        started.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL))
    for process in started:
        if process.wait() != 0:
            sys.exit(f"{name}: a training process failed")
    figures = [json.loads(result.read_text()) for result in results]
    return {**figures[0], "images_per_s": sum(f["images_per_s"] for f in figures)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--data-dir")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--no-sync-batch-norm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    runs: dict[tuple, list[dict]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for way in WAYS:
                runs[way].append(measure(args, way, Path(tmp), round_))
                print(f"round {round_ + 1}, {way[0]}: {runs[way][-1]['images_per_s']:,.0f} images/s", flush=True)
    alone, ranks, unsynced, independent = (statistics.median(r["images_per_s"] for r in runs[way]) for way in WAYS)
    ranked = runs[WAYS[1]]
    in_all_reduce = statistics.median(
        (r["all_reduce_gradients_s"] + r["all_reduce_small_s"]) / r["training_s"] for r in ranked
    )
    gradients = statistics.median(r["all_reduce_gradients_s"] / r["training_s"] for r in ranked)
    print(f"\nglobal batch {args.batch_size}, {args.steps} steps, images/s after step {WARM_UP}, median of "
          f"{args.rounds} rounds")  # fmt: skip
    print(f"1 process, 2 threads:        {alone:8,.0f} images/s")
    print(f"2 gloo ranks, 1 thread each: {ranks:8,.0f} images/s  ({ranks / alone:.2f}x)")
    print(f"the same, --no-sync-batch-norm: {unsynced:5,.0f} images/s  ({unsynced / alone:.2f}x)")
    print(f"2 independent processes (the most 2 ranks could reach): {independent:,.0f} images/s "
          f"({independent / alone:.2f}x)")
    print(f"rank 0's training time inside all-reduce: {in_all_reduce:.1%} ({gradients:.1%} the gradients')")


if __name__ == "__main__":
    main()
