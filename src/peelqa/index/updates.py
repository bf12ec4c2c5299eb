"""Work on the index done away from the serving process: checking a report, building a
generation.

A reader runs on bytes someone uploaded and may crash on them; embedding a report is seconds
of CPU that, in the serving process, would hold its interpreter lock. Both run in a `Worker`,
a process of its own at a lower priority, and the process that answers questions carries on
whatever happens there.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio

# Written by a build while it embeds, read by whoever shows its progress (any server process).
PROGRESS_FILE = ".progress.json"
# A progress file this old belongs to a build that died.
PROGRESS_STALE_S = 30.0
# The worker yields the cores to the serving process whenever it wants them: a build uses
# what answering leaves idle.
WORKER_NICENESS = 10


class WorkerFailed(Exception):
    """The worker process died, or the call raised there (the message says which)."""


@dataclass(frozen=True)
class Checked:
    """What reading a report file found: its description, or why it is not a report."""

    file: str
    ok: bool
    code: str = ""
    message: str = ""
    title: str = ""
    format: str = ""
    pages: int | None = None
    sections: int = 0


def check_report(path: str, *, index_dir: str, model_id: str) -> Checked:
    """Read a report file as a build would, and keep the reading for the build (its part)."""
    from peelqa.index.build import part_version, read_part
    from peelqa.index.parts import PARTS_DIR, PartStore
    from peelqa.index.store import sha256_file
    from peelqa.reports.elements import UnreadableReport

    p = Path(path)
    sha = sha256_file(p)
    store = PartStore(Path(index_dir) / PARTS_DIR, version=part_version(model_id))
    part = store.load(p.name, sha)
    if part is None:
        try:
            part = read_part(p, sha256=sha)
        except UnreadableReport as e:
            return Checked(p.name, ok=False, code=e.code, message=e.message)
        if not part.sentences:
            return Checked(p.name, ok=False, code="empty", message=f"{p.name} holds no text")
        store.save(part)
    d = part.document
    return Checked(
        p.name, ok=True, title=d.title, format=d.format, pages=d.pages, sections=len(d.sections)
    )


def build_generation(settings_json: str) -> bool:
    """Bring the index up to date with the corpus folder (a no-op when it already is); True
    when a new generation was written."""
    from peelqa.config import Settings
    from peelqa.runtime import ensure_index

    settings = Settings.from_json(settings_json)
    progress = ProgressFile(settings.index / PROGRESS_FILE)
    try:
        return ensure_index(settings, progress) is not None
    finally:
        progress.clear()


class ProgressFile:
    """A build's progress as a small JSON file, replaced whole at most every 0.2 s."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.2 and done < total:
            return
        self._last = now
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"done": done, "total": total, "at": time.time()}))
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def read_progress(index_dir: Path) -> float | None:
    """The running build's share of passages embedded (0 to 1), or None when none is."""
    try:
        raw = json.loads((index_dir / PROGRESS_FILE).read_text())
        if time.time() - float(raw["at"]) > PROGRESS_STALE_S:
            return None
        return min(1.0, int(raw["done"]) / max(1, int(raw["total"])))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def warm() -> None:
    """Import what reading and building need, ahead of the first call that needs it."""
    for module in ("faiss", "onnxruntime", "pypdfium2", "peelqa.index.build", "peelqa.runtime"):
        importlib.import_module(module)


def _serve(conn: Connection) -> None:
    """The worker's loop: a call in, its result (or its error) out, until the pipe closes."""
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        try:
            conn.send(("ok", fn(*args, **kwargs)))
        except Exception as e:
            conn.send(("error", f"{type(e).__name__}: {e}"))


class Worker:
    """One process of its own (a fresh interpreter, `python -m peelqa.index.updates`, so that
    it inherits no threads and needs nothing of the parent's main module) that runs calls one
    at a time; started on the first call, and again after it dies. A call that is cancelled
    (or times out) ends the process: its result would otherwise arrive as the answer to the
    next call."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._lock = anyio.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            conn = self._start()
            try:
                conn.send((fn, args, kwargs))
                status, value = await anyio.to_thread.run_sync(conn.recv, abandon_on_cancel=True)
            except (EOFError, OSError) as e:
                self.stop()
                raise WorkerFailed(f"the worker process stopped ({type(e).__name__})") from e
            except BaseException:
                self.stop()
                raise
        if status == "error":
            raise WorkerFailed(value)
        return value

    def _start(self) -> Connection:
        if self.pid is not None and self._conn is not None:
            return self._conn
        self.stop()
        parent, child = multiprocessing.Pipe()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "peelqa.index.updates", str(child.fileno())],
            pass_fds=[child.fileno()],
            stdin=subprocess.DEVNULL,
        )
        child.close()
        self._conn = parent
        return parent

    def stop(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._proc, self._conn = None, None


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1])))
