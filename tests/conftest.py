"""Shared fixtures: the real model and real FAISS indexes, built once per test session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from peelqa.answer import Engine
from peelqa.api import create_app
from peelqa.config import Settings
from peelqa.embed import SentenceTransformerEmbedder
from peelqa.index import build_index, load_index
from peelqa.retrieve import Retriever
from peelqa.runtime import Components

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
CORPUS = ROOT / "corpus"
REPORT = CORPUS / "peel-2015-northamptonshire.txt"
DOC = "peel-2015-northamptonshire"
SHARED_EVAL = ROOT.parent / "shared" / "eval" / "dev.jsonl"


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def _components(corpus: Path, index_dir: Path, embedder: SentenceTransformerEmbedder) -> Components:
    build_index(corpus_dir=corpus, index_dir=index_dir, embedder=embedder)
    index = load_index(index_dir)
    return Components(
        embedder=embedder, index=index, engine=Engine(Retriever(index=index, embedder=embedder))
    )


@pytest.fixture(scope="session")
def main_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    corpus = tmp_path_factory.mktemp("corpus")
    shutil.copy(REPORT, corpus / REPORT.name)
    return Settings(corpus=corpus, index=tmp_path_factory.mktemp("index") / "index")


@pytest.fixture(scope="session")
def components(main_settings: Settings, embedder: SentenceTransformerEmbedder) -> Components:
    return _components(main_settings.corpus, main_settings.index, embedder)


@pytest.fixture(scope="session")
def engine(components: Components) -> Engine:
    return components.engine


@pytest.fixture(scope="session")
def westshire(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> Components:
    return _components(DATA / "corpus2", tmp_path_factory.mktemp("w") / "index", embedder)


@pytest.fixture(scope="session")
def eastmoor(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> Components:
    return _components(DATA / "corpus3", tmp_path_factory.mktemp("e") / "index", embedder)


@pytest.fixture(scope="session")
def client(main_settings: Settings, components: Components) -> Iterator[TestClient]:
    with TestClient(create_app(main_settings, components=components)) as c:
        yield c
