"""Reports as the index keeps them between builds: one part per report file.

A part is a report read, chunked and flagged (`<key>.json`) and, once embedded, its passage
vectors (`<key>.npy`: its chunks' rows, then its sentences'). The key is the report's id, the
SHA-256 of its file and the version of everything that made the part (reader and chunker,
store format, model), so a part is reused exactly when its report would come out the same. A
build reads and embeds only the reports it has no part for, and assembles the generation from
all of them: adding one report to a thousand embeds one report.

Parts are a cache, not the index: a generation holds its own copy of everything and is
checksummed; a part that does not load is made again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from peelqa.encoder.base import Vectors
from peelqa.index.store import Chunk
from peelqa.reports.model import Document, document_from_json, document_to_json

PARTS_DIR = "parts"
# A part no generation uses is kept this long: an upload being checked may have just made it
# for the build that follows.
UNUSED_GRACE_S = 600.0

Ints = npt.NDArray[np.int32]


@dataclass
class Part:
    doc: str
    file: str  # the report's file name in the corpus folder
    sha256: str  # of the file's bytes
    document: Document
    chunks: list[Chunk]
    flags: Ints  # one per sentence, in document order (kinds.sentence_flags)
    abbreviations: dict[str, str]  # what this report defines (index.abbreviations)
    vectors: Vectors | None = None  # chunks' rows, then sentences'; None until embedded

    @property
    def sentences(self) -> int:
        return sum(len(s.sentences) for s in self.document.sections)

    @property
    def rows(self) -> int:
        return len(self.chunks) + self.sentences


def part_key(*, file: str, sha256: str, version: str) -> str:
    """The file's name gives the report's id and format; its hash, the bytes read."""
    h = hashlib.sha256("\0".join((file, sha256, version)).encode("utf-8"))
    return h.hexdigest()[:40]


class PartStore:
    """The parts folder of an index (`index/parts/`)."""

    def __init__(self, folder: Path, *, version: str) -> None:
        self.folder = folder
        self.version = version

    def key(self, file: str, sha256: str) -> str:
        return part_key(file=file, sha256=sha256, version=self.version)

    def load(self, file: str, sha256: str) -> Part | None:
        """The part of this report file, with its vectors when they were stored; None when
        there is none or it does not load."""
        key = self.key(file, sha256)
        try:
            raw = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
            part = Part(
                doc=raw["doc"],
                file=raw["file"],
                sha256=raw["sha256"],
                document=document_from_json(raw["document"]),
                chunks=[Chunk(**c) for c in raw["chunks"]],
                flags=np.asarray(raw["flags"], dtype=np.int32),
                abbreviations=dict(raw["abbreviations"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if part.file != file or part.sha256 != sha256 or len(part.flags) != part.sentences:
            return None
        with contextlib.suppress(OSError, ValueError):
            vectors = np.load(self.folder / f"{key}.npy", allow_pickle=False)
            if vectors.ndim == 2 and vectors.shape[0] == part.rows:
                part.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return part

    def save(self, part: Part) -> None:
        """The part's reading, and its vectors when it has them; each file appears whole."""
        self.folder.mkdir(parents=True, exist_ok=True)
        key = self.key(part.file, part.sha256)
        raw: dict[str, Any] = {
            "doc": part.doc,
            "file": part.file,
            "sha256": part.sha256,
            "document": document_to_json(part.document),
            "chunks": [asdict(c) for c in part.chunks],
            "flags": part.flags.tolist(),
            "abbreviations": part.abbreviations,
        }
        _write_whole(self.folder / f"{key}.json", json.dumps(raw, ensure_ascii=False).encode())
        if part.vectors is not None:
            self.save_vectors(part)

    def save_vectors(self, part: Part) -> None:
        assert part.vectors is not None
        key = self.key(part.file, part.sha256)
        tmp = self.folder / f".{key}.{os.getpid()}.npy"
        np.save(tmp, part.vectors)
        os.replace(tmp, self.folder / f"{key}.npy")

    def prune(self, keep: Iterable[str], *, grace_s: float = UNUSED_GRACE_S) -> None:
        """Remove the parts whose keys are not in `keep` and that are older than `grace_s`."""
        if not self.folder.is_dir():
            return
        kept = set(keep)
        now = time.time()
        for p in self.folder.iterdir():
            key = p.name.lstrip(".").split(".", 1)[0]
            if key in kept:
                continue
            with contextlib.suppress(OSError):
                if now - p.stat().st_mtime > grace_s:
                    p.unlink()


def _write_whole(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
