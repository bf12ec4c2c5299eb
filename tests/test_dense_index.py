"""The dense index: exact for the corpora we have, HNSW past HNSW_MIN_CHUNKS, same answers."""

from pathlib import Path

from conftest import CORPUS, REPORT

from peelqa.encoder.sbert import SentenceTransformerEmbedder
from peelqa.index.build import build_index
from peelqa.index.store import load_index

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
    # A graph over 14 chunks is searched in full: the same neighbours, the same cosines.
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
