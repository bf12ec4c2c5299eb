"""Receiving a report file: a multipart upload streamed to disk as it arrives, never held in
memory, and refused (413) as soon as it passes its limit.

The file goes to a staging folder inside the corpus folder (`.uploads/`, which no build reads),
on the same file system as the corpus, so that putting it in place is one rename.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from peelqa.reports.formats.sniff import SNIFF_BYTES, Sniffed, sniff
from peelqa.server.errors import ApiError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

STAGING_DIR = ".uploads"
FIELD = b"file"
# The multipart framing and any small fields around the file: a few hundred bytes in
# practice; 64 KiB leaves room without letting a body run far past the file's limit.
OVERHEAD_BYTES = 64 * 1024
# A report's id is its file name without the extension: letters, digits, spaces and
# `. - _ ( )`, not starting with a dot or a space (a dot-file is not a report), at most 200.
_ID_RE = re.compile(r"[A-Za-z0-9_(][A-Za-z0-9 ._()-]{0,199}")
SUFFIXES: dict[Sniffed, str] = {"pdf": ".pdf", "html": ".html", "docx": ".docx", "text": ".txt"}


@dataclass
class Staged:
    """An uploaded file on disk in the staging folder, its first bytes and what it claims."""

    folder: Path  # the upload's own folder in the staging area; removed by `discard`
    path: Path
    filename: str
    size: int
    head: bytes

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@dataclass
class _Receiver:
    """The multipart parser's callbacks: the part named `file` goes to `out`, the rest is
    dropped."""

    out: IO[bytes]
    max_bytes: int
    name: bytes = b""  # of the header being read
    value: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)
    writing: bool = False
    found: bool = False
    filename: str = ""
    size: int = 0
    head: bytearray = field(default_factory=bytearray)

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.headers = {}

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self.name += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self.value += data[start:end]

    def header_end(self) -> None:
        self.headers[self.name.lower()] = self.value
        self.name, self.value = b"", b""

    def headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        if params.get(b"name") == FIELD and not self.found:
            self.writing = True
            self.filename = params.get(b"filename", b"").decode("utf-8", "replace")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if not self.writing:
            return
        self.size += end - start
        if self.size > self.max_bytes:
            raise _TooLarge
        if len(self.head) < SNIFF_BYTES:
            self.head += data[start : min(end, start + SNIFF_BYTES - len(self.head))]
        # A write to the page cache: cheaper on the event loop than a hand-over to a thread.
        self.out.write(data[start:end])

    def part_end(self) -> None:
        if self.writing:
            self.writing, self.found = False, True


class _TooLarge(Exception):
    pass


def too_large(max_bytes: int) -> ApiError:
    return ApiError(
        413,
        "file_too_large",
        f"the file is over {max_bytes:,} bytes (PEELQA_MAX_UPLOAD_BYTES)",
    )


async def receive(request: Request, *, corpus_dir: Path, max_bytes: int) -> Staged:
    """The multipart field `file` of the request, streamed into the staging folder."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(
            422,
            "invalid_request",
            "send the report as multipart/form-data, the file in the field `file`",
        )
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes + OVERHEAD_BYTES:
        raise too_large(max_bytes)  # before a byte of it is read
    folder = corpus_dir / STAGING_DIR / uuid.uuid4().hex
    folder.mkdir(parents=True)
    path = folder / "upload"
    try:
        with path.open("wb") as out:
            r = _Receiver(out=out, max_bytes=max_bytes)
            await _parse(request, MultipartParser(boundary, r.callbacks()), max_bytes)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if not r.found:
        shutil.rmtree(folder, ignore_errors=True)
        raise ApiError(422, "invalid_request", "the multipart field `file` is missing")
    return Staged(folder=folder, path=path, filename=r.filename, size=r.size, head=bytes(r.head))


async def _parse(request: Request, parser: MultipartParser, max_bytes: int) -> None:
    seen = 0
    try:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > max_bytes + OVERHEAD_BYTES:
                raise _TooLarge
            parser.write(chunk)
        parser.finalize()
    except _TooLarge:
        raise too_large(max_bytes) from None
    except MultipartParseError as e:
        raise ApiError(422, "invalid_request", f"the multipart body is malformed: {e}") from None


def report_name(staged: Staged) -> tuple[str, str]:
    """The report's id (the uploaded file's name without extension) and its file name in the
    corpus, with the extension of what the bytes are (415 when they are no report format)."""
    name = PurePosixPath(staged.filename.replace("\\", "/")).name
    given = PurePosixPath(name).suffix.lower()
    doc = name[: -len(given)] if given else name
    if not _ID_RE.fullmatch(doc):
        raise ApiError(
            422,
            "invalid_name",
            f"the report's id is its file name without extension, here {doc!r}: it needs 1 to "
            "200 letters, digits, spaces or . - _ ( ), not starting with a dot or a space",
        )
    kind = sniff(staged.head)
    if kind is None:
        raise ApiError(
            415,
            "unsupported_format",
            f"{name} is not a report format peelqa reads (PDF, web page, Word .docx, "
            "Markdown or plain UTF-8 text), judged by its content",
        )
    suffix = ".md" if kind == "text" and given in (".md", ".markdown") else SUFFIXES[kind]
    return doc, doc + suffix


def place(staged: Staged, name: str) -> Path:
    """Give the staged file its report name (still in staging), for reading it as a build will."""
    target = staged.folder / name
    staged.path.rename(target)
    staged.path = target
    return target


# An upload in staging this old was left by a server that stopped while receiving it (another
# server process may be receiving one right now).
ABANDONED_S = 3600.0


def cleanup_staging(corpus_dir: Path) -> None:
    """Remove uploads that a stopped server left half-received."""
    staging = corpus_dir / STAGING_DIR
    if not staging.is_dir():
        return
    now = time.time()
    for p in staging.iterdir():
        with contextlib.suppress(OSError):
            if now - p.stat().st_mtime > ABANDONED_S:
                shutil.rmtree(p, ignore_errors=True)
