"""Load on the REST API: N concurrent clients against a local `cgan.serve` server, optionally beside an older
version of it in the same run.

    python bench/load.py [--clients 32] [--duration 10] [--compare REV] [--soak 60] [--models mnist ...]

Starts the server itself (uvicorn, 127.0.0.1, a free port, the bundled generators unless --models) and
reports, for a single image and for a 10x10 grid (POST /gen_images), requests/s, p50/p95/p99 latency and
the error count, beside the same work done in this process without HTTP (the ceiling); then a flood of
--flood-clients clients asking for 16x16 grids, with how fast the refused ones got their 503 (p50, max);
then --soak seconds of mixed load after a warm-up, sampling the server's resident memory (VmRSS) to report
its growth from the first to the last fifth of the window. CPU ms/req is the server's CPU time (all
threads) per successful request: what a request costs, whatever else the machine runs. With --compare
REV, the src/ of that git revision is served too, and each case runs against both servers in turn.

The clients are plain HTTP/1.1 keep-alive connections on asyncio streams: an httpx client on the same
cores costs more CPU than the server and would measure itself. Exits 1 if a request failed (anything but
200, or 503 in the flood) or the memory grew by more than MAX_RSS_GROWTH. The clients share the machine
with the server, so absolute figures are for this machine and its load: compare servers within one run.
"""

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cgan.generation import load_generator
from cgan.images import make_grid, png_bytes
from cgan.serve import WORKERS

REPO = Path(__file__).resolve().parents[1]
CASES = {
    "single image": {"grid": False, "grid_size": 0},
    "10x10 grid": {"grid": True, "grid_size": 10},
}
FLOOD = {"grid": True, "grid_size": 16}
MAX_RSS_GROWTH = 0.10
START_TIMEOUT_S = 120
WARM_UP_S = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used, user and system, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> dict[str, int]:
    """Resident memory now (VmRSS) and at its peak (VmHWM), in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


class Server:
    """`cgan.serve` from the source folder `src` in a process of its own, on a free port."""

    def __init__(self, name: str, src: Path, models: list[str]):
        self.name, self.port = name, free_port()
        factory = f"lambda: create_app({models!r})" if models else "create_app"
        code = (
            "import uvicorn; from cgan.serve import create_app; "
            f"uvicorn.run(({factory})(), host='127.0.0.1', port={self.port}, log_level='warning')"
        )
        path = os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")]))
        self.process = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": path})
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"the {name} server did not start (status {self.process.returncode})")
            time.sleep(0.2)

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
                return sock.recv(12).endswith(b"200")
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


async def post(connection, port: int, body: dict) -> tuple[int, bytes]:
    """One POST /gen_images on an open keep-alive connection: its status and content."""
    reader, writer = connection
    content = json.dumps(body).encode()
    writer.write(
        b"POST /gen_images HTTP/1.1\r\nhost: 127.0.0.1:%d\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n%s" % (port, len(content), content)
    )
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if length is None:
        raise ConnectionError("an answer without content-length")
    answer = await reader.readexactly(int(length.group(1)))
    if re.search(rb"(?i)\r\nconnection: *close", head):
        raise ConnectionError("the server closed the connection")
    return int(head[9:12]), answer


async def load(port: int, body: dict, clients: int, duration: float) -> dict[int | str, list[float]]:
    """Latencies (s) by status ("error" for a dropped connection or a non-PNG 200), from `clients` clients
    that each send one request after another until `duration` is over."""
    latencies: dict[int | str, list[float]] = {}
    stop = time.perf_counter() + duration

    async def client(number: int) -> None:
        connection = None
        i = number
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                connection = connection or await asyncio.open_connection("127.0.0.1", port)
                status, content = await post(connection, port, {**body, "value": i % 10})
                outcome = "error" if status == 200 and not content.startswith(b"\x89PNG") else status
            except (OSError, ConnectionError, asyncio.IncompleteReadError):
                outcome, connection = "error", None
            latencies.setdefault(outcome, []).append(time.perf_counter() - started)
            i += clients
        if connection:
            connection[1].close()

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies


def in_process_rate(case: dict, duration: float) -> float:
    """Requests/s of the same work (generate, grid, PNG) done in this process without HTTP, from as many
    threads as the server has workers: a ceiling for the server."""
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


def milliseconds(values: list[float], quantiles: tuple[int, ...]) -> list[str]:
    if len(values) < 2:
        return ["-"] * len(quantiles)
    q = statistics.quantiles(values, n=100)
    return [f"{q[p - 1] * 1e3:.1f}" for p in quantiles]


def soak(server: Server, clients: int, duration: float) -> tuple[list[int], int]:
    """RSS samples (KiB, every half second) over `duration` s of mixed load, and the failed requests."""
    samples: list[int] = []

    async def run() -> dict:
        async def sample() -> None:
            while True:
                samples.append(rss_kib(server.process.pid)["VmRSS"])
                await asyncio.sleep(0.5)

        sampler = asyncio.ensure_future(sample())
        half = max(1, clients // 2)
        outcomes = await asyncio.gather(
            load(server.port, CASES["single image"], half, duration),
            load(server.port, CASES["10x10 grid"], clients - half or 1, duration),
        )
        sampler.cancel()
        return {k: v for outcome in outcomes for k, v in outcome.items()}

    latencies = asyncio.run(run())
    return samples, sum(len(v) for k, v in latencies.items() if k != 200)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default: 32)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per case (default: 10)")
    parser.add_argument("--flood-clients", type=int, default=200, help="clients in the flood (default: 200)")
    parser.add_argument("--flood-duration", type=float, default=5.0, help="seconds of flood (default: 5)")
    parser.add_argument("--soak", type=float, default=60.0, help="seconds of load for memory (default: 60)")
    parser.add_argument("--compare", metavar="REV", help="also serve src/ of this git revision, e.g. main")
    parser.add_argument("--models", nargs="*", default=[], help="what to serve (default: bundled ones)")
    args = parser.parse_args()

    ceiling = {name: in_process_rate(case, min(args.duration, 5.0)) for name, case in CASES.items()}
    with tempfile.TemporaryDirectory() as old_tree:
        servers = []
        if args.compare:
            archive = subprocess.run(
                ["git", "-C", str(REPO), "archive", args.compare, "src"], capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", old_tree], input=archive, check=True)
            servers.append(Server(args.compare, Path(old_tree) / "src", args.models))
        try:
            servers.append(Server("this tree", REPO / "src", args.models))
            return report(args, servers, ceiling)
        finally:
            for server in servers:
                server.stop()


def report(args, servers: list[Server], ceiling: dict[str, float]) -> int:
    failed = 0
    for server in servers:  # threads, allocator, caches
        asyncio.run(load(server.port, CASES["10x10 grid"], args.clients, WARM_UP_S))
    width = max(len(server.name) for server in servers)
    print(f"{args.clients} clients, {args.duration:g} s per case")
    print(
        f"{'server':{width}} {'case':14} {'requests':>9} {'req/s':>8} {'vs no-HTTP':>11} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU ms/req':>11}"
    )
    for name, case in CASES.items():
        for server in servers:
            cpu = cpu_seconds(server.process.pid)
            latencies = asyncio.run(load(server.port, case, args.clients, args.duration))
            cpu = cpu_seconds(server.process.pid) - cpu
            ok = latencies.pop(200, [])
            errors = sum(map(len, latencies.values()))
            failed += errors
            rate = len(ok) / args.duration
            p50, p95, p99 = milliseconds(ok, (50, 95, 99))
            print(
                f"{server.name:{width}} {name:14} {len(ok):>9} {rate:>8.1f} {rate / ceiling[name]:>10.2f}x "
                f"{p50:>8} {p95:>8} {p99:>8} {errors:>7} {cpu * 1e3 / max(1, len(ok)):>11.2f}"
            )
    print(f"in-process ceiling ({WORKERS} threads, no HTTP): " + ", ".join(f"{n} {r:.1f}/s" for n, r in ceiling.items()))

    print(f"\nflood: {args.flood_clients} clients asking for 16x16 grids for {args.flood_duration:g} s")
    print(f"{'server':{width}} {'200s':>7} {'503s':>7} {'errors':>7} {'503 p50 ms':>11} {'503 max ms':>11}")
    for server in servers:
        latencies = asyncio.run(load(server.port, FLOOD, args.flood_clients, args.flood_duration))
        ok, refused = latencies.pop(200, []), latencies.pop(503, [])
        errors = sum(map(len, latencies.values()))
        failed += errors
        (p50,) = milliseconds(refused, (50,))
        slowest = f"{max(refused) * 1e3:.1f}" if refused else "-"
        print(f"{server.name:{width}} {len(ok):>7} {len(refused):>7} {errors:>7} {p50:>11} {slowest:>11}")

    server = servers[-1]
    samples, errors = soak(server, args.clients, args.soak)
    failed += errors
    fifth = max(1, len(samples) // 5)
    first, last = statistics.median(samples[:fifth]), statistics.median(samples[-fifth:])
    growth = last / first - 1
    print(
        f"\nserver memory over {args.soak:g} s of mixed load after the warm-up ({server.name}): "
        f"{first / 1024:.0f} MiB in the first fifth, {last / 1024:.0f} MiB in the last ({growth:+.1%}), "
        f"peak {rss_kib(server.process.pid)['VmHWM'] / 1024:.0f} MiB; {errors} errors"
    )
    if failed or growth > MAX_RSS_GROWTH:
        print(f"FAILED: {failed} failed requests (must be 0), RSS growth {growth:+.1%} (must be under {MAX_RSS_GROWTH:.0%})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
