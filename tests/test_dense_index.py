"""The dense index: exact for small corpora, an HNSW graph past HNSW_MIN_CHUNKS."""

from pathlib import Path

import faiss
import numpy as np
from conftest import CORPUS, REPORT

from peelqa.encoder.sbert import SentenceTransformerEmbedder
from peelqa.index.build import HNSW_MIN_CHUNKS, build_index, write_dense_index
from peelqa.index.store import load_index

QUESTIONS = [
    "What grade did the force get?",
    "What is the THRIVE approach used for?",
    "How is crime allocated for investigation?",
]


def test_hnsw_at_the_threshold_finds_nearly_what_the_exact_index_finds(tmp_path: Path) -> None:
    """The graph's parameters on a corpus of the size where it takes over: vectors in topical
    clusters, as passages are, searched approximately (the graph is not visited in full)."""
    rng = np.random.default_rng(7)
    dim, topics = 384, 60
    centres = rng.normal(size=(topics, dim))
    vectors = centres[rng.integers(0, topics, HNSW_MIN_CHUNKS)] + rng.normal(
        scale=0.9, size=(HNSW_MIN_CHUNKS, dim)
    )
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    queries = vectors[rng.choice(HNSW_MIN_CHUNKS, 200, replace=False)] + rng.normal(
        scale=0.02, size=(200, dim)
    ).astype(np.float32)
    write_dense_index(vectors, tmp_path / "graph.faiss", kind="hnsw", dim=dim)
    write_dense_index(vectors, tmp_path / "flat.faiss", kind="flat", dim=dim)
    graph = faiss.read_index(str(tmp_path / "graph.faiss"))
    flat = faiss.read_index(str(tmp_path / "flat.faiss"))
    _, want = flat.search(queries, 10)
    _, got = graph.search(queries, 10)
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want, strict=True)])
    assert recall >= 0.95


def test_hnsw_past_the_threshold_finds_what_the_exact_index_finds(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    flat = build_index(corpus_dir=CORPUS, index_dir=tmp_path / "flat", embedder=embedder)
    assert flat.dense_index == "flat"  # the real corpus is far below the threshold
    hnsw = build_index(
        corpus_dir=CORPUS, index_dir=tmp_path / "hnsw", embedder=embedder, hnsw_min_chunks=1
    )
    assert hnsw.dense_index == "hnsw"
    exact, graph = load_index(tmp_path / "flat"), load_index(tmp_path / "hnsw")
    assert "HNSW" in type(graph.faiss_index).__name__
    assert graph.faiss_index.ntotal == exact.faiss_index.ntotal
    # The index's own search over the graph (chunk rows back to chunks), on a small corpus.
    for q in embedder.encode(QUESTIONS):
        got, want = graph.dense_search(q, 5), exact.dense_search(q, 5)
        assert [ci for ci, _ in got] == [ci for ci, _ in want]
        assert max(abs(a - b) for (_, a), (_, b) in zip(got, want, strict=True)) < 1e-5
    # The retriever also reads chunk vectors back out of the index.
    assert abs(graph.chunk_vector(3) - exact.chunk_vector(3)).max() < 1e-6


def test_repeated_text_is_stored_once_and_found_for_every_chunk(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    """Reports of one family repeat boilerplate: each distinct chunk text is encoded and stored
    once, and a search returns the chunks that have it together, in corpus order, up to the
    number asked for (here: the same report twice)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = REPORT.read_text()
    (corpus / "a.txt").write_text(text)
    (corpus / "b.txt").write_text(text)
    m = build_index(corpus_dir=corpus, index_dir=tmp_path / "index", embedder=embedder)
    idx = load_index(tmp_path / "index")
    assert m.chunks == 2 * idx.faiss_index.ntotal
    assert (idx.chunk_vector(0) == idx.chunk_vector(m.chunks // 2)).all()
    q = embedder.encode(["What grade did the force get?"])[0]
    found = idx.dense_search(q, 3)
    assert len(found) == 3
    docs = [idx.chunks[ci].doc for ci, _ in found[:2]]
    assert docs == ["a", "b"] and found[0][1] == found[1][1]
    # Asked for one, the search stops at the first copy instead of listing them all.
    (best,) = idx.dense_search(q, 1)
    assert best == found[0]
    assert (
        idx.sentence_vectors[: m.sentences // 2] == idx.sentence_vectors[m.sentences // 2 :]
    ).all()
