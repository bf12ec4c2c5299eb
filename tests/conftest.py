"""Shared fixtures: the real model and real FAISS indexes, built once per test session."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pg import Postgres, postgres_server

from peelqa.answering.engine import Engine
from peelqa.answering.retrieve import Retriever
from peelqa.answering.spelling import english_words
from peelqa.config import Settings
from peelqa.encoder.base import Embedder, packaged_model_dir
from peelqa.encoder.export import export_encoder
from peelqa.encoder.onnx import OnnxEmbedder
from peelqa.encoder.sbert import SentenceTransformerEmbedder
from peelqa.index.build import build_index
from peelqa.index.store import load_index
from peelqa.runtime import Components
from peelqa.server.app import create_app

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
CORPUS = ROOT / "corpus"
REPORT = CORPUS / "peel-2015-northamptonshire.txt"
DOC = "peel-2015-northamptonshire"
# The development set, a copy of shared/eval/dev.jsonl kept in step by test_docs.py.
DEV_SET = DATA / "eval" / "dev.jsonl"
SHARED = ROOT.parent / "shared"
# Real English words (the packaged encoder's vocabulary): never spelling-corrected.
ENGLISH = english_words(packaged_model_dir() / "vocab.txt")


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def _components(
    corpus: Path,
    index_dir: Path,
    embedder: SentenceTransformerEmbedder,
    *,
    export: bool = False,
    questions: Path | None = None,
) -> Components:
    """Passages encoded by sentence-transformers; questions, as in serving, by the int8 export
    (this index's own with `export`, else the one in the folder `questions`)."""
    build_index(
        corpus_dir=corpus,
        index_dir=index_dir,
        embedder=embedder,
        # The main index carries the ONNX export, as `peelqa build` makes it, so that the app's
        # own loading (load_components) serves it without a rebuild.
        encoder_export=(lambda d: export_encoder(out_dir=d, model_id=embedder.model_id))
        if export
        else None,
    )
    index = load_index(index_dir)
    encoder_dir = index.encoder_dir if export else questions
    assert encoder_dir is not None
    query_embedder = OnnxEmbedder(encoder_dir, precision="int8")
    return Components(
        embedder=query_embedder,
        index=index,
        engine=Engine(Retriever(index=index, embedder=query_embedder), english=ENGLISH),
    )


def served_by(components: Components, embedder: Embedder) -> Components:
    """The same index, answered with questions encoded by `embedder` (a batcher, a slowed or
    gated encoder)."""
    index = components.index
    return Components(
        embedder=embedder,
        index=index,
        engine=Engine(Retriever(index=index, embedder=embedder), english=ENGLISH),
    )


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """A corpus folder of this test's own holding the real report (safe to change)."""
    d = tmp_path / "corpus"
    d.mkdir()
    shutil.copy(REPORT, d / REPORT.name)
    return d


@pytest.fixture(scope="session")
def main_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    corpus = tmp_path_factory.mktemp("corpus")
    shutil.copy(REPORT, corpus / REPORT.name)
    # Keys and rate limits off, whatever the environment says: they have their own tests
    # (test_access.py), and shared fixtures must not throttle each other.
    return Settings(
        corpus=corpus, index=tmp_path_factory.mktemp("index") / "index", api_keys="", rate_limit=0
    )


@pytest.fixture(scope="session")
def components(main_settings: Settings, embedder: SentenceTransformerEmbedder) -> Components:
    return _components(main_settings.corpus, main_settings.index, embedder, export=True)


@pytest.fixture(scope="session")
def onnx_embedder(components: Components) -> OnnxEmbedder:
    """The serving encoder: the main index's ONNX export run with ONNX Runtime."""
    assert components.index.encoder_dir is not None
    return OnnxEmbedder(components.index.encoder_dir)


@pytest.fixture(scope="session")
def engine(components: Components) -> Engine:
    return components.engine


@pytest.fixture(scope="session")
def westshire(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: SentenceTransformerEmbedder,
    components: Components,
) -> Components:
    return _components(
        DATA / "corpus2",
        tmp_path_factory.mktemp("w") / "index",
        embedder,
        questions=components.index.encoder_dir,
    )


@pytest.fixture(scope="session")
def eastmoor(
    tmp_path_factory: pytest.TempPathFactory,
    embedder: SentenceTransformerEmbedder,
    components: Components,
) -> Components:
    return _components(
        DATA / "corpus3",
        tmp_path_factory.mktemp("e") / "index",
        embedder,
        questions=components.index.encoder_dir,
    )


@pytest.fixture(scope="session")
def client(main_settings: Settings, components: Components) -> Iterator[TestClient]:
    with TestClient(create_app(main_settings, components=components)) as c:
        yield c


def loopback_socket() -> socket.socket:
    """A socket bound to a free loopback port, not yet listening (connections are refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()
    return f"http://{host}:{port}"


@contextmanager
def live_server(app: FastAPI, sock: socket.socket | None = None) -> Iterator[str]:
    """A real uvicorn serving `app` on loopback in a thread; yields its base URL."""
    sock = sock or loopback_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(500):  # up to 10 s; it takes ~0.1 s with components given
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.02)
        assert server.started, "uvicorn did not start"
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def live_app(main_settings: Settings, components: Components) -> FastAPI:
    return create_app(main_settings, components=components)


@pytest.fixture(scope="session")
def live_url(live_app: FastAPI) -> Iterator[str]:
    with live_server(live_app) as url:
        yield url


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A real PostgreSQL server (Debian's package) on a free loopback port, for the session;
    each test makes its own database in it (`Postgres.create_database`)."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, driven by Playwright (its own browser download fails here)."""
    if not Path("/usr/bin/chromium").exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have /usr/bin/chromium: .ci/run installs it with apt-get")
        pytest.skip("no /usr/bin/chromium here (apt-get install -y chromium to run these)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()
