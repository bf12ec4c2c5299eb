"""The index: build, save, load and validate.

Layout of an index folder::

    CURRENT            name of the generation in service (replaced with one rename)
    parts/             each report read and embedded, kept for the next build (index/parts.py)
    gen-<id>/          manifest.json, store.json, sentences.npy,
                       chunks.faiss (one row per distinct chunk text), chunk_rows.npy (chunk ->
                       row), encoder/ (the ONNX export of the model, fp32 and int8, when built
                       with one)

A build writes a new generation beside the old one and only then points CURRENT at it, so a
build that dies midway leaves the previous index in service.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from peelqa.encoder.base import Vectors
from peelqa.reports.model import Document, Section, document_from_json

ENCODER_DIR = "encoder"

# 2: the dense index holds each distinct chunk text once (chunk_rows.npy maps chunks to rows).
# 3: documents keep nested sections, heading paths, blocks and pages.
FORMAT_VERSION = 3


class IndexError_(Exception):
    """Base of the index problems a user can act on."""


class IndexMissing(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


@dataclass(frozen=True)
class Chunk:
    doc: str
    section: str
    first: int  # sentence index in the section, inclusive
    last: int  # inclusive
    text: str


@dataclass
class Manifest:
    format: int
    model: str
    dim: int
    chunker_version: str
    corpus_sha256: str
    documents: int
    sections: int
    chunks: int
    sentences: int
    files: dict[str, str]
    built_at: float
    # Folder of the exported encoder in the generation, None when built without one.
    encoder: str | None = None
    dense_index: str = "flat"  # "flat" (exact) or "hnsw"
    # Each report file in the generation and the SHA-256 of its bytes.
    reports: dict[str, str] = field(default_factory=dict)
    # The corpus's files that could not be read as reports: {"sha256": ..., "error": why}.
    failed: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Index:
    manifest: Manifest
    documents: list[Document]
    chunks: list[Chunk]
    faiss_index: Any  # one row per distinct chunk text
    chunk_rows: Any  # numpy int array: chunk -> its row in faiss_index
    sentence_vectors: Vectors  # rows follow `sentence_refs`
    sentence_refs: list[tuple[str, str, int]]  # (doc, section, sentence index)
    sentence_flags: Any  # numpy int array, rows follow `sentence_refs` (kinds.sentence_flags)
    abbreviations: dict[str, str]  # short form -> long form, as the reports define them
    encoder_dir: Path | None = None  # the exported encoder of this generation, if any
    # Derived in __post_init__: lookups by id (answering looks sections up hundreds of times a
    # question, which as scans cost more than the search at 1,000 reports), and the rows of
    # faiss_index by chunk.
    sections: dict[tuple[str, str], Section] = field(init=False, repr=False)
    _documents: dict[str, Document] = field(init=False, repr=False)
    _row_chunks: list[list[int]] = field(init=False, repr=False)
    _row_vectors: Vectors = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Built once at load, before any request can see the index. The first of a repeated id
        # wins, as a scan finds it (section ids are unique within a report; report ids repeat
        # only for two files of one name, x.txt and x.md).
        self.sections = {}
        self._documents = {}
        for d in self.documents:
            self._documents.setdefault(d.doc, d)
            for s in d.sections:
                self.sections.setdefault((d.doc, s.section), s)
        self._row_chunks = [[] for _ in range(self.faiss_index.ntotal)]
        for ci, row in enumerate(self.chunk_rows):
            self._row_chunks[int(row)].append(ci)
        # Every row read back once: a reconstruct per call cost more than the product it feeds.
        self._row_vectors = np.asarray(
            self.faiss_index.reconstruct_n(0, self.faiss_index.ntotal), np.float32
        ).reshape(self.faiss_index.ntotal, self.faiss_index.d)

    def dense_search(self, qvec: Vectors, k: int) -> list[tuple[int, float]]:
        """The `k` chunks nearest `qvec` by cosine (fewer if the index has fewer), best first.

        Chunks with the same text share a row and come back in corpus order; the list stops at
        `k` instead of listing every copy (a paragraph that 1,000 reports share made this a
        1,000-item list, ~0.1 ms, for a search that keeps 12).
        """
        scores, ids = self.faiss_index.search(qvec[None, :], min(k, self.faiss_index.ntotal))
        found: list[tuple[int, float]] = []
        for row, score in zip(ids[0].tolist(), scores[0].tolist(), strict=True):
            if row < 0:
                continue
            for ci in self._row_chunks[row]:
                found.append((ci, score))
                if len(found) == k:
                    return found
        return found

    def chunk_vector(self, ci: int) -> Vectors:
        vec: Vectors = self._row_vectors[self.chunk_rows[ci]]
        return vec

    def chunk_similarities(self, chunk_ids: Any, qvec: Vectors) -> Vectors:
        """Cosine of `qvec` with each of the chunks `chunk_ids` (an int array), in one product."""
        sims: Vectors = self._row_vectors[self.chunk_rows[chunk_ids]] @ qvec
        return sims

    def section(self, doc: str, section: str) -> Section | None:
        return self.sections.get((doc, section))

    def document(self, doc: str) -> Document | None:
        return self._documents.get(doc)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def current_generation(index_dir: Path) -> Path:
    pointer = index_dir / "CURRENT"
    if not pointer.is_file():
        raise IndexMissing(f"no index in {index_dir}: run `peelqa build --index {index_dir}`")
    gen = index_dir / pointer.read_text().strip()
    if not gen.is_dir():
        raise IndexCorrupt(_corrupt_msg(index_dir, f"CURRENT names {gen.name}, which is missing"))
    return gen


def _corrupt_msg(index_dir: Path, why: str) -> str:
    return (
        f"index in {index_dir} is corrupt ({why}); delete the folder and run "
        f"`peelqa build --index {index_dir}` to rebuild it"
    )


def read_manifest(index_dir: Path) -> Manifest:
    gen = current_generation(index_dir)
    try:
        return Manifest(**json.loads((gen / "manifest.json").read_text()))
    except (OSError, ValueError, TypeError) as e:
        raise IndexCorrupt(_corrupt_msg(index_dir, f"manifest unreadable: {e}")) from e


def load_index(index_dir: Path) -> Index:
    """Load and check every file against the manifest; refuse anything inconsistent."""
    import faiss

    manifest = read_manifest(index_dir)
    gen = current_generation(index_dir)
    for name, digest in manifest.files.items():
        path = gen / name
        if not path.is_file():
            raise IndexCorrupt(_corrupt_msg(index_dir, f"{name} is missing"))
        if sha256_file(path) != digest:
            raise IndexCorrupt(_corrupt_msg(index_dir, f"{name} does not match its checksum"))
    try:
        store = json.loads((gen / "store.json").read_text())
        docs = [document_from_json(d) for d in store["documents"]]
        chunks = [Chunk(**c) for c in store["chunks"]]
        refs = [(a, b, int(c)) for a, b, c in store["sentence_refs"]]
        fidx = faiss.read_index(str(gen / "chunks.faiss"))
        chunk_rows = np.load(gen / "chunk_rows.npy", allow_pickle=False)
        sent = np.load(gen / "sentences.npy", allow_pickle=False)
        flags = np.load(gen / "sentence_flags.npy", allow_pickle=False)
    except Exception as e:  # any parse failure means the same thing to the user: rebuild
        raise IndexCorrupt(_corrupt_msg(index_dir, f"unreadable: {e}")) from e
    if (
        chunk_rows.shape != (len(chunks),)
        or (len(chunks) and (chunk_rows.min() < 0 or chunk_rows.max() >= fidx.ntotal))
        or len(chunks) != manifest.chunks
        or fidx.d != manifest.dim
        or sent.shape != (len(refs), manifest.dim)
        or flags.shape != (len(refs),)
        or len(refs) != manifest.sentences
    ):
        raise IndexCorrupt(_corrupt_msg(index_dir, "counts do not match the manifest"))
    return Index(
        manifest=manifest,
        documents=docs,
        chunks=chunks,
        faiss_index=fidx,
        chunk_rows=chunk_rows,
        sentence_vectors=np.ascontiguousarray(sent, dtype=np.float32),
        sentence_refs=refs,
        sentence_flags=flags,
        abbreviations=dict(store.get("abbreviations", {})),
        encoder_dir=gen / manifest.encoder if manifest.encoder else None,
    )
