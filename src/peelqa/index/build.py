"""Building an index generation: parse, chunk, embed, write, then swap it in with one rename."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from peelqa.encoder.base import Embedder, Vectors
from peelqa.index.abbreviations import find_abbreviations
from peelqa.index.store import (
    ENCODER_DIR,
    FORMAT_VERSION,
    Chunk,
    Manifest,
    sha256_file,
)
from peelqa.kinds import sentence_flags
from peelqa.reports.corpus import corpus_sha256, read_corpus
from peelqa.reports.model import Document, Section, document_to_json, slugify

# Bump when reading, splitting, chunking or the sentence flags change, so that older indexes
# count as stale.
CHUNKER_VERSION = "5"
# About a short paragraph: long enough for context, short enough that one topic dominates.
CHUNK_MAX_WORDS = 90

# Past this many distinct chunks the dense search uses an HNSW graph instead of the exact flat
# index. An exact search grows with the corpus and is memory-bound; the graph's cost hardly
# grows. Around 5,000 chunks (~400 short reports) the exact scan nears a tenth of a whole
# answered question, and past it the graph is the cheaper by more than its recall costs
# (`make bench` measures both; docs/performance.md).
HNSW_MIN_CHUNKS = 5_000
# Graph degree 32, efSearch 128: recall@10 of about 0.99 against the exact index at 1,000
# reports (the bench checks it). Identical chunk texts (boilerplate repeated across reports)
# are stored once: exact duplicates cut HNSW graphs apart.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128

Progress = Callable[[int, int], None]
# Writes an exported encoder into the folder it is given (see peelqa.encoder.export).
EncoderExport = Callable[[Path], None]


def make_chunks(doc: Document) -> list[Chunk]:
    """Paragraph-sized runs of whole sentences. A paragraph is a chunk of its own (cut between
    sentences when long); consecutive list items, or rows of one table, are read together up
    to the same size, so that a list or a table is found as a whole."""
    chunks: list[Chunk] = []
    for sec in doc.sections:
        run: list[int] = []
        words = 0
        for i, s in enumerate(sec.sentences):
            n = len(sec.text[s.start : s.end].split())
            if run and (_breaks(sec, run[-1], i) or words + n > CHUNK_MAX_WORDS):
                chunks.append(_chunk(sec, run))
                run, words = [], 0
            run.append(i)
            words += n
        if run:
            chunks.append(_chunk(sec, run))
        if not sec.sentences:
            # A heading with no text still exists as a section and can be found by its heading.
            chunks.append(Chunk(sec.doc, sec.section, 0, -1, ""))
    return chunks


def _breaks(sec: Section, before: int, after: int) -> bool:
    """Whether a chunk must end between these two sentences."""
    a, b = sec.sentences[before].block, sec.sentences[after].block
    if a == b:
        return False
    kind_a, kind_b = sec.blocks[a].kind, sec.blocks[b].kind
    return kind_a == "paragraph" or kind_a != kind_b


def _chunk(sec: Section, run: list[int]) -> Chunk:
    a, b = sec.sentences[run[0]], sec.sentences[run[-1]]
    return Chunk(sec.doc, sec.section, run[0], run[-1], sec.text[a.start : b.end])


def topic_of(sec: Section, repeated: frozenset[str]) -> str:
    """The headings that give a section's topic: its path, leaving out the headings above it
    that the report repeats under every area (`repeated`: "Main findings", "Summary"), which
    say nothing of the topic. A flat report's topic is its heading."""
    kept = [h for h in sec.path[:-1] if slugify(h) not in repeated]
    return " › ".join([*kept, sec.heading])


def repeated_headings(doc: Document) -> frozenset[str]:
    counts: dict[str, int] = {}
    for s in doc.sections:
        key = slugify(s.heading)
        counts[key] = counts.get(key, 0) + 1
    return frozenset(k for k, n in counts.items() if n > 1)


def chunk_passage(topic: str, chunk: Chunk) -> str:
    """What the encoder sees for a chunk: its headings give the topic that the text assumes."""
    return f"{topic}\n{chunk.text}".strip()


def sentence_passage(topic: str, text: str) -> str:
    return f"{topic}: {text}"


def topics(docs: list[Document]) -> dict[tuple[str, str], str]:
    """Every section's topic (`topic_of`), by (doc, section)."""
    out: dict[tuple[str, str], str] = {}
    for d in docs:
        repeated = repeated_headings(d)
        for s in d.sections:
            out[(d.doc, s.section)] = topic_of(s, repeated)
    return out


@contextlib.contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".build.lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # two builds of one folder take turns
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build_index(
    *,
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    progress: Progress | None = None,
    batch_size: int = 64,
    encoder_export: EncoderExport | None = None,
    hnsw_min_chunks: int = HNSW_MIN_CHUNKS,
) -> Manifest:
    """Parse, chunk, embed and write a new generation, then swap it in with one rename.

    With `encoder_export`, the exported encoder is written into the generation's `encoder/`
    folder and checksummed with the rest.
    """

    docs = read_corpus(corpus_dir)
    sha = corpus_sha256(corpus_dir)
    chunks = [c for d in docs for c in make_chunks(d)]
    sec_by_key = {(s.doc, s.section): s for d in docs for s in d.sections}
    refs = [
        (s.doc, s.section, i) for d in docs for s in d.sections for i in range(len(s.sentences))
    ]
    topic = topics(docs)
    texts = [chunk_passage(topic[(c.doc, c.section)], c) for c in chunks] + [
        sentence_passage(topic[(doc, sid)], sec_by_key[(doc, sid)].sentence_text(i))
        for doc, sid, i in refs
    ]
    with _build_lock(index_dir):
        gen = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        tmp = index_dir / f".tmp-{gen}"
        tmp.mkdir(parents=True)
        try:
            store = {
                "documents": [document_to_json(d) for d in docs],
                "chunks": [asdict(c) for c in chunks],
                "sentence_refs": refs,
                "abbreviations": find_abbreviations(docs),
            }
            (tmp / "store.json").write_text(json.dumps(store, ensure_ascii=False))
            # Each distinct text is encoded once; reports of one family repeat boilerplate.
            distinct: dict[str, int] = {}
            rows = np.array([distinct.setdefault(t, len(distinct)) for t in texts], np.int64)
            vectors = _encode_batched(embedder, list(distinct), batch_size, progress)
            chunk_rows, sent_rows = rows[: len(chunks)], rows[len(chunks) :]
            # The dense index gets the distinct chunk rows, renumbered from 0.
            kept, chunk_rows = np.unique(chunk_rows, return_inverse=True)
            kind = "hnsw" if len(kept) >= hnsw_min_chunks else "flat"
            write_dense_index(vectors[kept], tmp / "chunks.faiss", kind=kind, dim=embedder.dim)
            np.save(tmp / "chunk_rows.npy", chunk_rows.astype(np.int32))
            np.save(tmp / "sentences.npy", vectors[sent_rows])
            np.save(tmp / "sentence_flags.npy", _flags(docs))
            names = [
                "chunk_rows.npy",
                "chunks.faiss",
                "sentence_flags.npy",
                "sentences.npy",
                "store.json",
            ]
            if encoder_export is not None:
                encoder_export(tmp / ENCODER_DIR)
                names += sorted(
                    p.relative_to(tmp).as_posix()
                    for p in (tmp / ENCODER_DIR).rglob("*")
                    if p.is_file()
                )
            files = {name: sha256_file(tmp / name) for name in names}
            manifest = Manifest(
                format=FORMAT_VERSION,
                model=embedder.model_id,
                dim=embedder.dim,
                chunker_version=CHUNKER_VERSION,
                corpus_sha256=sha,
                documents=len(docs),
                sections=len(sec_by_key),
                chunks=len(chunks),
                sentences=len(refs),
                files=files,
                built_at=time.time(),
                encoder=ENCODER_DIR if encoder_export is not None else None,
                dense_index=kind,
            )
            (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2))
            _fsync_dir(tmp)
            tmp.rename(index_dir / gen)
            pointer = index_dir / ".CURRENT.tmp"
            pointer.write_text(gen + "\n")
            os.replace(pointer, index_dir / "CURRENT")  # the one rename that swaps it in
            _fsync_dir(index_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _remove_old_generations(index_dir, keep=gen)
    return manifest


def _flags(docs: list[Document]) -> Any:
    """Every sentence's flags (`kinds.sentence_flags`), in the order of the sentence refs."""
    return np.array(
        [
            sentence_flags(s.sentence_text(i), block_kind=s.block_of(i).kind, first=i == 0)
            for d in docs
            for s in d.sections
            for i in range(len(s.sentences))
        ],
        dtype=np.int32,
    )


def write_dense_index(vectors: Vectors, path: Path, *, kind: str, dim: int) -> None:
    """Exact inner-product index, or an HNSW graph over the same vectors for large corpora."""
    import faiss

    fidx: Any
    if kind == "hnsw":
        fidx = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        fidx.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        fidx.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        fidx = faiss.IndexFlatIP(dim)  # inner product of unit vectors = cosine
    if len(vectors):
        fidx.add(vectors)
    faiss.write_index(fidx, str(path))


def _encode_batched(
    embedder: Embedder, texts: list[str], batch_size: int, progress: Progress | None
) -> Vectors:
    parts: list[Vectors] = []
    for start in range(0, len(texts), batch_size):
        parts.append(embedder.encode(texts[start : start + batch_size]))
        if progress:
            progress(min(start + batch_size, len(texts)), len(texts))
    if not parts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.vstack(parts).astype(np.float32)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_old_generations(index_dir: Path, keep: str) -> None:
    for p in index_dir.iterdir():
        stale_tmp = p.name.startswith(".tmp-gen-")
        if p.is_dir() and p.name != keep and (p.name.startswith("gen-") or stale_tmp):
            shutil.rmtree(p, ignore_errors=True)
