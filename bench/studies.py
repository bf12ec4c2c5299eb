"""The studies: measurements beyond the default set, each run only when asked for
(`--studies NAME,...` or `--all`), and the two in-process figures every run takes (the
engine's time per question and the cost of loading the components).

Every function here takes what it measures as arguments and returns a typed result; none
reaches into peelqa's internals or replaces any of its functions.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.corpora import Built
from bench.inputs import DEV, PEELQA, ROOT
from bench.load import LoadResult
from bench.servers import COMPUTED, RunResult, serve_run

# name: what it measures (the --studies choices; `--all` runs every one).
STUDIES = {
    "hnsw": "HNSW recall@10 and cost against the exact index at 1,000 reports",
    "spelling": "cost of mending a question's spelling, each corpus size",
    "encoders": "encoder cost per question: ONNX fp32/int8 alone and batched, torch",
    "window": "batch-window sweep (0, 2, 5 ms) at 1 and 32 clients",
    "variants": "the server without batching, with fp32 questions, with the torch encoder",
    "eval": "dev-set figures with each encoder (int8, fp32, torch)",
    "ingest": "reading and indexing speed of each format; one report added to 1,000 against "
    "the full build",
}


# ---------------------------------------------------------------- in-process, every run


@dataclass(frozen=True)
class EngineTime:
    """`engine_ms_per_question`: the engine's time for one computed question, in-process, the
    encoder left out; the median over the rounds of each round's median over the questions."""

    corpus: str
    reports: int
    ms_per_question: float
    round_min_ms: float  # the fastest and slowest round's median: the spread
    round_max_ms: float
    mean_ms: float  # over every question of every round (the tail included)
    questions: int
    rounds: int
    answered: int
    same_answers: bool  # the timed engine answered as the components' own engine does


@dataclass(frozen=True)
class StartupCost:
    """`load_components_s`: `peelqa.runtime.load_components` over a built index, in a fresh
    process after its imports; the median of the samples."""

    corpus: str
    reports: int
    load_components_s: float
    samples_s: list[float]
    import_s: float  # the imports before it (median), reported apart


def _probe(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.probe", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def engine_time(built: Built, *, rounds: int = 30) -> EngineTime:
    where = ["--corpus", str(built.corpus), "--index", str(built.index)]
    r = _probe("engine", *where, "--rounds", str(rounds))
    medians: list[float] = r["round_medians_ms"]
    return EngineTime(
        corpus=built.name,
        reports=built.reports,
        ms_per_question=statistics.median(medians),
        round_min_ms=min(medians),
        round_max_ms=max(medians),
        mean_ms=float(r["mean_ms"]),
        questions=int(r["questions"]),
        rounds=int(r["rounds"]),
        answered=int(r["answered"]),
        same_answers=bool(r["same_answers"]),
    )


def startup_cost(built: Built, *, samples: int = 5) -> StartupCost:
    where = ["--corpus", str(built.corpus), "--index", str(built.index)]
    runs = [_probe("load", *where) for _ in range(samples)]
    loads = [float(r["load_components_s"]) for r in runs]
    return StartupCost(
        corpus=built.name,
        reports=built.reports,
        load_components_s=statistics.median(loads),
        samples_s=loads,
        import_s=statistics.median(float(r["import_s"]) for r in runs),
    )


# ---------------------------------------------------------------- HNSW


@dataclass(frozen=True)
class EfPoint:
    ef_search: int
    recall_at_10: float
    ms_per_query: float


@dataclass(frozen=True)
class HnswGraph:
    hnsw_build_s: float
    per_ef: list[EfPoint]


@dataclass(frozen=True)
class FlatPoint:
    vectors: int
    flat_ms_per_query: float


@dataclass(frozen=True)
class HnswStudy:
    chunks: int
    unique_chunks: int
    queries: int
    with_duplicates: HnswGraph
    deduplicated: HnswGraph
    flat_ms_per_query: float
    flat_scaling: list[FlatPoint]


def hnsw_study(built: Built) -> HnswStudy:
    """Recall@10 of HNSW against the exact index on a corpus's chunks (with the duplicate
    texts synthetic reports repeat, and as the index stores them, each text once: duplicate
    vectors cut HNSW graphs apart), and the cost of an exact search as the number of vectors
    grows: what sets HNSW_MIN_CHUNKS."""
    import faiss
    import numpy as np

    from peelqa.index.build import HNSW_EF_CONSTRUCTION, HNSW_M

    stored = faiss.read_index(str(built.gen / "chunks.faiss"))  # one row per distinct text
    distinct = stored.reconstruct_n(0, stored.ntotal)
    xb = distinct[np.load(built.gen / "chunk_rows.npy")]  # one row per chunk, duplicates too
    sentences = np.load(built.gen / "sentences.npy")
    rng = np.random.default_rng(7)
    xq = sentences[rng.choice(len(sentences), size=min(500, len(sentences)), replace=False)]
    graphs: dict[str, HnswGraph] = {}
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
            per_ef.append(EfPoint(ef_search=ef, recall_at_10=recall, ms_per_query=ms))
        graphs[name] = HnswGraph(hnsw_build_s=build_s, per_ef=per_ef)
    flat = faiss.IndexFlatIP(xb.shape[1])
    flat.add(xb)
    t = time.perf_counter()
    for q in xq:
        flat.search(q[None, :], 10)
    flat_ms = (time.perf_counter() - t) / len(xq) * 1000
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
        scaling.append(FlatPoint(vectors=n, flat_ms_per_query=(time.perf_counter() - t) * 10))
    faiss.omp_set_num_threads(len(os.sched_getaffinity(0)))
    return HnswStudy(
        chunks=len(xb),
        unique_chunks=len(distinct),
        queries=len(xq),
        with_duplicates=graphs["with_duplicates"],
        deduplicated=graphs["deduplicated"],
        flat_ms_per_query=flat_ms,
        flat_scaling=scaling,
    )


# ---------------------------------------------------------------- spelling


@dataclass(frozen=True)
class SpellingCost:
    corpus: str
    reports: int
    vocabulary_words: int  # distinct words of the corpus
    words_per_question: float
    build_ms: float  # constructing the Vocabulary
    first_ms_per_question: float  # correcting a question's words, none remembered yet
    repeat_ms_per_question: float  # the same words again: what the memo leaves
    corrected_words: int  # words of the questions that `correct` changes
    rounds: int


def spelling_cost(built: Built, questions: list[str], *, rounds: int = 5) -> SpellingCost:
    """ms per question of `Vocabulary.correct` on each word of the dev questions, against the
    vocabulary the retriever builds for this corpus (its titles, headings and text, with the
    encoder's English words). A new Vocabulary each round: it remembers its corrections, and
    a second pass measures that memory (reported as the repeat cost)."""
    from peelqa.answering.spelling import Vocabulary, english_words
    from peelqa.config import Settings
    from peelqa.index.store import load_index
    from peelqa.runtime import model_dir
    from peelqa.text import words

    index = load_index(built.index)
    texts = [d.title for d in index.documents] + [
        s.heading + "\n" + s.text for s in index.sections.values()
    ]
    english = english_words(model_dir(Settings()) / "vocab.txt")
    asked = [words(q) for q in questions]

    def per_question(vocab: Vocabulary) -> float:
        t = time.perf_counter()
        for ws in asked:
            for w in ws:
                vocab.correct(w)
        return (time.perf_counter() - t) / len(asked) * 1000

    builds, firsts, repeats = [], [], []
    for _ in range(rounds):
        t = time.perf_counter()
        vocab = Vocabulary(texts, english=english)
        builds.append((time.perf_counter() - t) * 1000)
        firsts.append(per_question(vocab))
        repeats.append(per_question(vocab))
    return SpellingCost(
        corpus=built.name,
        reports=built.reports,
        vocabulary_words=len(vocab.counts),
        words_per_question=sum(map(len, asked)) / len(asked),
        build_ms=statistics.median(builds),
        first_ms_per_question=statistics.median(firsts),
        repeat_ms_per_question=statistics.median(repeats),
        corrected_words=sum(vocab.correct(w) != [w] for ws in asked for w in ws),
        rounds=rounds,
    )


# ---------------------------------------------------------------- encoders


def encoder_costs(built: Built, questions: list[str]) -> dict[str, float]:
    """ms per question: the ONNX encoder (fp32 and the int8 question encoder) alone and in
    batches of 32, and sentence-transformers alone, measured in turns in one process; and the
    CPU time per question (all threads), which is what bounds requests/s on a small machine."""
    import numpy as np

    from peelqa.encoder.onnx import OnnxEmbedder
    from peelqa.encoder.sbert import SentenceTransformerEmbedder

    onnx = OnnxEmbedder(built.gen / "encoder")
    int8 = OnnxEmbedder(built.gen / "encoder", precision="int8")
    st = SentenceTransformerEmbedder()
    batch = (questions * 2)[:32]
    runs: dict[str, Callable[[], object]] = {
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


# ---------------------------------------------------------------- server variants


@dataclass(frozen=True)
class WindowPoint:
    window_ms: float
    c1: LoadResult
    c32: LoadResult


def window_sweep(built: Built, questions: list[str]) -> list[WindowPoint]:
    """The encoder's batch window (PEELQA_BATCH_WINDOW_MS) at 1 and 32 clients."""
    points = []
    for ms in (0, 2, 5):
        env = {**COMPUTED, "PEELQA_BATCH_WINDOW_MS": str(ms)}
        r = serve_run(built, questions, env=env, levels=(1, 32))
        points.append(WindowPoint(window_ms=ms, c1=r.at(1), c32=r.at(32)))
    return points


def variants(built: Built, questions: list[str]) -> dict[str, RunResult]:
    """What each choice buys: the same server without batching, with fp32 questions, and
    with the torch encoder; every question computed."""
    envs = {
        "no_batching": {"PEELQA_MAX_BATCH": "1"},
        "fp32_questions": {"PEELQA_QUERY_PRECISION": "fp32"},
        "torch_encoder": {"PEELQA_ENCODER": "torch"},
    }
    return {
        name: serve_run(built, questions, env={**COMPUTED, **env}) for name, env in envs.items()
    }


# ---------------------------------------------------------------- quality with each encoder


@dataclass(frozen=True)
class EvalFigures:
    figures: dict[str, Any]
    cases: list[dict[str, Any]]


@dataclass(frozen=True)
class EvalStudy:
    encoders: dict[str, EvalFigures]
    same_cases_fp32_torch: bool  # every case the same with ONNX fp32 as with torch


def eval_figures(built: Built, env: dict[str, str]) -> EvalFigures:
    out = subprocess.run(
        [
            *PEELQA,
            "eval",
            str(DEV),
            "--json",
            "--corpus",
            str(built.corpus),
            "--index",
            str(built.index),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    report = json.loads(out.stdout)
    return EvalFigures(figures=report["figures"], cases=report["cases"])


def eval_study(built: Built) -> EvalStudy:
    envs = {
        "onnx_int8": {},
        "onnx_fp32": {"PEELQA_QUERY_PRECISION": "fp32"},
        "torch": {"PEELQA_ENCODER": "torch"},
    }
    found = {name: eval_figures(built, env) for name, env in envs.items()}
    return EvalStudy(
        encoders=found,
        same_cases_fp32_torch=found["onnx_fp32"].cases == found["torch"].cases,
    )
