"""The training loop's small collaborators: a clock of training time, the schedule of quality
measurements by training time, the learning-rate and top-k schedules, and the stop signal (Ctrl-C,
SIGTERM)."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager


class TrainingClock:
    """Seconds of training in all: those of earlier sessions plus this one's, without the pauses."""

    def __init__(self, before: float = 0.0):
        self.before = before
        self.started = time.perf_counter()
        self.paused = 0.0

    def seconds(self) -> float:
        return self.before + time.perf_counter() - self.started - self.paused

    def session_seconds(self) -> float:
        return time.perf_counter() - self.started - self.paused

    @contextmanager
    def pause(self) -> Iterator[None]:
        """Time spent inside (measuring quality) is not training time."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.paused += time.perf_counter() - start


class TimedEvaluations:
    """Due every `interval` seconds of training time (None: never), on multiples of the interval."""

    def __init__(self, interval: float | None, seconds: float):
        self.interval = interval
        self.next = self.following(seconds) if interval else math.inf

    def following(self, seconds: float) -> float:
        assert self.interval is not None  # without one, `next` stays infinite and this is never called
        return (seconds // self.interval + 1) * self.interval

    def due(self, seconds: float) -> bool:
        if seconds < self.next:
            return False
        self.next = self.following(seconds)
        return True


def learning_rate_share(step: int, steps_per_epoch: int, decay_from: int | None, epochs: int) -> float:
    """The share of each network's learning rate in use at optimisation step `step` (0-based): all of it
    until the end of epoch `decay_from`, then less by the same amount each step, none after the last step of
    epoch `epochs` (--lr-decay). A function of the step alone, so a resumed run continues the schedule where
    it stopped."""
    if decay_from is None:
        return 1.0
    start, end = decay_from * steps_per_epoch, epochs * steps_per_epoch
    return min(1.0, max(0.0, (end - step) / (end - start)))


TOP_K_DECAY = 0.99  # per epoch: Sinha et al. (2020)'s gamma


def top_k_share(minimum: float | None, epoch: int) -> float:
    """The share of each batch the generator learns from in epoch `epoch` (0-based) under --top-k: all of it
    in the first epoch, then 0.99 times less each epoch, down to `minimum` (Sinha et al. 2020's nu). A
    function of the epoch alone, so a resumed run continues the schedule where it stopped."""
    if minimum is None:
        return 1.0
    return max(minimum, TOP_K_DECAY**epoch)


class StopSignal:
    """Turns the first Ctrl-C or SIGTERM (what schedulers and containers send first) into a request to stop
    after the current step; a second Ctrl-C interrupts at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.previous: dict = {}

    def __enter__(self) -> StopSignal:
        try:
            self.previous = {sig: signal.signal(sig, self.handle) for sig in self.SIGNALS}
        except ValueError:  # not the main thread: leave signals alone
            self.previous = {}
        return self

    def handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
