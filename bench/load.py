"""The load generator: keep-alive connections over loopback, sending `POST /v1/ask` back to
back, and the latency summaries of what they measured.

A bare asyncio client (no HTTP library) run on uvloop, so that the load generator takes as
little as possible of the cores it shares with the server under test.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float


@dataclass(frozen=True)
class LoadResult:
    """One load: `concurrency` connections; latencies of the requests answered 200."""

    concurrency: int
    requests: int  # sent, answered or not
    errors: int
    rps: float  # answered requests a second of the whole load
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    error_kinds: dict[str, int] = field(default_factory=dict)


def summarise(latencies: list[float]) -> Latency:
    """Percentiles (nearest rank) and mean, in ms, of latencies in seconds."""
    if not latencies:
        nan = float("nan")
        return Latency(nan, nan, nan, nan)
    xs = sorted(latencies)

    def pct(p: float) -> float:
        return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] * 1000

    return Latency(p50_ms=pct(50), p95_ms=pct(95), p99_ms=pct(99), mean_ms=1000 * sum(xs) / len(xs))


def ask_request(question: str) -> bytes:
    body = json.dumps({"question": question}).encode()
    head = (
        f"POST /v1/ask HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> str:
    """Send one request on a keep-alive connection and read its whole response; its status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return head[9:12].decode()


async def load(
    port: int, questions: list[str], *, concurrency: int, per_conn: int, limit_s: float
) -> LoadResult:
    """`concurrency` keep-alive connections, each sending `per_conn` questions back to back
    (stopping early after `limit_s`)."""
    requests = [ask_request(q) for q in questions]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + limit_s

    async def conn(k: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for i in range(per_conn):
                if time.perf_counter() > deadline:
                    return
                req = requests[(k * 7 + i) % len(requests)]
                t = time.perf_counter()
                status = await exchange(reader, writer, req)
                if status == "200":
                    latencies.append(time.perf_counter() - t)
                else:
                    errors[status] = errors.get(status, 0) + 1
        except (OSError, asyncio.IncompleteReadError) as e:
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(conn(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - start
    return LoadResult(
        concurrency=concurrency,
        requests=len(latencies) + sum(errors.values()),
        errors=sum(errors.values()),
        rps=len(latencies) / elapsed if elapsed else 0.0,
        error_kinds=errors,
        **asdict(summarise(latencies)),
    )


async def alternate(ports: list[int], questions: list[str], *, rounds: int) -> list[list[float]]:
    """One keep-alive connection to each server; each round asks every question of one server,
    then of the next (the order swapped from round to round), one request at a time.

    A round is short against the swings of a shared machine, so the servers share its
    conditions; within a round a server answers back to back, as in `load`. Alternating every
    request instead would leave each server idle between its requests, and the cost of waking
    up would add the same amount to both servers' answers: a larger base that flatters their
    ratio.
    """
    requests = [ask_request(q) for q in questions]
    conns = [await asyncio.open_connection(HOST, port) for port in ports]
    latencies: list[list[float]] = [[] for _ in ports]
    try:
        for r in range(rounds):
            for k in range(len(conns)) if r % 2 == 0 else reversed(range(len(conns))):
                reader, writer = conns[k]
                for req in requests:
                    t = time.perf_counter()
                    if (status := await exchange(reader, writer, req)) != "200":
                        raise RuntimeError(f"server {k} answered {status}")
                    latencies[k].append(time.perf_counter() - t)
    finally:
        for _, writer in conns:
            writer.close()
    return latencies
