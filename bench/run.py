"""`make bench`: peelqa against a hand-rolled encode-and-search script, on this machine.

Measures in one run, all over loopback:
  (a) the peer: bare in-process SentenceTransformer.encode + FAISS search, one question at a
      time (bench/peer.py), same questions, same packaged model, same chunk index;
  (b) POST /v1/ask over HTTP at concurrency 1, 8 and 32: p50, p95, p99, requests/s, errors;
  (c) cold start: process start to /healthz 200 (index already built) and one `peelqa ask`;
  (d) peak RSS of the server; (e) index build time, size and query latency for corpora of 1,
      10, 100 and 1,000 reports (bench/synth.py), and HNSW recall against the exact index.
Medians over --runs server runs. Writes bench/results.json and bench/*.png, prints a table.
Built synthetic corpora and indexes are kept in bench/out/ (git-ignored) and reused; their
build time is the one measured when they were built.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
OUT = BENCH / "out"
REAL = ROOT / "corpus" / "peel-2015-northamptonshire.txt"
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
PEELQA = [sys.executable, "-m", "peelqa.cli"]
SIZES = [1, 10, 100, 1000]
# The targets, checked at the end.
# Every question computed: the answer cache off, so each request encodes, searches and composes.
# The default server keeps answers to repeated questions; the bench's questions repeat (the
# dev set, over and over), so with the cache on it measures cache hits, reported apart.
COMPUTED = {"PEELQA_ANSWER_CACHE": "0"}
# name: (environment, workers, label in the table)
CONFIGS = {
    "computed": ({**COMPUTED}, 1, "1 worker, every question computed"),
    "cached": ({}, 1, "1 worker, repeated questions (answer cache)"),
    "computed_2workers": ({**COMPUTED}, 2, "2 workers, every question computed"),
}
TARGETS = {
    "c1_p50_vs_peer": 1.0,
    "c32_rps_vs_peer": 6.0,
    "c32_p99_ms": 250.0,
    "cold_start_s": 3.0,
    "ask_wall_s": 3.0,
    "peak_rss_mb": 500.0,
    "p50_1000_vs_1": 1.3,
}


# ---------------------------------------------------------------- machine and conditions


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    import onnxruntime

    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(mem_kb / 1024**2, 1),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "kernel": platform.release(),
    }


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def wait_quiet(limit_s: float) -> float:
    """Wait (bounded) for other work on this shared machine to calm down; return the load."""
    deadline = time.monotonic() + limit_s
    while loadavg() > 0.7 and time.monotonic() < deadline:
        time.sleep(5)
    return loadavg()


# ---------------------------------------------------------------- HTTP over raw sockets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthz(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def ask_request(question: str) -> bytes:
    body = json.dumps({"question": question}).encode()
    head = (
        "POST /v1/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
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
) -> dict[str, Any]:
    """`concurrency` keep-alive connections, each sending questions back to back.

    A bare asyncio client (no HTTP library), run on uvloop, so that the load generator takes as
    little as possible of the two cores it shares with the server (0.065 against 0.11 ms of
    CPU a request on asyncio's own loop).
    """
    requests = [ask_request(q) for q in questions]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + limit_s

    async def conn(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
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
    return summarise(latencies) | {
        "concurrency": concurrency,
        "requests": len(latencies) + sum(errors.values()),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
    }


async def alternate(ports: list[int], questions: list[str], *, rounds: int) -> list[list[float]]:
    """One keep-alive connection to each server; each round asks every question of one server,
    then of the next (the order swapped from round to round), one request at a time.

    A round lasts ~0.1 s, so the servers share the machine's conditions, which swing over
    seconds; within a round a server answers back to back, as in `load`. (Alternating every
    request instead left each server idle between its requests, and waking up added ~1.5 ms
    to every answer at either size: a larger base that would flatter the ratio.)
    """
    requests = [ask_request(q) for q in questions]
    conns = [await asyncio.open_connection("127.0.0.1", port) for port in ports]
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


def summarise(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    xs = sorted(latencies)

    def pct(p: float) -> float:
        return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))] * 1000

    return {
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": 1000 * sum(xs) / len(xs),
    }


# ---------------------------------------------------------------- server processes


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


@contextmanager
def serving(
    *, corpus: Path, index: Path, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[dict[str, Any]]:
    port = free_port()
    cmd = [*PEELQA, "serve", "--corpus", str(corpus), "--index", str(index), "--port", str(port)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    t0 = time.perf_counter()
    # No rate limit: every request of the load comes from one address (127.0.0.1).
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "PEELQA_RATE_LIMIT": "0", **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    info: dict[str, Any] = {"port": port, "pid": proc.pid}
    try:
        while not healthz(port):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {' '.join(cmd)}")
            if time.perf_counter() - t0 > 120:
                raise RuntimeError("server not ready after 120 s")
            time.sleep(0.01)
        info["ready_s"] = time.perf_counter() - t0
        yield info
        info["peak_rss_mb"] = peak_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- corpora and builds


def corpus_for(size: int) -> Path:
    if size == 1:
        return ROOT / "corpus"
    path = OUT / f"corpus-{size}"
    if not path.is_dir():
        sys.path.insert(0, str(BENCH))
        from synth import generate

        generate(path, reports=size, real=REAL)
    return path


def _peelqa_build(corpus: Path, index: Path) -> float:
    t = time.perf_counter()
    subprocess.run(
        [*PEELQA, "build", "--corpus", str(corpus), "--index", str(index)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t


def _seed(index: Path, source: Path) -> None:
    """Start `index` from a copy (hard links) of `source`'s generation: the rebuild path of
    `peelqa build`, which reuses the ONNX export and encodes with it instead of torch."""
    from peelqa.index.store import current_generation

    gen = current_generation(source)
    index.mkdir(parents=True)
    shutil.copytree(gen, index / gen.name, copy_function=os.link)
    (index / "CURRENT").write_text(gen.name + "\n")


def build(size: int) -> dict[str, Any]:
    """Build (or reuse) the index of the corpus of `size` reports; its measured build time.

    Size 1 (the real corpus) is built twice: from nothing (torch import, sentence-transformers
    encoding and the ONNX export) and again as a rebuild. Larger corpora are rebuilds: they
    start from the size-1 index, as a user who adds reports to corpus/ would, and encode with
    ONNX Runtime. Those build times are the ones plotted.
    """
    from peelqa.config import Settings
    from peelqa.index.freshness import freshness
    from peelqa.index.store import current_generation
    from peelqa.runtime import export_check

    corpus, index = corpus_for(size), OUT / f"index-{size}"
    record = OUT / f"build-{size}.json"
    fresh = freshness(
        index_dir=index,
        corpus_dir=corpus,
        model_id="all-MiniLM-L6-v2",
        encoder_ok=export_check(Settings()),
    )
    times: dict[str, float] = {}
    if fresh != "fresh" or not record.is_file():
        shutil.rmtree(index, ignore_errors=True)
        if size == 1:
            times["first_build_s"] = _peelqa_build(corpus, index)
        else:
            _seed(index, OUT / "index-1")
        times["build_s"] = _peelqa_build(corpus, index)
        record.write_text(json.dumps(times))
        cached = False
    else:
        cached = True
    times = json.loads(record.read_text())
    gen = current_generation(index)
    manifest = json.loads((gen / "manifest.json").read_text())
    index_bytes = sum(
        f.stat().st_size for f in gen.rglob("*") if f.is_file() and "encoder" not in f.parts
    )
    encoder_bytes = sum(f.stat().st_size for f in (gen / "encoder").rglob("*") if f.is_file())
    return {
        "reports": size,
        **times,
        "cached": cached,
        "chunks": manifest["chunks"],
        "sentences": manifest["sentences"],
        "index_mb": index_bytes / 1e6,
        "encoder_mb": encoder_bytes / 1e6,
        "dense_index": manifest.get("dense_index", "flat"),
        "corpus": str(corpus),
        "index": str(index),
        "gen": str(gen),
    }


# ---------------------------------------------------------------- the measurements


def run_peer(
    gen: Path, questions: list[str], rounds: int, threads: int | None = None
) -> dict[str, Any]:
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
    lat = data["latencies"]
    return summarise(lat) | {
        "load_s": data["load_s"],
        "rps_sequential": len(lat) / sum(lat),
        "n": len(lat),
        "threads": threads or "default",
    }


def serve_run(
    b: dict[str, Any],
    questions: list[str],
    *,
    env: dict[str, str] | None = None,
    workers: int = 1,
    levels: tuple[int, ...] = (1, 8, 32),
    c1_rounds: int = 3,
) -> dict[str, Any]:
    corpus, index = Path(b["corpus"]), Path(b["index"])
    result: dict[str, Any] = {}
    with serving(corpus=corpus, index=index, env=env, workers=workers) as srv:
        result["ready_s"] = srv["ready_s"]
        port = srv["port"]
        uvloop.run(load(port, questions, concurrency=4, per_conn=len(questions), limit_s=20))
        for c in levels:
            # 1 connection: every question `c1_rounds` times; more: 100 per connection, at most
            # 20 s (3,200 requests at 32 clients, ~4 s: 800 lasted under a second, and the
            # 32 connections' opening and the first batches weighed on the figure).
            per_conn = c1_rounds * len(questions) if c == 1 else 100
            result[f"c{c}"] = uvloop.run(
                load(port, questions, concurrency=c, per_conn=per_conn, limit_s=20)
            )
    result["peak_rss_mb"] = srv["peak_rss_mb"]
    return result


def side_by_side(
    small: dict[str, Any], big: dict[str, Any], questions: list[str], *, rounds: int
) -> dict[str, float]:
    """c1 p50 of two servers up at once, asked in alternate rounds (`alternate`): the ratio of
    the two is the corpus's own cost, with less of the machine's swings between one server's
    run and the other's, which moved the ratio of separate runs from 0.85 to 1.57 for the same
    code."""
    with (
        serving(corpus=Path(small["corpus"]), index=Path(small["index"]), env=COMPUTED) as a,
        serving(corpus=Path(big["corpus"]), index=Path(big["index"]), env=COMPUTED) as b,
    ):
        ports = [a["port"], b["port"]]
        uvloop.run(alternate(ports, questions, rounds=1))  # warm-up
        la, lb = uvloop.run(alternate(ports, questions, rounds=rounds))
    pa, pb = summarise(la)["p50_ms"], summarise(lb)["p50_ms"]
    return {"small_p50_ms": pa, "big_p50_ms": pb, "ratio": pb / pa, "requests": len(la)}


def ask_wall(questions: list[str], b: dict[str, Any], times: int) -> list[float]:
    walls = []
    for i in range(times):
        t = time.perf_counter()
        subprocess.run(
            [
                *PEELQA,
                "ask",
                questions[i % len(questions)],
                "--corpus",
                b["corpus"],
                "--index",
                b["index"],
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        walls.append(time.perf_counter() - t)
    return walls


def eval_figures(b: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [*PEELQA, "eval", str(DEV), "--json", "--corpus", b["corpus"], "--index", b["index"]],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    report = json.loads(out.stdout)
    return {"figures": report["figures"], "cases": report["cases"]}


def hnsw_study(b: dict[str, Any]) -> dict[str, Any]:
    """Recall@10 of HNSW against the exact index on the 1,000-report chunks (with the duplicate
    texts the synthetic reports repeat, and as the index stores them, each text once: duplicate
    vectors cut HNSW graphs apart), and the cost of an exact search as the number of
    vectors grows: what sets HNSW_MIN_CHUNKS."""
    import faiss
    import numpy as np

    from peelqa.index.build import HNSW_EF_CONSTRUCTION, HNSW_M

    gen = Path(b["gen"])
    stored = faiss.read_index(str(gen / "chunks.faiss"))  # one row per distinct chunk text
    distinct = stored.reconstruct_n(0, stored.ntotal)
    xb = distinct[np.load(gen / "chunk_rows.npy")]  # one row per chunk, duplicates and all
    sentences = np.load(gen / "sentences.npy")
    rng = np.random.default_rng(7)
    xq = sentences[rng.choice(len(sentences), size=min(500, len(sentences)), replace=False)]
    out: dict[str, Any] = {"chunks": len(xb), "unique_chunks": len(distinct)}
    out["queries"] = len(xq)
    for name, vecs in (("with_duplicates", xb), ("deduplicated", distinct)):
        exact_index = faiss.IndexFlatIP(xb.shape[1])
        exact_index.add(vecs)
        _, exact = exact_index.search(xq, 10)
        faiss.omp_set_num_threads(len(os.sched_getaffinity(0)))
        t = time.perf_counter()
        h = faiss.IndexHNSWFlat(xb.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        h.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        h.add(vecs)
        build_s = time.perf_counter() - t
        faiss.omp_set_num_threads(1)  # one question at a time, as the server searches
        per_ef = []
        for ef in (16, 64, 128, 256):
            h.hnsw.efSearch = ef
            t = time.perf_counter()
            for q in xq:
                h.search(q[None, :], 10)
            ms = (time.perf_counter() - t) / len(xq) * 1000
            _, got = h.search(xq, 10)
            recall = float(
                np.mean([len(set(a) & set(e)) / 10 for a, e in zip(got, exact, strict=True)])
            )
            per_ef.append({"ef_search": ef, "recall_at_10": recall, "ms_per_query": ms})
        out[name] = {"hnsw_build_s": build_s, "hnsw": per_ef}
    flat = faiss.IndexFlatIP(xb.shape[1])
    flat.add(xb)
    t = time.perf_counter()
    for q in xq:
        flat.search(q[None, :], 10)
    out["flat_ms_per_query"] = (time.perf_counter() - t) / len(xq) * 1000
    # Exact search cost against corpus size: random unit vectors stand in for more chunks.
    scaling = []
    for n in (2_000, 5_000, 10_000, 30_000, 100_000, 300_000):
        xs = rng.standard_normal((n, xb.shape[1]), dtype=np.float32)
        xs /= np.linalg.norm(xs, axis=1, keepdims=True)
        f = faiss.IndexFlatIP(xb.shape[1])
        f.add(xs)
        t = time.perf_counter()
        for q in xq[:100]:
            f.search(q[None, :], 10)
        scaling.append({"vectors": n, "flat_ms_per_query": (time.perf_counter() - t) * 10})
    out["flat_scaling"] = scaling
    faiss.omp_set_num_threads(len(os.sched_getaffinity(0)))
    return out


def _python_osa(a: str, b: str, budget: int) -> int:
    """The pure-Python edit distance lexicon.py used before rapidfuzz, for comparison."""
    if abs(len(a) - len(b)) > budget:
        return budget + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > budget:
            return budget + 1
        prev2, prev = prev, cur
    return prev[-1]


def spelling_cost(b: dict[str, Any], questions: list[str]) -> dict[str, float]:
    """ms per question of mending spelling towards the corpus (rapidfuzz against pure Python)."""
    from peelqa import lexicon
    from peelqa.index.store import load_index

    index = load_index(Path(b["index"]))
    texts = [d.title for d in index.documents] + [
        s.heading + "\n" + s.text for d in index.documents for s in d.sections
    ]
    out = {}
    fast = lexicon._edit_distance
    for name, fn in (("rapidfuzz_ms", fast), ("python_ms", _python_osa)):
        lexicon._edit_distance = fn  # type: ignore[assignment]
        # A new vocabulary each time: it remembers corrections, and the second would only
        # measure that memory.
        vocab = lexicon.Vocabulary(texts)
        vocab.mend("inspectoin")  # builds its lazy tables outside the timing
        t = time.perf_counter()
        mended = [vocab.mend(q) for q in questions]
        out[name] = (time.perf_counter() - t) / len(questions) * 1000
        out.setdefault("same", 1.0)
        if name == "rapidfuzz_ms":
            first = mended
        elif mended != first:
            out["same"] = 0.0
    lexicon._edit_distance = fast
    return out


def encoder_costs(b: dict[str, Any], questions: list[str]) -> dict[str, float]:
    """ms per question: the ONNX encoder (fp32 and the int8 question encoder) alone and in
    batches of 32, and sentence-transformers alone, measured in turns in one process; and the
    CPU time per question (all threads), which is what bounds requests/s on 2 cores."""
    import numpy as np

    from peelqa.encoder.sbert import SentenceTransformerEmbedder
    from peelqa.encoder.onnx import OnnxEmbedder

    onnx = OnnxEmbedder(Path(b["gen"]) / "encoder")
    int8 = OnnxEmbedder(Path(b["gen"]) / "encoder", precision="int8")
    st = SentenceTransformerEmbedder()
    batch = (questions * 2)[:32]
    runs = {
        "onnx_single": lambda: [onnx.encode([q]) for q in batch],
        "onnx_batch32": lambda: onnx.encode(batch),
        "int8_single": lambda: [int8.encode([q]) for q in batch],
        "int8_batch32": lambda: int8.encode(batch),
        "st_single": lambda: [st.encode([q]) for q in batch],
    }
    times: dict[str, list[float]] = {f"{k}_{u}": [] for k in runs for u in ("ms", "cpu_ms")}
    for _ in range(4):
        for name, fn in runs.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[f"{name}_ms"].append((time.perf_counter() - t) / len(batch) * 1000)
            times[f"{name}_cpu_ms"].append((time.process_time() - c) / len(batch) * 1000)
    out = {k: float(np.median(v[1:])) for k, v in times.items()}  # the first round warms up
    # A question's int8 vector alone against in a batch of 32: 0 when scales are per token.
    alone = np.stack([int8.encode([q])[0] for q in batch])
    out["int8_batch_vs_alone_max_abs"] = float(np.abs(alone - int8.encode(batch)).max())
    return out


# ---------------------------------------------------------------- report


def median_of(runs: list[dict[str, Any]], *path: str) -> float:
    vals = []
    for r in runs:
        v: Any = r
        for p in path:
            v = v[p]
        vals.append(float(v))
    return statistics.median(vals)


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "ready_s": median_of(runs, "ready_s"),
        "peak_rss_mb": median_of(runs, "peak_rss_mb"),
        **{
            f"c{c}": {
                k: median_of(runs, f"c{c}", k)
                for k in ("p50_ms", "p95_ms", "p99_ms", "rps", "errors", "requests")
            }
            for c in (1, 8, 32)
        },
    }


def plots(res: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [1, 8, 32]
    confs = res["configs"]
    colors = {"computed": "tab:green", "computed_2workers": "tab:blue", "cached": "tab:purple"}
    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    for name, conf in confs.items():
        for key, style in (("p50_ms", "o-"), ("p99_ms", "^:")):
            ax.plot(
                levels,
                [conf[f"c{c}"][key] for c in levels],
                style,
                color=colors.get(name, "tab:grey"),
                label=f"{name} {key[:3]}",
            )
    ax.axhline(res["peer"]["p50_ms"], color="grey", lw=1, label="peer p50 (median of runs)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(levels, [str(c) for c in levels])
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("POST /v1/ask latency (ms)")
    ax2 = ax.twinx()
    width = 0.8 / max(1, len(confs))
    for i, (name, conf) in enumerate(confs.items()):
        ax2.bar(
            [c * (1 + (i - (len(confs) - 1) / 2) * width * 0.3) for c in levels],
            [conf[f"c{c}"]["rps"] for c in levels],
            width=[0.1 * c for c in levels],
            alpha=0.2,
            color=colors.get(name, "tab:grey"),
        )
    for against, ls in (("peer", "--"), ("peer_best", ":")):
        ax2.axhline(
            res[against]["rps_sequential"] * TARGETS["c32_rps_vs_peer"],
            color="tab:red",
            lw=0.8,
            ls=ls,
        )
    ax2.set_ylabel("requests/s (bars; red: 6x peer, median -- / best ..)")
    ax.set_title(f"Latency against concurrency ({res['machine']['cores']} cores)")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(BENCH / "latency_vs_concurrency.png", dpi=110)
    plt.close(fig)

    sizes = [s["reports"] for s in res["scale"]]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    a1.plot(sizes, [s["c1"]["p50_ms"] for s in res["scale"]], "o-", label="p50")
    a1.plot(sizes, [s["c1"]["p95_ms"] for s in res["scale"]], "s--", label="p95")
    a1.set_xscale("log")
    a1.set_xlabel("reports in the corpus")
    a1.set_ylabel("POST /v1/ask latency, 1 client (ms)")
    a1.set_ylim(bottom=0)
    a1.legend(fontsize=8)
    a2.plot(sizes, [s["build_s"] for s in res["scale"]], "o-", color="tab:red")
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlabel("reports in the corpus")
    a2.set_ylabel("index build time (s)")
    fig.suptitle("Latency and build time against corpus size")
    fig.tight_layout()
    fig.savefig(BENCH / "corpus_size.png", dpi=110)
    plt.close(fig)


def table(res: dict[str, Any]) -> str:
    med, best = res["peer"], res["peer_best"]  # ratios against both (see check_targets)
    rows = [
        ("", "p50 ms", "p95 ms", "p99 ms", "req/s", "errors", "p50/peer", "req/s/peer", "/best")
    ]

    def ratios(p50: float, rps: float) -> tuple[str, str, str]:
        return (
            f"{p50 / med['p50_ms']:.2f}",
            f"{rps / med['rps_sequential']:.1f}",
            f"{rps / best['rps_sequential']:.1f}",
        )

    for label, p in (("peer, median of runs", med), ("peer, best run", best)):
        rows.append(
            (
                f"{label} (encode+search)",
                f"{p['p50_ms']:.1f}",
                f"{p['p95_ms']:.1f}",
                f"{p['p99_ms']:.1f}",
                f"{p['rps_sequential']:.0f}",
                "-",
                *ratios(p["p50_ms"], p["rps_sequential"]),
            )
        )
    for name, conf in res["configs"].items():
        for c in (1, 8, 32):
            r = conf[f"c{c}"]
            rows.append(
                (
                    f"peelqa, {CONFIGS[name][2]}, {c} clients",
                    f"{r['p50_ms']:.1f}",
                    f"{r['p95_ms']:.1f}",
                    f"{r['p99_ms']:.1f}",
                    f"{r['rps']:.0f}",
                    f"{r['errors']:.0f}",
                    *ratios(r["p50_ms"], r["rps"]),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        " | ".join(
            v.ljust(w) if i == 0 else v.rjust(w)
            for i, (v, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    t = res["targets"]
    lines += ["", "target                                        measured   goal     ok"]
    for k, v in t.items():
        lines.append(
            f"{k:45} {v['value']:>8.2f}   {v['op']} {v['goal']:<6} {'yes' if v['ok'] else 'NO'}"
        )
    lines += ["", "reports  chunks  build s  index MB  p50 ms  p95 ms"]
    for x in res["scale"]:
        lines.append(
            f"{x['reports']:>7} {x['chunks']:>7} {x['build_s']:>8.1f} {x['index_mb']:>9.1f} "
            f"{x['c1']['p50_ms']:>7.1f} {x['c1']['p95_ms']:>7.1f}"
        )
    return "\n".join(lines)


def check_targets(res: dict[str, Any]) -> dict[str, Any]:
    # Ratios against the peer twice: the median of its runs (the issue asks for medians), and
    # its best run (lowest p50), the strictest reading on a shared machine where torch's threads
    # suffer more from other work than ONNX Runtime's do. Throughput and tail for each server:
    # every question computed (what any new question costs) with 1 and 2 workers, and the
    # default server on the bench's repeated questions (answered from the cache).
    s = res["serve"]
    scale = {x["reports"]: x for x in res["scale"]}
    checks: dict[str, tuple[float, str, float]] = {}
    ratios = res["ratios"]
    for against in ("peer", "peer_best"):
        checks[f"c1_p50_vs_{against}"] = (
            ratios[f"{against}_computed"]["c1_p50"],
            "<=",
            TARGETS["c1_p50_vs_peer"],
        )
    for name, conf in res["configs"].items():
        for against in ("peer", "peer_best"):
            checks[f"{name}_c32_rps_vs_{against}"] = (
                ratios[f"{against}_{name}"]["c32_rps"],
                ">=",
                TARGETS["c32_rps_vs_peer"],
            )
        checks[f"{name}_c32_p99_ms"] = (conf["c32"]["p99_ms"], "<=", TARGETS["c32_p99_ms"])
        checks[f"{name}_c32_errors"] = (conf["c32"]["errors"], "<=", 0)
        checks[f"{name}_peak_rss_mb"] = (conf["peak_rss_mb"], "<=", TARGETS["peak_rss_mb"])
    checks["cold_start_s"] = (s["ready_s"], "<=", TARGETS["cold_start_s"])
    checks["ask_wall_s"] = (res["ask_wall_s"], "<=", TARGETS["ask_wall_s"])
    if res.get("scale_side_by_side"):
        # The figure: both servers up at once and asked alternately (`side_by_side`), the
        # median of the runs' ratios.
        checks["p50_1000_vs_1"] = (
            statistics.median(x["ratio"] for x in res["scale_side_by_side"]),
            "<=",
            TARGETS["p50_1000_vs_1"],
        )
    if 1000 in scale and 1 in scale:
        # Also as the table measures the sizes: one server after the other in each round, the
        # median of the rounds' ratios, and the ratio of the medians. Both mix in the machine's
        # swings from one server's turn to the next.
        paired = [
            big["p50_ms"] / small["p50_ms"]
            for small, big in zip(scale[1]["c1_runs"], scale[1000]["c1_runs"], strict=True)
        ]
        checks["p50_1000_vs_1_rounds"] = (
            statistics.median(paired),
            "<=",
            TARGETS["p50_1000_vs_1"],
        )
        checks["p50_1000_vs_1_of_medians"] = (
            scale[1000]["c1"]["p50_ms"] / scale[1]["c1"]["p50_ms"],
            "<=",
            TARGETS["p50_1000_vs_1"],
        )
    return {
        k: {"value": v, "op": op, "goal": g, "ok": v <= g if op == "<=" else v >= g}
        for k, (v, op, g) in checks.items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    # 5, not 3: on the shared 2-core VM one configuration's req/s moved by a third from run to
    # run (580-884 at 2 workers, 32 clients), so a median of 3 still followed one bad run.
    p.add_argument("--runs", type=int, default=5, help="server runs whose medians are reported")
    p.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    p.add_argument(
        "--quiet-wait", type=float, default=300, help="max seconds to wait for load < 0.7"
    )
    p.add_argument("--quick", action="store_true", help="one run, no sweeps (a smoke test)")
    a = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    questions = [json.loads(line)["q"] for line in DEV.read_text().splitlines() if line.strip()]
    runs = 1 if a.quick else a.runs

    res: dict[str, Any] = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    print("building / reusing indexes ...", file=sys.stderr)
    builds = {n: build(n) for n in sorted(set([1, *a.sizes]))}
    base = builds[1]
    res["load_before"] = wait_quiet(a.quiet_wait)
    # Each run measures the peer and then each server configuration back to back, so that they
    # share the machine's conditions of the moment; medians over the runs.
    peers: list[dict[str, Any]] = []
    configs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGS}
    for i in range(runs):
        print(
            f"run {i + 1}/{runs}, load {loadavg():.2f}: peer, 1 worker, 2 workers", file=sys.stderr
        )
        peers.append(run_peer(Path(base["gen"]), questions, rounds=3))
        # One torch thread: slower on an idle machine, far steadier on a busy one.
        peers.append(run_peer(Path(base["gen"]), questions, rounds=3, threads=1))
        for name, (env, workers, _) in CONFIGS.items():
            if workers == 1 or not a.quick:
                configs[name].append(serve_run(base, questions, env=env, workers=workers))
    res["peer_runs"] = peers
    # The peer is the script as written, with torch's default threads: the median of those
    # runs. Its best run, of either thread setting, is the strictest comparison.
    res["peer"] = {
        k: median_of([p for p in peers if p["threads"] == "default"], k)
        for k in ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "rps_sequential", "load_s")
    }
    res["peer_best"] = min(peers, key=lambda p: p["p50_ms"])
    res["serve_runs"] = configs
    res["configs"] = {name: medians(rs) for name, rs in configs.items() if rs}
    res["serve"] = res["configs"]["computed"]
    walls = ask_wall(questions, base, times=3)
    res["ask_wall_runs_s"] = walls
    res["ask_wall_s"] = statistics.median(walls)

    print("corpus sizes ...", file=sys.stderr)
    # Sizes in turn, `runs` rounds, so that a change in the machine's load hits them alike.
    per_size: dict[int, list[dict[str, Any]]] = {n: [] for n in a.sizes}
    for _ in range(runs):
        for n in a.sizes:
            # 6 rounds of the questions: the scale ratio compares two p50s of a few ms.
            r = serve_run(builds[n], questions, env=COMPUTED, levels=(1,), c1_rounds=6)
            per_size[n].append(r["c1"] | {"ready_s": r["ready_s"]})
    res["scale"] = [
        {k: v for k, v in builds[n].items() if k not in ("corpus", "index", "gen")}
        | {
            "c1": {k: median_of(rs, k) for k in ("p50_ms", "p95_ms", "p99_ms", "rps", "ready_s")},
            "c1_runs": rs,
        }
        for n, rs in per_size.items()
    ]
    if 1000 in builds and 1 in builds:
        # The target's figure: 1 and 1,000 reports served side by side, `runs` times.
        res["scale_side_by_side"] = [
            side_by_side(builds[1], builds[1000], questions, rounds=12) for _ in range(runs)
        ]
    res["spelling"] = {str(n): spelling_cost(builds[n], questions) for n in a.sizes}
    if 1000 in builds:
        print("HNSW ...", file=sys.stderr)
        res["hnsw"] = hnsw_study(builds[1000])

    if not a.quick:
        print("batch window sweep, variants ...", file=sys.stderr)
        res["window_sweep"] = []
        for ms in (0, 2, 5):
            env = {**COMPUTED, "PEELQA_BATCH_WINDOW_MS": str(ms)}
            r = serve_run(base, questions, env=env, levels=(1, 32))
            res["window_sweep"].append({"window_ms": ms, "c1": r["c1"], "c32": r["c32"]})
        # What each change bought: the same server without batching, and with torch.
        res["variants"] = {
            "no_batching": serve_run(base, questions, env={**COMPUTED, "PEELQA_MAX_BATCH": "1"}),
            "fp32_questions": serve_run(
                base, questions, env={**COMPUTED, "PEELQA_QUERY_PRECISION": "fp32"}
            ),
            "torch_encoder": serve_run(
                base, questions, env={**COMPUTED, "PEELQA_ENCODER": "torch"}
            ),
        }
        res["encoder_costs"] = encoder_costs(base, questions)
        print("eval: onnx against sentence-transformers ...", file=sys.stderr)
        res["eval"] = {
            name: eval_figures(base, env)
            for name, env in (
                ("onnx_int8", {}),
                ("onnx_fp32", {"PEELQA_QUERY_PRECISION": "fp32"}),
                ("torch", {"PEELQA_ENCODER": "torch"}),
            )
        }
        res["eval"]["same_cases_fp32_torch"] = (
            res["eval"]["onnx_fp32"]["cases"] == res["eval"]["torch"]["cases"]
        )

    res["load_after"] = loadavg()
    res["ratios"] = {
        f"{against}_{name}": {
            "c1_p50": conf["c1"]["p50_ms"] / res[against]["p50_ms"],
            "c32_rps": conf["c32"]["rps"] / res[against]["rps_sequential"],
        }
        for against in ("peer", "peer_best")
        for name, conf in res["configs"].items()
    }
    res["targets"] = check_targets(res)
    (BENCH / "results.json").write_text(json.dumps(res, indent=2, default=float))
    plots(res)
    print(table(res))
    print(
        f"\nmachine: {res['machine']['cpu']}, {res['machine']['cores']} cores; load average "
        f"{res['load_before']:.2f} before, {res['load_after']:.2f} after"
    )


if __name__ == "__main__":
    main()
