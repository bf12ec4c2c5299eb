"""The cost per request of the rate limits (peelqa.server.ratelimit), in this process's memory
and in a real Redis: what `AccessGuard` pays on every /v1 request before any model work.

Measured in-process on one event loop, as a server runs them: a request's checks (one count
with keys off; the (key, address) count and the key's ceiling with keys on), then a turn of the
loop, as between requests, so that whatever the storage schedules runs and is counted too. The
time of a bare turn is subtracted. Also with 10,000 callers counted in the last minutes (what a
busy intranet, or an address-cycling client, leaves in memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

from peelqa.server.ratelimit import RateLimits

REQUESTS = 3000
ROUNDS = 5
MANY_CALLERS = 10_000


@dataclass(frozen=True)
class LimiterCost:
    store: str  # "memory" or "redis"
    # Wall time per request (one request at a time: Redis's round trips included), medians
    # of the rounds; and this process's CPU time per request, what throughput pays.
    keys_off_us: float
    keys_on_us: float
    keys_on_many_callers_us: float  # with MANY_CALLERS counted already
    keys_off_cpu_us: float
    keys_on_cpu_us: float


@contextlib.contextmanager
def _redis() -> Iterator[str | None]:
    """A throwaway redis-server on a free loopback port, or None when it is not installed."""
    exe = shutil.which("redis-server")
    if exe is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


async def _per_request_us(
    limits: RateLimits, *, key: str | None, callers: list[str]
) -> tuple[float, float]:
    """(wall, CPU) microseconds a request."""

    async def run(work: bool) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for n in range(REQUESTS):
            if work:
                await limits.admit(key=key, address=callers[n % len(callers)])
            await asyncio.sleep(0)
        return time.perf_counter() - wall, time.process_time() - cpu

    bare, bare_cpu = await run(False)
    wall, cpu = await run(True)
    return (wall - bare) / REQUESTS * 1e6, (cpu - bare_cpu) / REQUESTS * 1e6


async def _measure(store: str, url: str) -> LimiterCost:
    # Limits far above the load: every request is counted and let through.
    limits = RateLimits(
        per_minute=10**9, key_per_minute=10**9, auth_failures_per_minute=20, redis_url=url
    )
    few = [f"10.1.0.{n}" for n in range(100)]
    many = [f"10.2.{n // 256}.{n % 256}" for n in range(MANY_CALLERS)]
    off, on, crowded = [], [], []
    try:
        for address in many:
            await limits.admit(key="bench", address=address)
        for _ in range(ROUNDS):
            off.append(await _per_request_us(limits, key=None, callers=few))
            on.append(await _per_request_us(limits, key="bench", callers=few))
            crowded.append(await _per_request_us(limits, key="bench", callers=many))
    finally:
        await limits.close()
    return LimiterCost(
        store=store,
        keys_off_us=statistics.median(w for w, _ in off),
        keys_on_us=statistics.median(w for w, _ in on),
        keys_on_many_callers_us=statistics.median(w for w, _ in crowded),
        keys_off_cpu_us=statistics.median(c for _, c in off),
        keys_on_cpu_us=statistics.median(c for _, c in on),
    )


def limiter_costs() -> list[LimiterCost]:
    """In memory, and in Redis when redis-server is installed."""
    costs = [asyncio.run(_measure("memory", ""))]
    with _redis() as url:
        if url is not None:
            costs.append(asyncio.run(_measure("redis", url)))
    return costs
