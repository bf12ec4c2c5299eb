"""Building an index generation: parse, chunk, embed, write, then swap it in with one rename."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from peelqa.encoder.base import Embedder, Vectors
from peelqa.index.abbreviations import find_abbreviations
from peelqa.index.parts import PARTS_DIR, Part, PartStore
from peelqa.index.store import (
    ENCODER_DIR,
    FORMAT_VERSION,
    Chunk,
    Manifest,
    sha256_file,
)
from peelqa.kinds import sentence_flags
from peelqa.reports.corpus import REPORT_SUFFIXES, digest_of, file_digests, read_report
from peelqa.reports.elements import UnreadableReport
from peelqa.reports.model import Document, Section, document_to_json, slugify

log = logging.getLogger("peelqa")

# Bump when reading, splitting, chunking or the sentence flags change, so that older indexes
# count as stale.
CHUNKER_VERSION = "7"
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


def part_version(model_id: str) -> str:
    """What a part depends on besides its file: the reader and chunker, the format, the model."""
    return f"chunker {CHUNKER_VERSION}; format {FORMAT_VERSION}; model {model_id}"


def read_part(path: Path, *, sha256: str | None = None) -> Part:
    """A report file read, chunked and flagged, not yet embedded. Raises UnreadableReport."""
    doc = read_report(path)
    return Part(
        doc=doc.doc,
        file=path.name,
        sha256=sha256 or sha256_file(path),
        document=doc,
        chunks=make_chunks(doc),
        flags=_flags([doc]),
        abbreviations=find_abbreviations([doc]),
    )


def part_passages(part: Part) -> list[str]:
    """What the encoder reads for a part: its chunks' passages, then its sentences'."""
    d = part.document
    topic = topics([d])
    return [chunk_passage(topic[(c.doc, c.section)], c) for c in part.chunks] + [
        sentence_passage(topic[(d.doc, s.section)], s.sentence_text(i))
        for s in d.sections
        for i in range(len(s.sentences))
    ]


def read_parts(
    corpus_dir: Path, store: PartStore, digests: dict[str, str]
) -> tuple[list[Part], dict[str, dict[str, str]]]:
    """Every report's part, reused when stored, else read (and stored); and the files that
    could not be read as reports: their hash and why."""
    parts: list[Part] = []
    failed: dict[str, dict[str, str]] = {}
    for name, sha in digests.items():
        part = store.load(name, sha)
        if part is None:
            try:
                part = read_part(corpus_dir / name, sha256=sha)
            except UnreadableReport as e:
                failed[name] = {"sha256": sha, "error": e.message}
                continue
            except Exception as e:  # a reader's own failure on a strange file: that file only
                log.exception("could not read %s", name)
                failed[name] = {"sha256": sha, "error": f"could not be read ({e!r})"}
                continue
            store.save(part)
        parts.append(part)
    return parts, failed


def embed_parts(
    parts: list[Part],
    store: PartStore,
    embedder: Embedder,
    *,
    batch_size: int,
    progress: Progress | None,
) -> None:
    """Vectors for the parts that have none, each stored as soon as it is complete. A text
    that several reports share (a family's boilerplate) is encoded once."""
    todo = [(p, part_passages(p)) for p in parts if p.vectors is None]
    total = len({t for _, texts in todo for t in texts})
    done: dict[str, Vectors] = {}
    for part, texts in todo:
        # Shortest first: each call then pads its texts to similar lengths.
        new = sorted(dict.fromkeys(t for t in texts if t not in done), key=len)
        for start in range(0, len(new), batch_size):
            batch = new[start : start + batch_size]
            done.update(zip(batch, embedder.encode(batch), strict=True))
            if progress:
                progress(len(done), total)
        rows = [done[t] for t in texts]
        part.vectors = (
            np.vstack(rows).astype(np.float32)
            if rows
            else np.zeros((0, embedder.dim), dtype=np.float32)
        )
        store.save_vectors(part)


def build_index(
    *,
    corpus_dir: Path,
    index_dir: Path,
    embedder: Embedder,
    progress: Progress | None = None,
    batch_size: int = 256,
    encoder_export: EncoderExport | None = None,
    hnsw_min_chunks: int = HNSW_MIN_CHUNKS,
) -> Manifest:
    """Read, chunk and embed the reports that have no part yet, write a new generation of all
    of them, then swap it in with one rename.

    A report that cannot be read is left out and named in the manifest's `failed`. With
    `encoder_export`, the exported encoder is written into the generation's `encoder/` folder
    and checksummed with the rest. `batch_size`: texts per encoder call (and progress step).
    """
    with _build_lock(index_dir):
        store = PartStore(index_dir / PARTS_DIR, version=part_version(embedder.model_id))
        digests = file_digests(corpus_dir)
        parts, failed = read_parts(corpus_dir, store, digests)
        if not parts:
            raise FileNotFoundError(
                f"corpus folder {corpus_dir} holds no readable report "
                f"({', '.join(REPORT_SUFFIXES)})"
                + "".join(f"; {name}: {why['error']}" for name, why in failed.items())
            )
        embed_parts(parts, store, embedder, batch_size=batch_size, progress=progress)
        manifest = _write_generation(
            index_dir,
            parts,
            embedder=embedder,
            digests=digests,
            failed=failed,
            encoder_export=encoder_export,
            hnsw_min_chunks=hnsw_min_chunks,
        )
        store.prune(keep=[store.key(p.file, p.sha256) for p in parts])
    return manifest


@dataclass
class _Assembled:
    docs: list[Document]
    chunks: list[Chunk]
    refs: list[tuple[str, str, int]]
    chunk_vectors: Vectors  # one row per distinct chunk passage
    chunk_rows: Any  # int32: chunk -> its row
    sentence_vectors: Vectors
    flags: Any
    abbreviations: dict[str, str]


def _assemble(parts: list[Part], dim: int) -> _Assembled:
    """The corpus from its parts, in file order. Chunks with the same passage share a row of
    the dense index: exact duplicates cut HNSW graphs apart."""
    distinct: dict[str, int] = {}
    chunk_rows: list[int] = []
    kept: list[Vectors] = []
    abbreviations: dict[str, str] = {}
    for p in parts:
        assert p.vectors is not None
        for c, text in enumerate(part_passages(p)[: len(p.chunks)]):
            row = distinct.setdefault(text, len(distinct))
            if row == len(kept):
                kept.append(p.vectors[c])
            chunk_rows.append(row)
        for short, long in p.abbreviations.items():
            abbreviations.setdefault(short, long)

    def stack(rows: list[Vectors]) -> Vectors:
        return np.vstack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)

    return _Assembled(
        docs=[p.document for p in parts],
        chunks=[c for p in parts for c in p.chunks],
        refs=[
            (s.doc, s.section, i)
            for p in parts
            for s in p.document.sections
            for i in range(len(s.sentences))
        ],
        chunk_vectors=stack(kept),
        chunk_rows=np.array(chunk_rows, dtype=np.int32),
        sentence_vectors=stack([v[len(p.chunks) :] for p in parts if (v := p.vectors) is not None]),
        flags=np.concatenate([p.flags for p in parts]).astype(np.int32),
        abbreviations=abbreviations,
    )


def _write_generation(
    index_dir: Path,
    parts: list[Part],
    *,
    embedder: Embedder,
    digests: dict[str, str],
    failed: dict[str, dict[str, str]],
    encoder_export: EncoderExport | None,
    hnsw_min_chunks: int,
) -> Manifest:
    a = _assemble(parts, embedder.dim)
    gen = f"gen-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    tmp = index_dir / f".tmp-{gen}"
    tmp.mkdir(parents=True)
    try:
        store = {
            "documents": [document_to_json(d) for d in a.docs],
            "chunks": [asdict(c) for c in a.chunks],
            "sentence_refs": a.refs,
            "abbreviations": a.abbreviations,
        }
        (tmp / "store.json").write_text(json.dumps(store, ensure_ascii=False))
        kind = "hnsw" if len(a.chunk_vectors) >= hnsw_min_chunks else "flat"
        write_dense_index(a.chunk_vectors, tmp / "chunks.faiss", kind=kind, dim=embedder.dim)
        np.save(tmp / "chunk_rows.npy", a.chunk_rows)
        np.save(tmp / "sentences.npy", a.sentence_vectors)
        np.save(tmp / "sentence_flags.npy", a.flags)
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
                p.relative_to(tmp).as_posix() for p in (tmp / ENCODER_DIR).rglob("*") if p.is_file()
            )
        files = {name: sha256_file(tmp / name) for name in names}
        manifest = Manifest(
            format=FORMAT_VERSION,
            model=embedder.model_id,
            dim=embedder.dim,
            chunker_version=CHUNKER_VERSION,
            corpus_sha256=digest_of(digests),
            documents=len(a.docs),
            sections=len({(s.doc, s.section) for d in a.docs for s in d.sections}),
            chunks=len(a.chunks),
            sentences=len(a.refs),
            files=files,
            built_at=time.time(),
            encoder=ENCODER_DIR if encoder_export is not None else None,
            dense_index=kind,
            reports={p.file: p.sha256 for p in parts},
            failed=failed,
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
