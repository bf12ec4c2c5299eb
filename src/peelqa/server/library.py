"""The reports in service and on their way (`/v1/documents`): adding and removing them while
serving, the status of each, and the builds that bring the index up to date.

A change to the corpus folder (an upload, a removal, a file dropped in under `serve --watch`)
asks for a build. Builds run one at a time in a worker process (`index.updates`), each reading
the folder as it then is, so changes made during one are taken by the next; only reports
without a stored part are read and embedded. When a new generation is current (made here, by
another server process or by `peelqa build`), it is loaded off the event loop and swapped into
the answering service as one reference. A removed report leaves the answers at once: it is
hidden until a generation without it is in service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from peelqa.config import Settings
from peelqa.index.store import Index, IndexError_, current_generation, load_index, sha256_file
from peelqa.index.updates import (
    Checked,
    Worker,
    WorkerFailed,
    build_generation,
    check_report,
    read_progress,
    warm,
)
from peelqa.models import DocumentAccepted, DocumentOut
from peelqa.reports.corpus import REPORT_SUFFIXES, digest_of
from peelqa.reports.model import Document
from peelqa.runtime import Components, make_engine, model_id
from peelqa.server.errors import ApiError
from peelqa.server.service import AnswerService, Serving
from peelqa.server.uploads import Staged, cleanup_staging, place, report_name

log = logging.getLogger("peelqa")

# How often the index folder is looked at for a generation made elsewhere (another server
# process, `peelqa build`) and the corpus folder for reports removed by hand: a small read.
FOLLOW_S = 1.0
# Reading one report: a 40-page PDF takes a second or two; past this it is not a report.
CHECK_TIMEOUT_S = 120.0

FORMATS = {".txt": "txt", ".md": "md", ".pdf": "pdf", ".html": "html", ".htm": "html"}
FORMATS[".docx"] = "docx"
CONTENT_TYPES = {
    "txt": "text/plain; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "pdf": "application/pdf",
    "html": "text/html",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def _generation(index_dir: Path) -> str | None:
    try:
        return current_generation(index_dir).name
    except IndexError_:
        return None


def _stem(name: str) -> str:
    return Path(name).stem


class Library:
    def __init__(self, *, settings: Settings, service: AnswerService, attached: bool) -> None:
        """`attached`: the index in service is the one in `settings.index` (a server given
        other components serves them as they are, and cannot change them)."""
        self.settings = settings
        self.corpus = settings.corpus
        self.index_dir = settings.index
        self.service = service
        self.attached = attached
        self.generation = _generation(settings.index) if attached else None
        self.deleted: set[str] = set()  # removed, and maybe still in the index in service
        self.added: dict[str, Checked] = {}  # added here and not yet in service
        self.build_error: str | None = None
        self.building = False
        self._wanted = asyncio.Event()
        self._poke = asyncio.Event()
        self._writes = asyncio.Lock()
        self._loading = asyncio.Lock()
        self._checker = Worker()
        self._builder = Worker()
        self._digests: dict[str, tuple[int, int, str]] = {}
        self._build_settings = settings.to_json()
        self._tasks: anyio.abc.TaskGroup | None = None

    # ---- the folder ------------------------------------------------------------------------

    def files(self) -> dict[str, str]:
        """The report files in the corpus folder and their SHA-256, each file hashed again
        only when its size or time changes."""
        out: dict[str, str] = {}
        with contextlib.suppress(FileNotFoundError), os.scandir(self.corpus) as entries:
            for e in entries:
                name = e.name
                if name.startswith(".") or Path(name).suffix.lower() not in REPORT_SUFFIXES:
                    continue
                with contextlib.suppress(OSError):
                    st = e.stat()
                    if not e.is_file():
                        continue
                    known = self._digests.get(name)
                    if known is None or known[:2] != (st.st_size, st.st_mtime_ns):
                        known = (st.st_size, st.st_mtime_ns, sha256_file(Path(e.path)))
                        self._digests[name] = known
                    out[name] = known[2]
        return dict(sorted(out.items()))

    def _by_doc(self, files: dict[str, str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name in files:
            out.setdefault(_stem(name), []).append(name)
        return out

    def file_of(self, doc: str) -> tuple[Path, str] | None:
        """The report's file as added and its content type; None for a report not listed."""
        if self.document(doc) is None:
            return None
        names = self._by_doc(self.files()).get(doc)
        if not names:
            return None
        fmt = FORMATS.get(Path(names[0]).suffix.lower(), "txt")
        return self.corpus / names[0], CONTENT_TYPES[fmt]

    # ---- statuses --------------------------------------------------------------------------

    def documents(self) -> list[DocumentOut]:
        serving = self.service.serving
        files = self.files()
        by_doc = self._by_doc(files)
        ids = {d.doc for d in serving.components.index.documents} | set(by_doc)
        progress = read_progress(self.index_dir)
        out = [self._status(doc, by_doc.get(doc, []), files, serving, progress) for doc in ids]
        return sorted((d for d in out if d is not None), key=lambda d: d.doc)

    def document(self, doc: str) -> DocumentOut | None:
        files = self.files()
        names = self._by_doc(files).get(doc, [])
        return self._status(doc, names, files, self.service.serving, read_progress(self.index_dir))

    def _status(
        self,
        doc: str,
        names: list[str],
        files: dict[str, str],
        serving: Serving,
        progress: float | None,
    ) -> DocumentOut | None:
        index = serving.components.index
        served = index.document(doc) if doc not in serving.hidden else None
        if not names or not self.attached:
            # Served without its file (removed by hand, or another server's index): it answers
            # until a generation without it is in service.
            return _ready(served) if served is not None else None
        name, m = names[0], index.manifest
        if served is not None and (m.reports.get(name) == files[name] or not m.reports):
            return _ready(served)
        fmt = FORMATS.get(Path(name).suffix.lower(), "txt")
        read = self.added.get(doc)
        title = read.title if read is not None else served.title if served is not None else doc
        failure = m.failed.get(name)
        if failure is not None and failure.get("sha256") == files[name]:
            return _pending(doc, title, fmt, "failed", error=failure.get("error"))
        if self.build_error is not None and not self.building and not self._wanted.is_set():
            return _pending(doc, title, fmt, "failed", error=self.build_error)
        if served is None and not (self.settings.watch or doc in self.added):
            return None  # a file put there by hand, taken at the next build
        return _pending(doc, title, fmt, "indexing", progress=progress if self.building else 0.0)

    # ---- changes ---------------------------------------------------------------------------

    def check_writable(self) -> None:
        if not self.attached:
            raise ApiError(
                503,
                "index_detached",
                "this server serves components it was given, not the index in PEELQA_INDEX: "
                "reports cannot be added or removed",
            )

    async def add(self, staged: Staged, *, replace: bool) -> tuple[int, DocumentAccepted]:
        """Put an uploaded report in the corpus and ask for a build: 202, or 201 when that very
        file is already in service. 409 for an id in use (unless `replace`), 415 or 422 for a
        file that is no report."""
        self.check_writable()
        doc, name = report_name(staged)
        self._warm_builder()  # its start overlaps the reading of the report
        async with self._writes:
            path = place(staged, name)
            sha = await anyio.to_thread.run_sync(sha256_file, path)
            files = self.files()
            names = self._by_doc(files).get(doc, [])
            current = self.document(doc)
            if (
                names == [name]
                and files[name] == sha
                and current is not None
                and current.status == "ready"
            ):
                return 201, DocumentAccepted(doc=doc, status="ready")
            if (names or current is not None) and not replace:
                raise ApiError(
                    409,
                    "document_exists",
                    f"a report with id {doc!r} exists; send ?replace=true to replace it",
                )
            checked = await self._check(path)
            st = path.stat()
            os.replace(path, self.corpus / name)
            self._digests[name] = (st.st_size, st.st_mtime_ns, sha)  # not hashed again
            for other in names:
                if other != name:
                    (self.corpus / other).unlink(missing_ok=True)
            self.added[doc] = checked
            self.build_error = None
            self.request_build()
        return 202, DocumentAccepted(doc=doc, status="indexing")

    async def _check(self, path: Path) -> Checked:
        """Read the report in the worker; 422 with the reader's reason when it is no report."""
        try:
            with anyio.fail_after(CHECK_TIMEOUT_S):
                checked: Checked = await self._checker.call(
                    check_report,
                    str(path),
                    index_dir=str(self.index_dir),
                    model_id=model_id(self.settings),
                )
        except TimeoutError:
            raise ApiError(
                422, "unreadable", f"{path.name} took over {CHECK_TIMEOUT_S:g} s to read"
            ) from None
        except WorkerFailed as e:
            log.error("reading %s failed: %s", path.name, e)
            raise ApiError(422, "unreadable", f"{path.name} could not be read ({e})") from None
        if not checked.ok:
            raise ApiError(422, checked.code, checked.message)
        return checked

    async def remove(self, doc: str) -> None:
        """Take a report out of the corpus: it leaves the answers now, the index at the next
        build. 404 for a report not listed; 409 for the last one in service."""
        self.check_writable()
        async with self._writes:
            serving = self.service.serving
            index = serving.components.index
            names = self._by_doc(self.files()).get(doc, [])
            if self.document(doc) is None:
                raise ApiError(404, "unknown_document", f"no report with id {doc!r}")
            others = [d for d in index.documents if d.doc != doc and d.doc not in serving.hidden]
            if not others:
                raise ApiError(
                    409, "last_report", "the last report in service cannot be removed; add another"
                )
            for name in names:
                (self.corpus / name).unlink(missing_ok=True)
            self.deleted.add(doc)
            self.added.pop(doc, None)
            self.service.hide(self._hidden(index))
            self.request_build()

    # ---- the index in service ----------------------------------------------------------------

    def request_build(self) -> None:
        self._wanted.set()

    def _warm_builder(self) -> None:
        if self._builder.pid is None and self._tasks is not None:
            self._tasks.start_soon(self._warm)

    async def _warm(self) -> None:
        with contextlib.suppress(Exception):
            await self._builder.call(warm)

    def _hidden(self, index: Index) -> frozenset[str]:
        """The reports of `index` no answer may cite: removed, or whose file is gone, while the
        version in `index` is not the file in the folder now."""
        files = self.files()
        by_doc = self._by_doc(files)
        for d in index.documents:
            if d.doc not in by_doc:
                self.deleted.add(d.doc)
        served = index.manifest.reports
        keep: set[str] = set()
        for doc in self.deleted:
            if index.document(doc) is None:
                continue
            now = {files[n] for n in by_doc.get(doc, [])}
            was = {sha for n, sha in served.items() if _stem(n) == doc}
            if not now & was:
                keep.add(doc)
        self.deleted = keep
        return frozenset(keep)

    async def refresh(self) -> None:
        """Serve the current generation if it is not the one in service; hide what is gone."""
        async with self._loading:
            gen = _generation(self.index_dir)
            if gen is not None and gen != self.generation:
                try:
                    components = await anyio.to_thread.run_sync(self._load)
                except (IndexError_, OSError) as e:
                    log.warning("could not load the index generation %s: %s", gen, e)
                    return
                self.generation = gen
                # On the loop, between two awaits: a removal cannot slip in between.
                self.service.swap(components, hidden=self._hidden(components.index))
                self.added = {
                    d: c for d, c in self.added.items() if components.index.document(d) is None
                }
                log.info("serving index generation %s", gen)
                return
            hidden = self._hidden(self.service.components.index)
            if hidden != self.service.serving.hidden:
                self.service.hide(hidden)

    def _load(self) -> Components:
        embedder = self.service.components.embedder
        index = load_index(self.index_dir)
        engine = make_engine(index, embedder, settings=self.settings)
        return Components(embedder=embedder, index=index, engine=engine)

    # ---- background work -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The builds, the following of the index folder and (with `watch`) of the corpus
        folder, for as long as the app runs."""
        if not self.attached:
            yield
            return
        cleanup_staging(self.corpus)
        async with anyio.create_task_group() as tg:
            self._tasks = tg
            tg.start_soon(self._build_loop)
            tg.start_soon(self._follow_loop)
            if self.settings.watch:
                tg.start_soon(self._watch_loop)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()
                self._tasks = None
                self._checker.stop()
                self._builder.stop()

    async def _build_loop(self) -> None:
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            self.building = True
            try:
                await self._builder.call(build_generation, self._build_settings)
                self.build_error = None
            except Exception as e:  # the index in service goes on serving; the next change retries
                log.error("index build failed: %s", e)
                self.build_error = f"the index could not be updated: {e}"
            finally:
                self.building = False
            await self.refresh()

    async def _follow_loop(self) -> None:
        while True:
            with anyio.move_on_after(FOLLOW_S):
                await self._poke.wait()
            self._poke.clear()
            try:
                await self.refresh()
            except Exception:  # the next tick tries again; serving goes on meanwhile
                log.exception("following the index folder failed")

    async def _watch_loop(self) -> None:
        from watchfiles import Change, awatch

        def wanted(_: Change, path: str) -> bool:
            p = Path(path)
            return (
                p.parent == self.corpus.resolve()
                and not p.name.startswith(".")
                and p.suffix.lower() in REPORT_SUFFIXES
            )

        if digest_of(self.files()) != self.service.components.index.manifest.corpus_sha256:
            self.request_build()  # what changed while the server was down
        async for _changes in awatch(self.corpus.resolve(), watch_filter=wanted, recursive=False):
            self.request_build()
            self._poke.set()


def _ready(d: Document) -> DocumentOut:
    return DocumentOut(
        doc=d.doc,
        title=d.title,
        format=d.format,
        sections=len(d.sections),
        pages=d.pages,
        status="ready",
    )


def _pending(
    doc: str,
    title: str,
    fmt: str,
    status: str,
    *,
    error: str | None = None,
    progress: float | None = None,
) -> DocumentOut:
    return DocumentOut.model_validate(
        {
            "doc": doc,
            "title": title,
            "format": fmt,
            "sections": 0,
            "pages": None,
            "status": status,
            "error": error,
            "progress": progress if status == "indexing" else None,
        }
    )
