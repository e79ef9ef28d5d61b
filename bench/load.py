"""Load on the REST API: N concurrent clients for a fixed time against a local `cgan.serve` server.

    python bench/load.py [--clients 8] [--duration 10] [--models mnist ...]

Starts the server itself (uvicorn, 127.0.0.1, a free port, the bundled generators unless --models) and, for
a single image and for a 10x10 grid (POST /gen_images), prints requests/s, p50/p95/p99 latency and the error
count, beside the same work done in this process without HTTP (the ceiling); then the server's resident
memory (VmRSS) after a warm-up and after all the load, and its peak. Exits 1 if any request failed or the
memory grew by more than MAX_RSS_GROWTH. The clients share the machine with the server, so absolute
figures are for this machine and its load; the ratio to the in-process ceiling is what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from cgan.generation import load_generator
from cgan.images import make_grid, png_bytes
from cgan.serve import WORKERS

CASES = {
    "single image": {"grid": False, "grid_size": 0},
    "10x10 grid": {"grid": True, "grid_size": 10},
}
MAX_RSS_GROWTH = 0.10
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_kib(pid: int) -> dict[str, int]:
    """Resident memory now (VmRSS) and at its peak (VmHWM), in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


def start_server(port: int, models: list[str]) -> subprocess.Popen:
    factory = f"lambda: create_app({models!r})" if models else "create_app"
    code = (
        "import uvicorn; from cgan.serve import create_app; "
        f"uvicorn.run(({factory})(), host='127.0.0.1', port={port}, log_level='warning')"
    )
    server = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with status {server.returncode} before it answered")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    sys.exit(f"the server did not answer within {START_TIMEOUT_S} s")


async def load(url: str, body: dict, clients: int, duration: float) -> tuple[list[float], int]:
    """Latencies (s) of the successful requests and the number of failed ones, from `clients` clients that
    each send one request after another until `duration` is over."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + duration

    async def client(number: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        i = number
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                response = await http.post(url, json={**body, "value": i % 10})
                ok = response.status_code == 200 and response.content.startswith(b"\x89PNG")
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
            i += clients

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        await asyncio.gather(*(client(n, http) for n in range(clients)))
    return latencies, errors


def in_process_rate(case: dict, duration: float) -> float:
    """Requests/s of the same work (generate, grid, PNG) done in this process without HTTP, from as many
    threads as the server has workers: the ceiling the server could reach."""
    generator = load_generator("mnist")
    count = case["grid_size"] ** 2 if case["grid"] else 1
    stop = time.perf_counter() + duration

    def caller(first: int) -> int:
        calls = 0
        while time.perf_counter() < stop:
            images = generator.generate([(first + calls) % 10] * count, seed=first + calls)
            png_bytes(make_grid(images, case["grid_size"]) if case["grid"] else images[0])
            calls += 1
        return calls

    with ThreadPoolExecutor(WORKERS) as pool:
        return sum(pool.map(caller, range(WORKERS))) / duration


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default: 8)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per case (default: 10)")
    parser.add_argument("--models", nargs="*", default=[], help="what to serve (default: bundled ones)")
    args = parser.parse_args()

    baseline = {name: in_process_rate(case, min(args.duration, 5.0)) for name, case in CASES.items()}
    port = free_port()
    server = start_server(port, args.models)
    url = f"http://127.0.0.1:{port}/gen_images"
    try:
        asyncio.run(load(url, CASES["10x10 grid"], args.clients, 2.0))  # warm-up: threads, allocator
        before = memory_kib(server.pid)
        print(f"{args.clients} clients, {args.duration:g} s per case, server pid {server.pid}")
        print(
            f"{'case':14} {'requests':>9} {'req/s':>8} {'vs no-HTTP':>11} "
            f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}"
        )
        total_errors = 0
        for name, case in CASES.items():
            latencies, errors = asyncio.run(load(url, case, args.clients, args.duration))
            total_errors += errors
            q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
            rate = len(latencies) / args.duration
            print(
                f"{name:14} {len(latencies):>9} {rate:>8.1f} {rate / baseline[name]:>10.2f}x "
                f"{q[49] * 1e3:>8.1f} {q[94] * 1e3:>8.1f} {q[98] * 1e3:>8.1f} {errors:>7}"
            )
        after = memory_kib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    growth = after["VmRSS"] / before["VmRSS"] - 1
    print(
        f"in-process baseline ({WORKERS} threads, no HTTP): "
        + ", ".join(f"{n} {r:.1f}/s" for n, r in baseline.items())
    )
    print(
        f"server RSS: {before['VmRSS'] / 1024:.0f} MiB after warm-up, {after['VmRSS'] / 1024:.0f} MiB after "
        f"the load ({growth:+.1%}), peak {after['VmHWM'] / 1024:.0f} MiB"
    )
    failed = total_errors > 0 or growth > MAX_RSS_GROWTH
    if failed:
        print(
            f"FAILED: {total_errors} errors (must be 0), "
            f"RSS growth {growth:+.1%} (must be under {MAX_RSS_GROWTH:.0%})"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
