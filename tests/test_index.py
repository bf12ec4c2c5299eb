import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, REPORT

from peelqa.index.abbreviations import find_abbreviations
from peelqa.index.build import CHUNKER_VERSION, build_index
from peelqa.index.freshness import freshness
from peelqa.index.store import (
    IndexCorrupt,
    IndexMissing,
    current_generation,
    load_index,
    sha256_file,
)
from peelqa.reports.corpus import corpus_sha256, read_corpus


def test_build_writes_a_manifest_that_describes_the_index(
    corpus: Path, tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    index_dir = tmp_path / "index"
    m = build_index(corpus_dir=corpus, index_dir=index_dir, embedder=embedder)
    assert m.model == "all-MiniLM-L6-v2" and m.dim == 384
    assert m.chunker_version == CHUNKER_VERSION
    assert m.corpus_sha256 == corpus_sha256(corpus)
    assert (m.documents, m.sections) == (1, 6)
    idx = load_index(index_dir)
    assert idx.faiss_index.ntotal <= m.chunks and idx.chunk_rows.shape == (m.chunks,)
    assert idx.sentence_vectors.shape == (m.sentences, 384)
    assert freshness(index_dir=index_dir, corpus_dir=corpus, model_id=m.model) == "fresh"


def test_missing_and_stale(corpus: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    index_dir = tmp_path / "index"
    assert (
        freshness(index_dir=index_dir, corpus_dir=corpus, model_id="all-MiniLM-L6-v2") == "missing"
    )
    with pytest.raises(IndexMissing, match="peelqa build"):
        load_index(index_dir)
    build_index(corpus_dir=corpus, index_dir=index_dir, embedder=embedder)
    (corpus / "extra.md").write_text("# Another\n\nSome text.\n")
    assert freshness(index_dir=index_dir, corpus_dir=corpus, model_id="all-MiniLM-L6-v2") == "stale"
    assert freshness(index_dir=index_dir, corpus_dir=corpus, model_id="other-model") == "stale"


@pytest.mark.parametrize("damage", ["truncate", "delete", "garbage-manifest", "dangling-current"])
def test_corrupt_index_is_refused_with_what_to_do(
    corpus: Path, tmp_path: Path, embedder, damage: str
) -> None:  # type: ignore[no-untyped-def]
    index_dir = tmp_path / "index"
    build_index(corpus_dir=corpus, index_dir=index_dir, embedder=embedder)
    gen = current_generation(index_dir)
    if damage == "truncate":
        data = (gen / "chunks.faiss").read_bytes()
        (gen / "chunks.faiss").write_bytes(data[: len(data) // 2])
    elif damage == "delete":
        (gen / "store.json").unlink()
    elif damage == "garbage-manifest":
        (gen / "manifest.json").write_text("{not json")
    else:
        (index_dir / "CURRENT").write_text("gen-does-not-exist\n")
    with pytest.raises(IndexCorrupt, match="peelqa build"):
        load_index(index_dir)


def test_a_failed_swap_leaves_the_previous_index_in_service(
    corpus: Path, tmp_path: Path, embedder, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    index_dir = tmp_path / "index"
    first = build_index(corpus_dir=corpus, index_dir=index_dir, embedder=embedder)
    (corpus / REPORT.name).write_text(REPORT.read_text() + "\n\nNext steps\n\nMore to come.\n")

    def crash(*_a, **_k):  # type: ignore[no-untyped-def]
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        build_index(corpus_dir=corpus, index_dir=index_dir, embedder=embedder)
    monkeypatch.undo()
    idx = load_index(index_dir)
    assert idx.manifest.corpus_sha256 == first.corpus_sha256
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.slow
def test_a_build_killed_midway_leaves_the_previous_index_in_service(
    tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "big"
    corpus.mkdir()
    for i in range(40):  # enough text that embedding takes a few seconds; no two alike
        text = REPORT.read_text().replace("Northamptonshire", f"Northamptonshire {i}")
        (corpus / f"r{i:02}.txt").write_text(text)
    small = tmp_path / "small"
    small.mkdir()
    shutil.copy(REPORT, small / REPORT.name)
    index_dir = tmp_path / "index"
    first = build_index(corpus_dir=small, index_dir=index_dir, embedder=embedder)

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "peelqa.cli",
            "build",
            "--corpus",
            str(corpus),
            "--index",
            str(index_dir),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait until it is embedding (its progress bar has started), then kill it hard.
    deadline = time.monotonic() + 120
    seen = ""
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen += line
        if "embedding" in line or not line:
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, seen
    idx = load_index(index_dir)
    assert idx.manifest.corpus_sha256 == first.corpus_sha256
    assert idx.manifest.documents == 1
    # The reports embedded before the kill are kept for the next build.
    embedded = {p.name for p in (index_dir / "parts").glob("*.npy")}
    assert 0 < len(embedded) < 41, "killed before embedding, or after it had finished"
    # The next build completes and cleans up whatever the killed one left behind.
    build_index(corpus_dir=small, index_dir=index_dir, embedder=embedder)
    assert (index_dir / "CURRENT").is_file()
    assert len([p for p in index_dir.iterdir() if p.name.startswith(("gen-", ".tmp-"))]) == 1


def test_abbreviations_defined_in_brackets_are_found() -> None:
    found = find_abbreviations(read_corpus(REPORT.parent))
    assert found["EMSOU"] == "East Midlands Special Operations Unit"
    assert found["PEEL"] == "police effectiveness, efficiency and legitimacy"
    assert found["HMIC"] == "HM Inspectorate of Constabulary"
    west = find_abbreviations(read_corpus(DATA / "corpus2"))
    assert west["JIH"] == "Joint Investigation Hub"


def test_manifest_is_json_with_counts(corpus: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    index_dir = tmp_path / "index"
    build_index(corpus_dir=corpus, index_dir=index_dir, embedder=embedder)
    raw = json.loads((current_generation(index_dir) / "manifest.json").read_text())
    assert {"model", "dim", "chunker_version", "corpus_sha256", "chunks", "sentences"} <= raw.keys()


class CountingEmbedder:
    """The real model, counting the texts it is given."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.model_id, self.dim, self.texts = inner, inner.model_id, inner.dim, 0

    def encode(self, texts):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return self.inner.encode(texts)


@pytest.mark.slow
def test_a_build_embeds_only_the_reports_it_has_not_seen(
    corpus: Path, tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    index_dir = tmp_path / "index"
    counting = CountingEmbedder(embedder)
    first = build_index(corpus_dir=corpus, index_dir=index_dir, embedder=counting)
    whole = counting.texts
    assert whole > 0 and first.reports == {REPORT.name: sha256_file(REPORT)}
    # Nothing changed: nothing is read or embedded again, and the index is the same.
    counting.texts = 0
    again = build_index(corpus_dir=corpus, index_dir=index_dir, embedder=counting)
    assert counting.texts == 0 and again.corpus_sha256 == first.corpus_sha256
    # One report added: only its passages are embedded.
    for name in ("corpus2", "corpus3"):
        for f in (DATA / name).iterdir():
            shutil.copy(f, corpus / f.name)
    counting.texts = 0
    added = build_index(corpus_dir=corpus, index_dir=index_dir, embedder=counting)
    assert added.documents == 3 and counting.texts > 0
    incremental = load_index(index_dir)
    # ... and the generation is the one a build from nothing makes.
    fresh = build_index(corpus_dir=corpus, index_dir=tmp_path / "fresh", embedder=embedder)
    whole_again = load_index(tmp_path / "fresh")
    assert fresh.corpus_sha256 == added.corpus_sha256
    assert [d.doc for d in incremental.documents] == [d.doc for d in whole_again.documents]
    assert incremental.chunks == whole_again.chunks
    assert incremental.sentence_refs == whole_again.sentence_refs
    assert incremental.abbreviations == whole_again.abbreviations
    assert np.allclose(incremental.sentence_vectors, whole_again.sentence_vectors, atol=1e-5)
    assert (incremental.sentence_flags == whole_again.sentence_flags).all()
    # One report removed: nothing is embedded, and its vectors are gone from the index.
    (corpus / REPORT.name).unlink()
    counting.texts = 0
    removed = build_index(corpus_dir=corpus, index_dir=index_dir, embedder=counting)
    assert counting.texts == 0 and removed.documents == 2
    assert REPORT.stem not in {d.doc for d in load_index(index_dir).documents}
    assert load_index(index_dir).sentence_vectors.shape == (removed.sentences, 384)


def test_an_unreadable_report_is_left_out_and_named(corpus: Path, tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    (corpus / "scan.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 20 + b"\n%%EOF\n")
    (corpus / "latin1.txt").write_bytes("Caf\xe9 report\n\nSome text.".encode("latin-1"))
    m = build_index(corpus_dir=corpus, index_dir=tmp_path / "index", embedder=embedder)
    assert m.documents == 1 and set(m.reports) == {REPORT.name}
    assert set(m.failed) == {"scan.pdf", "latin1.txt"}
    assert "damaged or incomplete" in m.failed["scan.pdf"]["error"]
    assert "not UTF-8" in m.failed["latin1.txt"]["error"]
    assert m.failed["scan.pdf"]["sha256"] == sha256_file(corpus / "scan.pdf")
    # The folder as it is counts as built: serving does not rebuild it again and again.
    fresh = freshness(index_dir=tmp_path / "index", corpus_dir=corpus, model_id=m.model)
    assert fresh == "fresh"
