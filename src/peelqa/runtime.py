"""Wiring the real parts: the embedder, a fresh index and the engine over them.

Serving needs no torch: the index generation carries the ONNX export of the model, made at
build time, and the server encodes with ONNX Runtime (`Settings.encoder = "onnx"`). Only a
build without a reusable export loads sentence-transformers (and so torch).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from peelqa.answering.cache import AnswerCache
from peelqa.answering.engine import Engine
from peelqa.answering.model import AnswerModel
from peelqa.answering.retrieve import Retriever
from peelqa.answering.spelling import english_words
from peelqa.config import Settings, usable_cores
from peelqa.encoder.base import Embedder, packaged_model_dir
from peelqa.encoder.batching import BatchingEmbedder
from peelqa.index.build import Progress, build_index
from peelqa.index.freshness import freshness
from peelqa.index.store import (
    Index,
    IndexError_,
    Manifest,
    current_generation,
    load_index,
    read_manifest,
)

log = logging.getLogger("peelqa")


@dataclass
class Components:
    embedder: Embedder
    index: Index
    engine: Engine


def model_id(settings: Settings) -> str:
    return "all-MiniLM-L6-v2" if settings.model_dir is None else settings.model_dir.name


def encoder_threads(settings: Settings) -> int:
    """Each worker process gets its share of the cores, so that N workers never oversubscribe.
    `workers` unset outside `serve` (build, ask, eval): one process, every core."""
    return settings.threads or max(1, usable_cores() // (settings.workers or 1))


def model_dir(settings: Settings) -> Path:
    return settings.model_dir or packaged_model_dir()


def load_embedder(settings: Settings) -> Embedder:
    """The sentence-transformers model (imports torch): what builds an index without an export."""
    from peelqa.encoder.sbert import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(settings.model_dir, threads=encoder_threads(settings))


def export_check(settings: Settings) -> Callable[[Path], bool]:
    """Whether an encoder folder is an export of this model by the current exporter."""
    from peelqa.encoder.onnx import reusable_export

    return functools.partial(
        reusable_export, model_id=model_id(settings), model_dir=model_dir(settings)
    )


def _reusable_encoder(settings: Settings) -> str | None:
    """The encoder folder of the generation in service, when it exports this same model."""
    try:
        m = read_manifest(settings.index)
        gen = current_generation(settings.index)
    except IndexError_:
        return None
    if m.encoder is None:
        return None
    path = gen / m.encoder
    return str(path) if export_check(settings)(path) else None


def build(settings: Settings, progress: Progress | None = None) -> tuple[Manifest, Embedder]:
    """Build the index (with the encoder export unless `encoder` is torch).

    When the generation in service already has an export of the same model, it is hard-linked
    into the new one and also encodes the passages, so a rebuild never imports torch.
    """
    from peelqa.encoder.onnx import OnnxEmbedder

    threads = encoder_threads(settings)
    export = settings.encoder == "onnx"
    reuse = _reusable_encoder(settings) if export else None
    embedder: Embedder = (
        OnnxEmbedder(Path(reuse), threads=threads) if reuse else load_embedder(settings)
    )
    manifest = build_index(
        corpus_dir=settings.corpus,
        index_dir=settings.index,
        embedder=embedder,
        progress=progress,
        encoder_export=functools.partial(
            _export, model_id=model_id(settings), settings=settings, reuse=reuse
        )
        if export
        else None,
    )
    return manifest, embedder


def _export(out_dir: Path, *, model_id: str, settings: Settings, reuse: str | None) -> None:
    from peelqa.encoder.export import export_encoder

    export_encoder(
        out_dir=out_dir,
        model_id=model_id,
        model_dir=settings.model_dir,
        reuse=Path(reuse) if reuse else None,
    )


def ensure_index(settings: Settings, progress: Progress | None = None) -> Embedder | None:
    """Build the index when it is missing or stale; return the embedder a build loaded."""
    state = freshness(
        index_dir=settings.index,
        corpus_dir=settings.corpus,
        model_id=model_id(settings),
        # An export from an older exporter (e.g. without the int8 copy) is stale too.
        encoder_ok=export_check(settings) if settings.encoder == "onnx" else None,
    )
    if state == "fresh":
        return None
    log.info("index in %s is %s: building it from %s", settings.index, state, settings.corpus)
    return build(settings, progress)[1]


def load_components(
    settings: Settings,
    progress: Progress | None = None,
    *,
    model: AnswerModel | None = None,
) -> Components:
    """The real parts over a fresh index; `model`: the answer model (default: the shipped one)."""
    import faiss

    built_with = ensure_index(settings, progress)
    index = load_index(settings.index)
    # One question per search: FAISS's OpenMP threads only add their start-up and spin-waits,
    # which on a small busy machine cost more than the search itself.
    faiss.omp_set_num_threads(1)
    inner: Embedder
    if settings.encoder == "onnx" and index.encoder_dir is not None:
        from peelqa.encoder.onnx import OnnxEmbedder

        inner = OnnxEmbedder(
            index.encoder_dir,
            threads=encoder_threads(settings),
            precision=settings.query_precision,
        )
    else:
        inner = built_with or load_embedder(settings)
    embedder = BatchingEmbedder(
        inner,
        window_s=settings.batch_window_ms / 1000,
        max_batch=settings.max_batch,
        max_queue=settings.max_queue,
    )
    return Components(
        embedder=embedder,
        index=index,
        engine=make_engine(index, embedder, settings=settings, model=model),
    )


def make_engine(
    index: Index, embedder: Embedder, *, settings: Settings, model: AnswerModel | None = None
) -> Engine:
    """The engine over an index, its questions encoded by `embedder`."""
    return Engine(
        Retriever(index=index, embedder=embedder),
        english=english_words(model_dir(settings) / "vocab.txt"),
        model=model,
        cache=AnswerCache(settings.answer_cache),
    )
