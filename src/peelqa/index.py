"""The index: build, save, load and validate.

Layout of an index folder::

    CURRENT            name of the generation in service (replaced with one rename)
    gen-<id>/          manifest.json, store.json, sentences.npy,
                       chunks.faiss (one row per distinct chunk text), chunk_rows.npy (chunk ->
                       row), encoder/ (the ONNX export of the model, fp32 and int8, when built
                       with one)

A build writes a new generation beside the old one and only then points CURRENT at it, so a
build that dies midway leaves the previous index in service.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from peelqa.corpus import Document, Section, Sentence, corpus_sha256, read_corpus
from peelqa.embed import Embedder, Vectors

ENCODER_DIR = "encoder"

# 2: the dense index holds each distinct chunk text once (chunk_rows.npy maps chunks to rows).
FORMAT_VERSION = 2
# Bump when splitting or chunking changes, so that older indexes count as stale.
CHUNKER_VERSION = "3"
# About a short paragraph: long enough for context, short enough that one topic dominates.
CHUNK_MAX_WORDS = 90

# Past this many distinct chunks the dense search uses an HNSW graph instead of the exact flat
# index. Measured in bench/ (README "Performance"), one question at a time on this 2-core
# machine: an exact search costs 0.06-0.17 ms per 1,000 chunks, memory-bound and so worse when
# the machine is busy (0.3 ms at 5,000; 0.6-2 ms at the 1,000-report corpus's 12,000), HNSW
# ~0.1-0.3 ms at any size. At 5,000 chunks (~400 reports like the real one) the exact scan
# nears a tenth of a whole answered question; past it the graph is the cheaper of the two by
# more than its recall costs.
HNSW_MIN_CHUNKS = 5_000
# Graph degree 32, efSearch 128: recall@10 0.99 against the exact index on the 1,000-report
# chunks. Identical chunk texts (boilerplate repeated across reports) are stored once: exact
# duplicates cut HNSW graphs apart (recall 0.875 on those chunks as they were).
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128

Progress = Callable[[int, int], None]
# Writes an exported encoder into the folder it is given (see onnx_embed.export_encoder).
EncoderExport = Callable[[Path], None]


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


@dataclass
class Index:
    manifest: Manifest
    documents: list[Document]
    chunks: list[Chunk]
    faiss_index: Any  # one row per distinct chunk text
    chunk_rows: Any  # numpy int array: chunk -> its row in faiss_index
    sentence_vectors: Vectors  # rows follow `sentence_refs`
    sentence_refs: list[tuple[str, str, int]]  # (doc, section, sentence index)
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


def make_chunks(doc: Document) -> list[Chunk]:
    """Paragraph-sized runs of whole sentences; a long paragraph is cut between sentences."""
    chunks: list[Chunk] = []
    for sec in doc.sections:
        run: list[int] = []
        words = 0
        for i, s in enumerate(sec.sentences):
            n = len(sec.text[s.start : s.end].split())
            new_para = bool(run) and sec.sentences[run[-1]].paragraph != s.paragraph
            if run and (new_para or words + n > CHUNK_MAX_WORDS):
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


def _chunk(sec: Section, run: list[int]) -> Chunk:
    a, b = sec.sentences[run[0]], sec.sentences[run[-1]]
    return Chunk(sec.doc, sec.section, run[0], run[-1], sec.text[a.start : b.end])


def chunk_passage(doc: Document, sec: Section, chunk: Chunk) -> str:
    """What the encoder sees for a chunk: its heading gives the topic that the text assumes."""
    return f"{sec.heading}\n{chunk.text}".strip()


def sentence_passage(sec: Section, text: str) -> str:
    return f"{sec.heading}: {text}"


_ABBREV_RE = re.compile(r"\(([A-Z][A-Za-z]?[A-Z]{1,7})s?\)")
_JOINERS = frozenset({"of", "and", "for", "the", "in", "on", "&", "to"})


def find_abbreviations(docs: list[Document]) -> dict[str, str]:
    """Terms the reports define in brackets: "East Midlands Special Operations Unit (EMSOU)".

    Walks back from the bracket over the words whose initials spell the short form, skipping
    joining words ("of", "and"); a word in capitals gives all its letters ("HM Inspectorate").
    """
    found: dict[str, str] = {}
    for doc in docs:
        for sec in doc.sections:
            for m in _ABBREV_RE.finditer(sec.text):
                long = _long_form(sec.text[max(0, m.start() - 200) : m.start()], m.group(1))
                if long:
                    found.setdefault(m.group(1), long)
    return found


def _long_form(before: str, short: str) -> str | None:
    tokens = list(re.finditer(r"[A-Za-z][\w’'-]*|&", before))
    need = short.upper()
    start: int | None = None
    for tok in reversed(tokens):
        word = tok.group()
        if word.lower() in _JOINERS and start is not None:
            continue
        letters = word.upper() if word.isupper() and len(word) <= len(need) else word[0].upper()
        if not need.endswith(letters):
            return None
        need = need[: len(need) - len(letters)]
        start = tok.start()
        if not need:
            return before[start:].strip(" ,;:") or None
    return None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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
    doc_by_id = {d.doc: d for d in docs}
    refs = [
        (s.doc, s.section, i) for d in docs for s in d.sections for i in range(len(s.sentences))
    ]
    texts = [chunk_passage(doc_by_id[c.doc], sec_by_key[(c.doc, c.section)], c) for c in chunks] + [
        sentence_passage(sec_by_key[(doc, sid)], sec_by_key[(doc, sid)].sentence_text(i))
        for doc, sid, i in refs
    ]
    with _build_lock(index_dir):
        gen = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
        tmp = index_dir / f".tmp-{gen}"
        tmp.mkdir(parents=True)
        try:
            store = {
                "documents": [_doc_to_json(d) for d in docs],
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
            names = ["chunk_rows.npy", "chunks.faiss", "sentences.npy", "store.json"]
            if encoder_export is not None:
                encoder_export(tmp / ENCODER_DIR)
                names += sorted(
                    p.relative_to(tmp).as_posix()
                    for p in (tmp / ENCODER_DIR).rglob("*")
                    if p.is_file()
                )
            files = {name: _sha256_file(tmp / name) for name in names}
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


def _doc_to_json(d: Document) -> dict[str, Any]:
    return {
        "doc": d.doc,
        "title": d.title,
        "sections": [
            {
                "section": s.section,
                "heading": s.heading,
                "text": s.text,
                "number": s.number,
                "sentences": [[x.start, x.end, x.paragraph] for x in s.sentences],
            }
            for s in d.sections
        ],
    }


def _doc_from_json(j: dict[str, Any]) -> Document:
    return Document(
        doc=j["doc"],
        title=j["title"],
        sections=[
            Section(
                doc=j["doc"],
                section=s["section"],
                heading=s["heading"],
                text=s["text"],
                number=s["number"],
                sentences=[Sentence(a, b, p) for a, b, p in s["sentences"]],
            )
            for s in j["sections"]
        ],
    )


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


def freshness(
    *,
    index_dir: Path,
    corpus_dir: Path,
    model_id: str,
    encoder_ok: Callable[[Path], bool] | None = None,
) -> str:
    """'missing', 'stale' or 'fresh' for this corpus and model; a broken index raises.

    With `encoder_ok`, an index without an exported encoder, or whose export (the folder it is
    given) it rejects, counts as stale.
    """
    try:
        m = read_manifest(index_dir)
    except IndexMissing:
        return "missing"
    if (
        m.format != FORMAT_VERSION
        or m.chunker_version != CHUNKER_VERSION
        or m.model != model_id
        or m.corpus_sha256 != corpus_sha256(corpus_dir)
    ):
        return "stale"
    if encoder_ok is not None and (
        m.encoder is None or not encoder_ok(current_generation(index_dir) / m.encoder)
    ):
        return "stale"
    return "fresh"


def load_index(index_dir: Path) -> Index:
    """Load and check every file against the manifest; refuse anything inconsistent."""
    import faiss

    manifest = read_manifest(index_dir)
    gen = current_generation(index_dir)
    for name, digest in manifest.files.items():
        path = gen / name
        if not path.is_file():
            raise IndexCorrupt(_corrupt_msg(index_dir, f"{name} is missing"))
        if _sha256_file(path) != digest:
            raise IndexCorrupt(_corrupt_msg(index_dir, f"{name} does not match its checksum"))
    try:
        store = json.loads((gen / "store.json").read_text())
        docs = [_doc_from_json(d) for d in store["documents"]]
        chunks = [Chunk(**c) for c in store["chunks"]]
        refs = [(a, b, int(c)) for a, b, c in store["sentence_refs"]]
        fidx = faiss.read_index(str(gen / "chunks.faiss"))
        chunk_rows = np.load(gen / "chunk_rows.npy", allow_pickle=False)
        sent = np.load(gen / "sentences.npy", allow_pickle=False)
    except Exception as e:  # any parse failure means the same thing to the user: rebuild
        raise IndexCorrupt(_corrupt_msg(index_dir, f"unreadable: {e}")) from e
    if (
        chunk_rows.shape != (len(chunks),)
        or (len(chunks) and (chunk_rows.min() < 0 or chunk_rows.max() >= fidx.ntotal))
        or len(chunks) != manifest.chunks
        or fidx.d != manifest.dim
        or sent.shape != (len(refs), manifest.dim)
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
        abbreviations=dict(store.get("abbreviations", {})),
        encoder_dir=gen / manifest.encoder if manifest.encoder else None,
    )
