"""The servers under test, started as a user would (`peelqa serve`, `peelqa ask`), and the
peer they are compared with (bench/peer.py).

A server counts as ready when `GET /healthz` answers 200; its memory is the peak resident set
of all its processes. `serve_run` is one measured run of a server: a warm-up load, then the
loads at each concurrency level.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import uvloop

from bench.corpora import Built
from bench.inputs import BENCH, OUT, PEELQA
from bench.load import HOST, LoadResult, alternate, load, summarise

# Every question computed: the answer cache off, so each request encodes, searches and
# composes. The default server keeps answers to repeated questions, and the bench's questions
# repeat (the dev set, over and over): with the cache on it measures cache hits, reported apart.
COMPUTED = {"PEELQA_ANSWER_CACHE": "0"}
LEVELS = (1, 8, 32)


@dataclass(frozen=True)
class Config:
    env: dict[str, str]
    workers: int | None  # None: no --workers, the default command (one worker per core)
    label: str  # as the table shows it


# The default command's rate limits stay on (counted in memory, what every request pays), set
# far above the load: every request of the load comes from one address.
DEFAULT_COMMAND = {**COMPUTED, "PEELQA_RATE_LIMIT": "1000000000"}

CONFIGS = {
    "computed": Config(dict(COMPUTED), 1, "1 worker, every question computed"),
    "cached": Config({}, 1, "1 worker, repeated questions (answer cache)"),
    "computed_2workers": Config(dict(COMPUTED), 2, "2 workers, every question computed"),
    "default": Config(
        DEFAULT_COMMAND,
        None,
        "default command (a worker per core, limits on), every question computed",
    ),
}


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def healthz(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as s:
            s.sendall(
                f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
            )
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            out += [int(child), *descendants(int(child))]
    return out


def peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) summed over the server's processes (with workers: the
    supervisor and every worker): what the server as a whole may hold at once."""
    total = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


@dataclass
class Server:
    port: int
    pid: int
    ready_s: float  # process start to the first /healthz 200
    peak_rss_mb: float = float("nan")  # read when the `serving` block ends


@contextmanager
def serving(
    built: Built, *, env: dict[str, str] | None = None, workers: int | None = 1
) -> Iterator[Server]:
    """`peelqa serve` on a free port of loopback, from process start until /healthz is 200;
    `workers` None: without --workers, as the default command runs."""
    port = free_port()
    cmd = [*PEELQA, "serve", "--corpus", str(built.corpus), "--index", str(built.index)]
    cmd += ["--port", str(port)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    t0 = time.perf_counter()
    # No rate limit: every request of the load comes from one address.
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "PEELQA_RATE_LIMIT": "0", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not healthz(port):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {' '.join(cmd)}")
            if time.perf_counter() - t0 > 120:
                raise RuntimeError("server not ready after 120 s")
            time.sleep(0.01)
        server = Server(port=port, pid=proc.pid, ready_s=time.perf_counter() - t0)
        yield server
        server.peak_rss_mb = peak_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- measured runs


@dataclass(frozen=True)
class RunResult:
    """One server run: its start, its memory, and a load at each concurrency level."""

    ready_s: float
    peak_rss_mb: float
    levels: dict[int, LoadResult]

    def at(self, concurrency: int) -> LoadResult:
        return self.levels[concurrency]


def serve_run(
    built: Built,
    questions: list[str],
    *,
    env: dict[str, str] | None = None,
    workers: int | None = 1,
    levels: tuple[int, ...] = LEVELS,
    c1_rounds: int = 3,
) -> RunResult:
    """Start a server, warm it up with a short load, then load it at each level in turn."""
    results: dict[int, LoadResult] = {}
    with serving(built, env=env, workers=workers) as srv:
        uvloop.run(load(srv.port, questions, concurrency=4, per_conn=len(questions), limit_s=20))
        for c in levels:
            # 1 connection: every question `c1_rounds` times. More: 100 questions a connection
            # (at most 20 s), so that the opening of the connections and the first batches
            # weigh little in the figure.
            per_conn = c1_rounds * len(questions) if c == 1 else 100
            results[c] = uvloop.run(
                load(srv.port, questions, concurrency=c, per_conn=per_conn, limit_s=20)
            )
    return RunResult(ready_s=srv.ready_s, peak_rss_mb=srv.peak_rss_mb, levels=results)


def median_run(runs: list[RunResult]) -> RunResult:
    """Each figure the median of the runs' (`error_kinds`: summed over them)."""

    def level(c: int) -> LoadResult:
        xs = [r.at(c) for r in runs]
        kinds: dict[str, int] = {}
        for x in xs:
            for k, n in x.error_kinds.items():
                kinds[k] = kinds.get(k, 0) + n
        return LoadResult(
            concurrency=c,
            requests=statistics.median_low(x.requests for x in xs),
            errors=statistics.median_low(x.errors for x in xs),
            rps=statistics.median(x.rps for x in xs),
            p50_ms=statistics.median(x.p50_ms for x in xs),
            p95_ms=statistics.median(x.p95_ms for x in xs),
            p99_ms=statistics.median(x.p99_ms for x in xs),
            mean_ms=statistics.median(x.mean_ms for x in xs),
            error_kinds=kinds,
        )

    return RunResult(
        ready_s=statistics.median(r.ready_s for r in runs),
        peak_rss_mb=statistics.median(r.peak_rss_mb for r in runs),
        levels={c: level(c) for c in runs[0].levels},
    )


@dataclass(frozen=True)
class SizeRuns:
    """One corpus served at 1 client, once a round, and the medians of its rounds."""

    built: Built
    runs: list[RunResult]
    median: RunResult


@dataclass(frozen=True)
class SideBySide:
    small_p50_ms: float
    big_p50_ms: float
    ratio: float
    requests: int  # per server


def side_by_side(small: Built, big: Built, questions: list[str], *, rounds: int) -> SideBySide:
    """c1 p50 of two servers up at once, asked in alternate rounds (`alternate`): their ratio
    is the larger corpus's own cost, with less of the machine's swings between one server's
    run and the other's than separate runs have."""
    with (
        serving(small, env=COMPUTED) as a,
        serving(big, env=COMPUTED) as b,
    ):
        ports = [a.port, b.port]
        uvloop.run(alternate(ports, questions, rounds=1))  # warm-up
        la, lb = uvloop.run(alternate(ports, questions, rounds=rounds))
    pa, pb = summarise(la).p50_ms, summarise(lb).p50_ms
    return SideBySide(small_p50_ms=pa, big_p50_ms=pb, ratio=pb / pa, requests=len(la))


def ask_wall(questions: list[str], built: Built, times: int) -> list[float]:
    """Wall time of `peelqa ask` (process start to exit, index built), `times` questions."""
    walls = []
    for i in range(times):
        t = time.perf_counter()
        subprocess.run(
            [
                *PEELQA,
                "ask",
                questions[i % len(questions)],
                "--corpus",
                str(built.corpus),
                "--index",
                str(built.index),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        walls.append(time.perf_counter() - t)
    return walls


# ---------------------------------------------------------------- the peer


@dataclass(frozen=True)
class PeerRun:
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    load_s: float  # imports, model and index loading
    rps_sequential: float  # questions a second, one at a time
    n: int
    threads: int | None = None  # torch threads; None: torch's default
    runs: int = 1  # > 1 for a median of runs


def run_peer(gen: Path, questions: list[str], rounds: int, threads: int | None = None) -> PeerRun:
    qfile = OUT / "questions.json"
    qfile.write_text(json.dumps(questions))
    out = subprocess.run(
        [sys.executable, str(BENCH / "peer.py"), str(gen), str(qfile), "--rounds", str(rounds)]
        + (["--threads", str(threads)] if threads else []),
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    lat: list[float] = data["latencies"]
    s = summarise(lat)
    return PeerRun(
        p50_ms=s.p50_ms,
        p95_ms=s.p95_ms,
        p99_ms=s.p99_ms,
        mean_ms=s.mean_ms,
        load_s=float(data["load_s"]),
        rps_sequential=len(lat) / sum(lat),
        n=len(lat),
        threads=threads,
    )


def median_peer(runs: list[PeerRun]) -> PeerRun:
    """The peer as written (torch's default threads): each figure the median of its runs."""
    xs = [p for p in runs if p.threads is None]

    def med(name: str) -> float:
        return statistics.median(float(getattr(p, name)) for p in xs)

    return replace(
        xs[0],
        p50_ms=med("p50_ms"),
        p95_ms=med("p95_ms"),
        p99_ms=med("p99_ms"),
        mean_ms=med("mean_ms"),
        load_s=med("load_s"),
        rps_sequential=med("rps_sequential"),
        n=sum(p.n for p in xs),
        runs=len(xs),
    )
