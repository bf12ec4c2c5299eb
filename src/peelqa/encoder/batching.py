"""Coalescing concurrent encode calls into shared encoder batches.

The server's requests await `BatchingEmbedder.encode_async` on the event loop. Their texts
wait in a list on the loop, and once the loop has read every request already sent (the list
stopped growing for one turn of the loop) the loop runs the encoder once for all of them. A run
of 32 short questions costs a few times one question, not 32 times. While the encoder runs the
loop reads nothing, so the next batch is whatever arrived meanwhile.

The encoder runs on the loop's own thread rather than in a worker thread: with a worker thread
every question paid for two hand-overs between the threads and their contention for the GIL
(docs/decisions/2026-11-26-encoder-on-the-loop.md). ONNX Runtime's own threads still share
each run across the cores it was given.

Other callers (`peelqa ask`, `peelqa eval`, threads) call `encode`: their texts wait in one
bounded queue for a worker thread that takes every text queued and encodes them in one run.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import anyio
import numpy as np

from peelqa.encoder.base import Embedder, Vectors

# 64 questions: past that a batch's padding and the wait of its first member cost more than a
# second run of the encoder.
MAX_BATCH = 64
# 256 questions waiting: at a few ms each, the last of them is still answered within a second
# or so; a client beyond that is better told to come back (503 + Retry-After) than kept waiting.
MAX_QUEUE = 256


class EncoderBusy(Exception):
    """The encoder queue is full: the caller should retry shortly."""


@dataclass
class _Job:
    texts: list[str]
    # Wakes whoever waits for the job: a thread's Event, or a coroutine's future on its loop.
    notify: Callable[[], None]
    result: Vectors | None = None
    error: BaseException | None = None
    abandoned: bool = False

    def outcome(self) -> Vectors:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


@dataclass
class BatchStats:
    batches: int = 0
    texts: int = 0
    largest: int = 0


class BatchingEmbedder:
    """An `Embedder` whose `encode` (from threads) and `encode_async` (from the event loop) are
    served in shared batches."""

    def __init__(
        self,
        inner: Embedder,
        *,
        window_s: float = 0.0,
        max_batch: int = MAX_BATCH,
        max_queue: int = MAX_QUEUE,
    ) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.window_s = window_s
        self.max_batch = max_batch
        self.stats = BatchStats()
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        # Each event loop's questions waiting for its next batch, touched on that loop only.
        # One loop in a server process; tests run several apps, each on a loop of its own.
        self._pending: dict[asyncio.AbstractEventLoop, list[_Job]] = {}

    def encode(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if threading.current_thread() is self._worker:
            return self.inner.encode(texts)
        done = threading.Event()
        job = _Job(list(texts), done.set)
        self._submit(job)
        done.wait()
        return job.outcome()

    async def encode_async(self, texts: list[str]) -> Vectors:
        """`encode` for the event loop: the texts join the loop's next batch, which the loop
        runs itself once the requests already sent have all been read."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        loop = asyncio.get_running_loop()
        pending = self._pending.setdefault(loop, [])
        if len(pending) >= self._queue.maxsize:  # the same bound as the thread's queue
            raise self._busy()
        ready: asyncio.Future[None] = loop.create_future()
        job = _Job(list(texts), partial(_resolve, ready))
        pending.append(job)
        if len(pending) == 1:
            self._schedule(loop)
        try:
            await ready
        except asyncio.CancelledError:
            job.abandoned = True  # its caller has gone (a deadline): the batch skips it
            raise
        return job.outcome()

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.window_s > 0:
            loop.call_later(self.window_s, self._flush, loop, None)
        else:
            loop.call_soon(self._flush, loop, 0)

    def _flush(self, loop: asyncio.AbstractEventLoop, seen: int | None) -> None:
        """Run the loop's batch, or wait one more turn of the loop while it still grows (the
        requests read in this turn reach `encode_async` in the next one or two)."""
        pending = self._pending[loop]
        # As many questions as fit in `max_batch` texts (a follow-up brings two), at least one.
        taken = texts = 0
        for job in pending:
            if taken and texts + len(job.texts) > self.max_batch:
                break
            taken, texts = taken + 1, texts + len(job.texts)
        growing = seen is not None and seen < len(pending)
        if growing and taken == len(pending) and texts < self.max_batch:
            loop.call_soon(self._flush, loop, len(pending))
            return
        jobs = pending[:taken]
        del pending[:taken]
        if pending:
            self._schedule(loop)
        else:
            del self._pending[loop]  # a loop that has ended is not kept alive here
        self._serve(jobs)

    def waiting(self) -> int:
        """Questions waiting for a batch, on event loops and in the thread's queue."""
        return self._queue.qsize() + sum(len(jobs) for jobs in self._pending.values())

    def close(self) -> None:
        """Stop the worker once the questions already queued are done."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout=10)

    def _submit(self, job: _Job) -> None:
        self._start()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise self._busy() from None

    def _busy(self) -> EncoderBusy:
        return EncoderBusy(f"{self._queue.maxsize} questions are already waiting for the encoder")

    def _start(self) -> None:
        if self._worker is not None:
            return
        with self._lock:
            if self._worker is None:
                # A daemon: a process that forgets close() still exits.
                self._worker = threading.Thread(target=self._run, name="encoder", daemon=True)
                self._worker.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            size = len(first.texts)
            deadline = time.monotonic() + self.window_s
            stop = False
            while size < self.max_batch:
                try:
                    wait = deadline - time.monotonic()
                    nxt = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
                size += len(nxt.texts)
            self._serve(jobs)
            if stop:
                return

    def _serve(self, jobs: list[_Job]) -> None:
        jobs = [j for j in jobs if not j.abandoned]
        if not jobs:
            return
        texts = [t for j in jobs for t in j.texts]
        try:
            vectors = self.inner.encode(texts)
        except BaseException as e:  # every waiting caller gets the failure, none hangs
            for j in jobs:
                j.error = e
                j.notify()
            return
        self.stats.batches += 1
        self.stats.texts += len(texts)
        self.stats.largest = max(self.stats.largest, len(texts))
        start = 0
        for j in jobs:
            j.result = vectors[start : start + len(j.texts)].copy()
            start += len(j.texts)
            j.notify()


def _resolve(ready: asyncio.Future[None]) -> None:
    if not ready.done():  # its waiter may have been cancelled (a deadline) meanwhile
        ready.set_result(None)


async def encode_async(embedder: Embedder, texts: list[str]) -> Vectors:
    """Encode from the event loop: in the loop's shared batch when `embedder` batches (the
    server's does), else in a worker thread."""
    if isinstance(embedder, BatchingEmbedder):
        return await embedder.encode_async(texts)
    # A caller cancelled meanwhile (its deadline) returns at once; the thread finishes alone.
    return await anyio.to_thread.run_sync(embedder.encode, texts, abandon_on_cancel=True)
