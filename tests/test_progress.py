"""Progress bars: drawn on a terminal, absent from a pipe or a log file."""

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading


def evaluate(shared_data, stderr) -> subprocess.CompletedProcess:
    command = ["evaluate", "--dataset", "mnist", "--per-class", "20", "--no-cas", "--no-floor", "--data-dir",
               str(shared_data / "mnist")]  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "cgan", *command], stdout=subprocess.PIPE, stderr=stderr, text=True, check=True
    )


def test_evaluate_draws_bars_on_a_terminal_only(shared_data):
    piped = evaluate(shared_data, subprocess.PIPE)
    assert "class_accuracy" in piped.stdout and piped.stderr == ""

    terminal, bars = pty.openpty()
    fcntl.ioctl(bars, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # rows, columns: a real one's size
    drawn = bytearray()
    reader = threading.Thread(target=read_all, args=(terminal, drawn))  # a full terminal would block the writer
    reader.start()
    try:
        shown = evaluate(shared_data, bars)
    finally:
        os.close(bars)
        reader.join()
        os.close(terminal)
    assert "class_accuracy" in shown.stdout
    assert b"generating" in drawn and b"evaluator features" in drawn and b"200/200" in drawn


def read_all(fd: int, into: bytearray) -> None:
    try:
        while chunk := os.read(fd, 65536):
            into += chunk
    except OSError:  # Linux answers EIO once the other end of the terminal is closed and drained
        pass
