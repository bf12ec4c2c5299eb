"""The background writer: answers reach the database from one thread, in batches, so that
the event loop never waits on a disk or a network database.

The loop only puts a record on a bounded queue (no I/O, no serialising). The thread takes
whatever has gathered while it was writing and writes it in one transaction; at a steady load
of many answers a second that is one commit for dozens of them. A full queue (the database far
slower than the questions, or down) drops the record and counts it: an answer is never held
up, let alone failed, for its log entry.
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger("peelqa.storage")

T = TypeVar("T")

# Seconds between two logged failures: a database that is down fails every batch, and one
# traceback a minute (with the count of the others) says as much as thousands.
LOG_EVERY_S = 60.0


class Writer(Generic[T]):
    def __init__(
        self,
        *,
        write: Callable[[list[T]], None],
        periodic: Callable[[], None],
        every: float,
        max_queue: int,
        max_batch: int,
        count: Callable[[str, int], None],
        name: str = "peelqa-storage",
    ) -> None:
        """`write` a batch (raising on failure); `periodic` runs at start and every `every`
        seconds; `count(outcome, n)` is told of written, failed and dropped records."""
        self._write, self._periodic, self._every = write, periodic, every
        self._max_batch, self._count = max_batch, count
        self._queue: queue.Queue[T | None] = queue.Queue(max_queue)
        self._done = threading.Condition()
        self._submitted = 0
        self._handled = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._logged_at = -LOG_EVERY_S
        self._unlogged = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, item: T) -> bool:
        """Queue an item without waiting; False (and counted as dropped) when the queue is full."""
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._count("dropped", 1)
            return False
        with self._done:
            self._submitted += 1
        return True

    def flush(self, timeout: float) -> bool:
        """Wait until every item submitted before this call is written (or has failed)."""
        with self._done:
            target = self._submitted
            return self._done.wait_for(lambda: self._handled >= target, timeout=timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        if not self._thread.is_alive():
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.error("storage writer: queue still full at shutdown; unwritten answers are lost")
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        due = time.monotonic()
        while True:
            if time.monotonic() >= due:
                self._guarded(self._periodic, "periodic task")
                due = time.monotonic() + self._every
            try:
                first = self._queue.get(timeout=max(0.0, due - time.monotonic()))
            except queue.Empty:
                continue
            batch, stop = self._gather(first)
            if batch:
                write = functools.partial(self._write, batch)
                if self._guarded(write, f"writing {len(batch)} record(s)"):
                    self._count("written", len(batch))
                else:
                    self._count("failed", len(batch))
            with self._done:
                self._handled += len(batch)
                self._done.notify_all()
            if stop:
                return

    def _gather(self, first: T | None) -> tuple[list[T], bool]:
        """The first item and whatever else is waiting, up to a batch; whether to stop after."""
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _guarded(self, work: Callable[[], None], what: str) -> bool:
        try:
            work()
        except Exception:  # the thread must outlive any database failure
            now = time.monotonic()
            if now - self._logged_at >= LOG_EVERY_S:
                more = f" ({self._unlogged} more failure(s) since the last one logged)"
                log.exception("storage writer: %s failed%s", what, more if self._unlogged else "")
                self._logged_at, self._unlogged = now, 0
            else:
                self._unlogged += 1
            return False
        return True
