"""Generation off the event loop: a bounded queue of draws, small requests drawn together in one pass."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
from fastapi import HTTPException

from ..errors import CganError
from ..generation import (
    TrainedGenerator,
    noise,
)
from ..generation.generator import GENERATE_BATCH
from .limits import BATCH_UP_TO, MAX_WAITING, WORKERS
from .schemas import invalid

T = TypeVar("T")


class Busy(HTTPException):
    def __init__(self, in_hand: int):
        super().__init__(503, f"server busy: {in_hand} requests in hand; retry shortly", {"Retry-After": "1"})


@dataclass
class Draw:
    """One request's images to draw, and what to make of them."""

    generator: TrainedGenerator
    labels: list[int]
    seed: int
    finish: Callable[[np.ndarray], Any]
    done: Future = field(default_factory=Future)


class GenerationPool:
    """Holds at most `workers + max_waiting` requests at once; one more is refused with 503 at once, so a
    flood neither grows memory nor the wait.

    draw(): images for labels and a seed. A request for a few images is drawn in one thread that puts the
    images of every such request waiting for it (up to GENERATE_BATCH) through the network together: one
    forward pass of many images costs a fraction of many passes of one. What a request makes of its images
    (PNG, grid, base64) runs in `workers` threads, and so does a request for many images, and run(): any
    other work."""

    def __init__(self, workers: int = WORKERS, max_waiting: int = MAX_WAITING):
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="cgan-generate")
        self.capacity = workers + max_waiting
        self.admitted = 0
        self.lock = threading.Lock()
        self.draws: queue.SimpleQueue[Draw | None] = queue.SimpleQueue()
        self.drawer = threading.Thread(target=self._draw_batches, name="cgan-draw", daemon=True)
        self.drawer.start()

    def full(self) -> bool:
        return self.admitted >= self.capacity

    def _admit(self) -> None:
        with self.lock:
            if self.admitted >= self.capacity:
                raise Busy(self.admitted)
            self.admitted += 1

    async def _outcome(self, future: Future) -> Any:
        # Released when the work ends, not when the awaiting task is cancelled: cancelling drops work that
        # has not started, but work already running holds its place until it finishes.
        future.add_done_callback(self._release)
        try:
            return await asyncio.wrap_future(future)
        except CganError as exc:  # a request the model cannot do, e.g. blending classes in an ONNX export
            raise invalid(str(exc)) from None

    async def run(self, work: Callable[[], T]) -> T:
        self._admit()
        return await self._outcome(self.executor.submit(work))

    async def draw(
        self, generator: TrainedGenerator, labels: list[int], seed: int, finish: Callable[[np.ndarray], T]
    ) -> T:
        """finish(images), images as generator.generate(labels, seed) draws them."""
        if len(labels) > BATCH_UP_TO:
            return await self.run(lambda: finish(generator.generate(labels, seed)))
        self._admit()
        job = Draw(generator, labels, seed, finish)
        self.draws.put(job)
        return await self._outcome(job.done)

    def close(self) -> None:
        self.draws.put(None)
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _release(self, _: Future) -> None:
        with self.lock:
            self.admitted -= 1

    def _draw_batches(self) -> None:
        while (job := self.draws.get()) is not None:
            batch, images = [job], len(job.labels)
            while images < GENERATE_BATCH and not self.draws.empty():
                if (job := self.draws.get()) is None:
                    self.draws.put(None)  # close() was called: stop after this batch
                    break
                batch.append(job)
                images += len(job.labels)
            for generator in {id(job.generator): job.generator for job in batch}.values():
                self._draw([job for job in batch if job.generator is generator])

    def _draw(self, jobs: list[Draw]) -> None:
        """The images of `jobs` (all of one generator) in one pass; each job's noise drawn from its own
        seed, as generate() draws it, so the images are the same as if drawn alone."""
        jobs = [job for job in jobs if job.done.set_running_or_notify_cancel()]
        if not jobs:
            return
        generator = jobs[0].generator
        try:
            z = torch.cat([noise(job.seed, len(job.labels), generator.arch.latent_dim) for job in jobs])
            labels = torch.tensor([label for job in jobs for label in job.labels], dtype=torch.long)
            images = generator.render(z, labels)
        except Exception as exc:
            for job in jobs:
                job.done.set_exception(exc)
            return
        start = 0
        for job in jobs:
            mine, start = images[start : start + len(job.labels)], start + len(job.labels)
            self.executor.submit(self._finish, job, mine)

    @staticmethod
    def _finish(job: Draw, images: np.ndarray) -> None:
        try:
            job.done.set_result(job.finish(images))
        except Exception as exc:
            job.done.set_exception(exc)
