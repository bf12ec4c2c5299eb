"""The dense index: exact for the corpora we have, HNSW past HNSW_MIN_CHUNKS, same answers."""

from pathlib import Path

from conftest import CORPUS

from peelqa.embed import SentenceTransformerEmbedder
from peelqa.index import build_index, load_index

QUESTIONS = [
    "What grade did the force get?",
    "What is the THRIVE approach used for?",
    "How is crime allocated for investigation?",
]


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
    qvecs = embedder.encode(QUESTIONS)
    d_exact, i_exact = exact.faiss_index.search(qvecs, 5)
    d_graph, i_graph = graph.faiss_index.search(qvecs, 5)
    # A graph over 14 chunks is searched in full: the same neighbours, the same cosines.
    assert (i_graph == i_exact).all()
    assert abs(d_graph - d_exact).max() < 1e-5
    # The retriever also reads chunk vectors back out of the index.
    assert abs(graph.faiss_index.reconstruct(3) - exact.faiss_index.reconstruct(3)).max() < 1e-6
