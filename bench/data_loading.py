"""Loading an image folder: the first decode, the cached start, and the memory it takes.

    python bench/data_loading.py [--data-dir /path/to/mnist] [--count 60000] [--keep DIR]

Writes the first COUNT real MNIST training digits as 28x28 PNGs into class folders in a temporary folder
(with an empty cache), then measures, in this one run:

- decoding alone, in parallel over the cores (`folders.decode_all`), against one process decoding a sample
  of the same files in a loop (the parallel speed-up);
- the first decode (`resolve_dataset(folder, image_size=28)`: listing, decoding in parallel, listing again
  to notice changes, the held-out split, the fingerprint, writing the cache), in images/s;
- the cached start in a fresh Python process: resolving the folder and reading both splits, and the whole
  process including its imports;
- the cache file's size and the arrays' (and the fresh process's resident memory growth) against the raw
  uint8 size of the images (N x 28 x 28 bytes).

Targets (issue 14): >= 5,000 images/s, a cached start <= 2 s, sizes <= 1.2x the raw size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from cgan import data
from cgan.data import folders

SAMPLE = 3000  # images decoded by one process, for the speed-up

FRESH_PROCESS = """
import json, sys, time
start = time.perf_counter()
from cgan.data import resolve_dataset
imported = time.perf_counter()

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

before = rss()
dataset = resolve_dataset(sys.argv[1], image_size=28)
arrays = [a for split in ("train", "test") for a in dataset.split(split)]
done = time.perf_counter()
print(json.dumps({"import_s": imported - start, "start_s": done - imported, "process_s": done - start,
                  "rss_growth": rss() - before, "nbytes": sum(a.nbytes for a in arrays)}))
"""


def write_pngs(args: tuple[Path, np.ndarray, np.ndarray, int]) -> None:
    root, images, labels, offset = args
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(image).save(root / str(label) / f"{offset + i:05d}.png")


def make_folder(root: Path, images: np.ndarray, labels: np.ndarray) -> None:
    for label in range(10):
        (root / str(label)).mkdir(parents=True)
    step = 2000
    jobs = [(root, images[i : i + step], labels[i : i + step], i) for i in range(0, len(images), step)]
    with ProcessPoolExecutor() as pool:
        list(pool.map(write_pngs, jobs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", help="folder with the MNIST IDX files (default: search the usual places)"
    )
    parser.add_argument("--count", type=int, default=60000)
    parser.add_argument("--keep", help="write the PNG folder here and keep it (default: a temporary folder)")
    args = parser.parse_args()

    images, labels = (t.numpy()[: args.count] for t in data.load("mnist", "train", args.data_dir))
    raw = images.nbytes
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp) / "mnist-png"
        os.environ["XDG_CACHE_HOME"] = str(
            Path(tmp) / "cache"
        )  # an empty cache, inherited by the fresh process
        started = time.perf_counter()
        make_folder(root, images, labels)
        print(f"wrote {len(images)} PNGs in {time.perf_counter() - started:.1f} s")

        listing = folders.list_folder(root)
        sample = listing.files[:: max(1, len(listing.files) // SAMPLE)][:SAMPLE]
        started = time.perf_counter()
        folders._decode_chunk(str(root), sample, 28, None)
        one_process = len(sample) / (time.perf_counter() - started)

        started = time.perf_counter()
        folders.decode_all(root, listing.files, 28, None)
        parallel = len(listing.files) / (time.perf_counter() - started)

        started = time.perf_counter()
        dataset = data.resolve_dataset(root, image_size=28)
        first = time.perf_counter() - started
        rate = len(images) / first
        cache_size = dataset.cache_file.stat().st_size

        fresh = subprocess.run(
            [sys.executable, "-c", FRESH_PROCESS, str(root)], capture_output=True, text=True, check=True
        )
        cached = json.loads(fresh.stdout)

    print(f"load average:    {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"decoding alone:  {parallel:,.0f} images/s in {folders._workers()} processes, {one_process:,.0f} "
          f"images/s in one: {parallel / one_process:.2f}x")  # fmt: skip
    print(f"first decode:    {first:.2f} s, {rate:,.0f} images/s (listing twice, decoding, splitting, "
          f"hashing, writing the cache); target >= 5,000: {rate / 5000:.2f}x")  # fmt: skip
    print(f"cached start:    {cached['start_s']:.2f} s to resolve and read both splits "
          f"(the whole process with its imports: {cached['process_s']:.2f} s); target <= 2 s")  # fmt: skip
    print(f"cache file:      {cache_size / 1e6:.1f} MB = {cache_size / raw:.3f}x the raw {raw / 1e6:.1f} MB")
    print(f"in memory:       arrays {cached['nbytes'] / raw:.3f}x raw, resident memory growth "
          f"{cached['rss_growth'] / raw:.3f}x raw; target <= 1.2x")  # fmt: skip


if __name__ == "__main__":
    main()
