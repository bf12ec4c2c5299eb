"""Wiring the real parts: the embedder, a fresh index and the engine over them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from peelqa.answer import Engine
from peelqa.config import Settings
from peelqa.embed import Embedder, SentenceTransformerEmbedder
from peelqa.index import Index, Progress, build_index, freshness, load_index
from peelqa.retrieve import Retriever

log = logging.getLogger("peelqa")


@dataclass
class Components:
    embedder: Embedder
    index: Index
    engine: Engine


def model_id(settings: Settings) -> str:
    return "all-MiniLM-L6-v2" if settings.model_dir is None else settings.model_dir.name


def load_embedder(settings: Settings) -> Embedder:
    return SentenceTransformerEmbedder(settings.model_dir)


def ensure_index(settings: Settings, embedder: Embedder, progress: Progress | None = None) -> Index:
    """Load the index, building it first when it is missing or stale; a corrupt one raises."""
    state = freshness(
        index_dir=settings.index, corpus_dir=settings.corpus, model_id=embedder.model_id
    )
    if state != "fresh":
        log.info("index in %s is %s: building it from %s", settings.index, state, settings.corpus)
        build_index(
            corpus_dir=settings.corpus,
            index_dir=settings.index,
            embedder=embedder,
            progress=progress,
        )
    return load_index(settings.index)


def load_components(settings: Settings, progress: Progress | None = None) -> Components:
    embedder = load_embedder(settings)
    index = ensure_index(settings, embedder, progress)
    return Components(
        embedder=embedder, index=index, engine=Engine(Retriever(index=index, embedder=embedder))
    )
