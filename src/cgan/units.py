"""Numbers and durations typed by a user ("5m", "128"), parsed with one clear error each; argparse and the
training config's field metadata use these as types."""

from __future__ import annotations

import argparse
import os

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}
# Random seeds are 0 to SEED_LIMIT - 1 everywhere: what torch.Generator takes as a signed 64-bit integer.
SEED_LIMIT = 2**63


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


MAX_FRAME_MS = 60_000  # a minute a frame; a GIF stores at most 655.35 s, and the first and last frames stay longer


def frame_ms(text: str) -> int:
    """Milliseconds per GIF frame: 1 to a minute."""
    value = positive_int(text)
    if value > MAX_FRAME_MS:
        raise argparse.ArgumentTypeError(f"at most {MAX_FRAME_MS:,} (a minute a frame), got {value:,}")
    return value


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def thread_count(text: str) -> int:
    """A number of CPU threads: far more than the CPUs crashes PyTorch's thread pool, so at most those."""
    value = positive_int(text)
    if value > available_cpus():
        raise argparse.ArgumentTypeError(f"at most the {available_cpus()} CPUs this process may use, got {value}")
    return value


def seed_number(text: str) -> int:
    """A random seed: 0 to 2**63 - 1, the range `cgan train --seed` takes too."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"must lie in 0 to 2**63 - 1, got {value}")
    return value


def duration(text: str) -> float:
    """Seconds from '90', '90s', '5m' or '1.5h'."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in DURATION_UNITS else (text, "s")
    try:
        seconds = float(number) * DURATION_UNITS[unit]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 90s, 5m or 1.5h, got {text!r}"
        ) from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return seconds


def float_or_off(text: str) -> float | None:
    """A float, where 0 means the feature is off (None)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    return value or None


def text_or_off(text: str) -> str | None:
    """A text, where "none" means the feature is off (None)."""
    return None if text.lower() == "none" else text
