"""Progress bars: drawn on a terminal, absent from a pipe or a log file."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading

import pytest


def cgan(argv, stderr) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cgan", *argv], stdout=subprocess.PIPE, stderr=stderr, text=True, check=True
    )


def on_a_terminal(argv) -> tuple[subprocess.CompletedProcess, bytes]:
    """Runs cgan with stderr on a pseudo-terminal; returns what the terminal showed."""
    terminal, bars = pty.openpty()
    fcntl.ioctl(bars, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # rows, columns: a real one's size
    shown = bytearray()
    reader = threading.Thread(target=read_all, args=(terminal, shown))  # a full terminal would block the writer
    reader.start()
    try:
        done = cgan(argv, bars)
    finally:
        os.close(bars)
        reader.join()
        os.close(terminal)
    return done, bytes(shown)


def read_all(fd: int, into: bytearray) -> None:
    try:
        while chunk := os.read(fd, 65536):
            into += chunk
    except OSError:  # Linux answers EIO once the other end of the terminal is closed and drained
        pass


@pytest.mark.parametrize(
    "command, bars",
    [
        (["evaluate", "--dataset", "mnist", "--per-class", "20", "--no-cas", "--no-floor"],
         [b"generating", b"evaluator features"]),
        (["train", "--max-images", "320", "--batch-size", "32", "--epochs", "1", "--g-width", "8", "--d-width", "8",
          "--latent-dim", "16", "--samples-per-class", "2"], [b"10/10", b"step"]),
    ],
    ids=["evaluate", "train"],
)  # fmt: skip
def test_bars_are_drawn_on_a_terminal_only(shared_data, tmp_path, command, bars):
    argv = [*command, "--data-dir", str(shared_data / "mnist")]
    if command[0] == "train":
        argv += ["--out", str(tmp_path / "piped")]
    piped = cgan(argv, subprocess.PIPE)
    assert piped.stdout and piped.stderr == ""

    if command[0] == "train":
        argv[-1] = str(tmp_path / "shown")
    done, shown = on_a_terminal(argv)
    assert done.stdout and all(bar in shown for bar in bars), shown
