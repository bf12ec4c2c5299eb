"""Reports added and removed while serving: `/v1/documents`, the `docs` scope, background
builds swapped in, `serve --watch`, on real files the tests make (PDFs printed by headless
Chromium, web pages in a site's chrome, Word files written by python-docx) and a real server.

Each test gets its own corpus and index folders, copied from one built once for the module
(the index's files hard-linked: a generation's files are never written twice).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import format_files as ff
import httpx
import openai
import pytest
from conftest import DOC, REPORT, live_server, loopback_socket, url_of
from fastapi.testclient import TestClient

from peelqa.config import Settings
from peelqa.encoder.export import export_encoder
from peelqa.index.build import build_index
from peelqa.index.store import current_generation
from peelqa.runtime import Components
from peelqa.server.app import create_app

ADMIN = "admin-key-for-the-tests-0001"
ASKER = "ask-key-for-the-tests-00001"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
KINGSMERE = ff.kingsmere()
LONG = ff.kingsmere(areas=24, depth=3, seed=11)  # about 40 pages printed
GRADE_Q = "What grade did Kingsmere Police get for investigating crime?"


# ---- folders and apps ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, embedder: Any, components: Components
) -> Path:
    """A corpus of the real report and its index, with the encoder export (hard-linked from
    the session's index, not exported again)."""
    root = tmp_path_factory.mktemp("library")
    (root / "corpus").mkdir()
    shutil.copy(REPORT, root / "corpus" / REPORT.name)
    build_index(
        corpus_dir=root / "corpus",
        index_dir=root / "index",
        embedder=embedder,
        encoder_export=lambda d: export_encoder(
            out_dir=d, model_id=embedder.model_id, reuse=components.index.encoder_dir
        ),
    )
    return root


def settings_for(template: Path, dest: Path, **extra: Any) -> Settings:
    shutil.copytree(template / "corpus", dest / "corpus")
    shutil.copytree(template / "index", dest / "index", copy_function=os.link)
    values: dict[str, Any] = {
        "corpus": dest / "corpus",
        "index": dest / "index",
        "api_keys": "",
        "admin_keys": ADMIN,
        "rate_limit": 0,
        **extra,
    }
    return Settings(**values)


@pytest.fixture()
def settings(template: Path, tmp_path: Path) -> Settings:
    return settings_for(template, tmp_path)


@pytest.fixture()
def client(settings: Settings) -> Iterator[TestClient]:
    """The app as `peelqa serve` makes it: it loads its own components from the folders."""
    with TestClient(create_app(settings)) as c:
        yield c


def upload(c: TestClient | httpx.Client, name: str, data: bytes, **params: Any) -> httpx.Response:
    return c.post("/v1/documents", files={"file": (name, data)}, headers=AS_ADMIN, params=params)


def wait_until(
    c: TestClient | httpx.Client, doc: str, status: str = "ready", timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = c.get(f"/v1/documents/{doc}")
        seen = r.json() if r.status_code == 200 else {"http": r.status_code}
        if seen.get("status") == status:
            return seen
        time.sleep(0.2)
    raise AssertionError(f"{doc} not {status} within {timeout} s: {seen}")


def cited(reply: dict[str, Any]) -> set[str]:
    return {c["doc"] for c in reply["citations"]}


# ---- files --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Kingsmere printed to PDF, as a web page and as a Word file; the 40-page report; and
    PDFs that are not readable reports."""
    out = tmp_path_factory.mktemp("files")
    if not ff.CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have /usr/bin/chromium: .ci/run installs it with apt-get")
        pytest.skip("no /usr/bin/chromium here (apt-get install -y chromium to run these)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(ff.CHROMIUM), args=ff.CHROMIUM_ARGS)
        try:
            made = {
                "kingsmere.pdf": ff.print_pdf(browser, KINGSMERE, out / "kingsmere.pdf"),
                "long.pdf": ff.print_pdf(browser, LONG, out / "long.pdf"),
            }
        finally:
            browser.close()
    (out / "kingsmere.html").write_text(ff.web_page(KINGSMERE), encoding="utf-8")
    made["kingsmere.html"] = out / "kingsmere.html"
    made["kingsmere.docx"] = ff.write_docx(KINGSMERE, out / "kingsmere.docx")
    made["scanned.pdf"] = ff.scanned_pdf(out / "scanned.pdf")
    made["encrypted.pdf"] = ff.encrypted_pdf(made["kingsmere.pdf"], out / "encrypted.pdf")
    made["truncated.pdf"] = ff.truncated_pdf(made["kingsmere.pdf"], out / "truncated.pdf")
    return made


# ---- adding, answering, removing ----------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_a_report_added_is_answered_and_once_removed_is_never_cited(
    client: TestClient, files: dict[str, Path], settings: Settings
) -> None:
    pdf = files["kingsmere.pdf"].read_bytes()
    r = upload(client, "kingsmere.pdf", pdf)
    assert r.status_code == 202 and r.json() == {"doc": "kingsmere", "status": "indexing"}
    assert client.get("/v1/documents/kingsmere").json()["status"] == "indexing"
    # The report already in service answers as before meanwhile.
    before = client.post("/v1/ask", json={"question": "What is the THRIVE approach used for?"})
    assert before.status_code == 200 and cited(before.json()) == {DOC}

    d = wait_until(client, "kingsmere")
    assert d["title"] == KINGSMERE.title and d["format"] == "pdf"
    assert d["pages"] and d["pages"] >= 3 and d["sections"] > 20 and d["error"] is None
    listed = {x["doc"]: x["status"] for x in client.get("/v1/documents").json()}
    assert listed == {DOC: "ready", "kingsmere": "ready"}

    reply = client.post("/v1/ask", json={"question": GRADE_Q, "docs": ["kingsmere"]}).json()
    assert reply["answered"] and cited(reply) == {"kingsmere"}
    assert "requires improvement" in reply["answer"].lower()
    assert reply["citations"][0]["page"] >= 1
    # The file comes back as it was added, and is in the corpus folder for a restart.
    got = client.get("/v1/documents/kingsmere/file")
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["content-type"] == "application/pdf"
    assert (settings.corpus / "kingsmere.pdf").read_bytes() == pdf

    assert client.delete("/v1/documents/kingsmere", headers=AS_ADMIN).status_code == 204
    # From this moment on, nothing cites it, however it is asked.
    for q in (GRADE_Q, "How does Kingsmere Police respond to the public?"):
        r = client.post("/v1/ask", json={"question": q})
        assert r.status_code == 200 and "kingsmere" not in cited(r.json())
    scoped = client.post("/v1/ask", json={"question": GRADE_Q, "docs": ["kingsmere"]})
    assert scoped.status_code == 404 and scoped.json()["error"]["code"] == "unknown_document"
    assert client.get("/v1/documents/kingsmere").status_code == 404
    assert client.get("/v1/documents/kingsmere/file").status_code == 404
    assert all(s["doc"] == DOC for s in client.get("/v1/sections").json())
    assert not (settings.corpus / "kingsmere.pdf").exists()
    # ... and the next generation no longer holds it at all.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        gen = current_generation(settings.index)
        if "kingsmere.pdf" not in (gen / "manifest.json").read_text():
            break
        time.sleep(0.2)
    else:
        raise AssertionError("no generation without the removed report")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("name", ["kingsmere.html", "kingsmere.docx"])
def test_a_web_page_and_a_word_file_are_added_like_a_pdf(
    client: TestClient, files: dict[str, Path], name: str
) -> None:
    # The name says nothing: the content decides the format.
    r = upload(client, "kingsmere" + (".bin" if name.endswith("docx") else ".txt"), b"")
    assert r.status_code == 415
    r = upload(client, "kingsmere.report", files[name].read_bytes())
    assert r.status_code == 202, r.text
    d = wait_until(client, "kingsmere")
    assert d["format"] == name.rsplit(".", 1)[1] and d["title"] == KINGSMERE.title
    reply = client.post("/v1/ask", json={"question": GRADE_Q, "docs": ["kingsmere"]}).json()
    assert reply["answered"] and "requires improvement" in reply["answer"].lower()
    got = client.get("/v1/documents/kingsmere/file")
    assert got.content == files[name].read_bytes()
    if name.endswith("html"):  # a page among the reports cannot act as this site
        assert got.headers["content-type"].startswith("text/html")
        assert got.headers["content-security-policy"] == "sandbox"


def test_a_markdown_report_restarts_with_the_server(client: TestClient, settings: Settings) -> None:
    r = upload(client, "kingsmere.md", ff.markdown(KINGSMERE).encode())
    assert r.status_code == 202
    wait_until(client, "kingsmere")
    with TestClient(create_app(settings)) as again:
        assert again.get("/v1/documents/kingsmere").json()["status"] == "ready"
        reply = again.post("/v1/ask", json={"question": GRADE_Q, "docs": ["kingsmere"]}).json()
        assert cited(reply) == {"kingsmere"}


def test_an_id_in_use_is_409_unless_replaced_and_the_same_file_is_201(
    client: TestClient,
) -> None:
    md = ff.markdown(KINGSMERE).encode()
    assert upload(client, "kingsmere.md", md).status_code == 202
    wait_until(client, "kingsmere")
    again = upload(client, "kingsmere.md", md)
    assert again.status_code == 201 and again.json() == {"doc": "kingsmere", "status": "ready"}
    changed = md.replace(b"Outstanding", b"Inadequate").replace(b"outstanding", b"inadequate")
    r = upload(client, "kingsmere.md", changed)
    assert r.status_code == 409 and "replace=true" in r.json()["error"]["message"]
    r = upload(client, DOC + ".txt", b"Another report\n\nSome text.\n")
    assert r.status_code == 409
    r = upload(client, "kingsmere.md", changed, replace="true")
    assert r.status_code == 202
    q = "What grade did Kingsmere get for leadership and force management?"
    # The version in service answers until the new one is ready; then the new one does.
    first = client.post("/v1/ask", json={"question": q, "docs": ["kingsmere"]}).json()
    assert first["answered"]
    wait_until(client, "kingsmere")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = client.post("/v1/ask", json={"question": q, "docs": ["kingsmere"]}).json()
        if "inadequate" in reply["answer"].lower():
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the replaced report still answers: {reply['answer']}")


# ---- refusals -----------------------------------------------------------------------------------


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 200)).save(buf, "PNG")
    return buf.getvalue()


def _xlsx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [("report.pdf", _png()), ("report.docx", _xlsx()), ("report.txt", b"\x00\x01binary\x02")],
)
def test_a_format_it_does_not_read_is_415_by_content(
    client: TestClient, settings: Settings, name: str, data: bytes
) -> None:
    r = upload(client, name, data)
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_format"
    assert "judged by its content" in r.json()["error"]["message"]
    assert [p.name for p in settings.corpus.iterdir() if not p.name.startswith(".")] == [
        REPORT.name
    ]


@pytest.mark.browser
@pytest.mark.parametrize(
    ("name", "code", "says"),
    [
        ("scanned.pdf", "no_text_layer", "no text layer"),
        ("encrypted.pdf", "encrypted", "password"),
        ("truncated.pdf", "corrupt", "incomplete"),
    ],
)
def test_a_file_that_is_no_readable_report_is_422_saying_why(
    client: TestClient, files: dict[str, Path], settings: Settings, name: str, code: str, says: str
) -> None:
    r = upload(client, name, files[name].read_bytes())
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert says in r.json()["error"]["message"]
    assert not (settings.corpus / name).exists()
    assert client.get(f"/v1/documents/{name[:-4]}").status_code == 404


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"not a form", {"content-type": "application/octet-stream"}, 422),
        (b"--x\r\nbroken", {"content-type": "multipart/form-data; boundary=x"}, 422),
    ],
)
def test_a_request_that_is_no_upload_is_4xx(
    client: TestClient, body: bytes, headers: dict[str, str], status: int
) -> None:
    r = client.post("/v1/documents", content=body, headers={**headers, **AS_ADMIN})
    assert r.status_code == status, r.text
    missing = client.post("/v1/documents", files={"other": ("a.txt", b"x")}, headers=AS_ADMIN)
    assert missing.status_code == 422 and "`file`" in missing.json()["error"]["message"]
    badname = upload(client, ".hidden.txt", b"Title\n\nText.\n")
    assert badname.status_code == 422 and badname.json()["error"]["code"] == "invalid_name"


def test_removing_an_unknown_or_the_last_report(client: TestClient) -> None:
    assert client.delete("/v1/documents/nothing", headers=AS_ADMIN).status_code == 404
    r = client.delete(f"/v1/documents/{DOC}", headers=AS_ADMIN)
    assert r.status_code == 409 and r.json()["error"]["code"] == "last_report"


# ---- who may change the reports -----------------------------------------------------------------


def test_writes_need_an_admin_key(template: Path, tmp_path: Path) -> None:
    none = settings_for(template, tmp_path / "a", admin_keys="")
    with TestClient(create_app(none)) as c:
        r = c.post("/v1/documents", files={"file": ("x.txt", b"T\n\nText.\n")})
        assert r.status_code == 403 and "PEELQA_ADMIN_KEYS" in r.json()["error"]["message"]
        assert c.delete(f"/v1/documents/{DOC}").status_code == 403
        assert c.get("/v1/documents").status_code == 200  # reading stays open
    keyed = settings_for(template, tmp_path / "b", api_keys=ASKER)
    with TestClient(create_app(keyed)) as c:
        as_asker = {"Authorization": f"Bearer {ASKER}"}
        assert c.get("/v1/documents").status_code == 401
        assert c.get("/v1/documents", headers=as_asker).status_code == 200
        assert c.get("/v1/documents", headers=AS_ADMIN).status_code == 200
        r = c.post("/v1/documents", files={"file": ("x.txt", b"T\n\nT.\n")}, headers=as_asker)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        assert c.delete(f"/v1/documents/{DOC}", headers=as_asker).status_code == 403
        ask = c.post("/v1/ask", json={"question": "What grade?"}, headers=AS_ADMIN)
        assert ask.status_code == 200  # an admin key opens what an ask key does


# ---- the docs scope -----------------------------------------------------------------------------


def test_the_docs_scope_on_ask_and_on_the_openai_chat(client: TestClient) -> None:
    assert upload(client, "kingsmere.md", ff.markdown(KINGSMERE).encode()).status_code == 202
    wait_until(client, "kingsmere")
    q = "What grade did the force get?"
    for docs in (["kingsmere"], [DOC]):
        reply = client.post("/v1/ask", json={"question": q, "docs": docs}).json()
        assert reply["answered"] and cited(reply) == set(docs)
        streamed = client.post("/v1/ask", json={"question": q, "docs": docs, "stream": True})
        assert streamed.status_code == 200 and f'"doc": "{docs[0]}"' in streamed.text
    unknown = client.post("/v1/ask", json={"question": q, "docs": ["kingsmere", "nowhere"]})
    assert unknown.status_code == 404 and "nowhere" in unknown.json()["error"]["message"]
    assert client.post("/v1/ask", json={"question": q, "docs": []}).status_code == 422
    # The official client sends the scope as a top-level field through `extra_body`.
    oai = openai.OpenAI(
        base_url="http://testserver/v1", api_key="unused", http_client=client, max_retries=0
    )
    for docs in (["kingsmere"], [DOC]):
        done = oai.chat.completions.create(
            model="peelqa",
            messages=[{"role": "user", "content": q}],
            extra_body={"docs": docs},
        )
        assert {c["doc"] for c in done.model_extra["citations"]} == set(docs)
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(
            model="peelqa",
            messages=[{"role": "user", "content": q}],
            extra_body={"docs": ["nowhere"]},
        )


# ---- serve --watch ------------------------------------------------------------------------------


@pytest.mark.slow
def test_watch_takes_files_dropped_in_and_removed(template: Path, tmp_path: Path) -> None:
    s = settings_for(template, tmp_path, watch=True)
    with TestClient(create_app(s)) as c:
        (s.corpus / ".kingsmere.md.part").write_text("being copied")  # not a report (yet)
        (s.corpus / "kingsmere.md").write_text(ff.markdown(KINGSMERE), encoding="utf-8")
        (s.corpus / "scan.pdf").write_bytes(b"%PDF-1.7\n" + bytes(200) + b"\n%%EOF\n")
        wait_until(c, "kingsmere")
        failed = wait_until(c, "scan", status="failed")
        assert "damaged or incomplete" in failed["error"]
        reply = c.post("/v1/ask", json={"question": GRADE_Q}).json()
        assert "kingsmere" in cited(reply)
        assert c.get("/v1/documents/.kingsmere.md").status_code == 404
        (s.corpus / "kingsmere.md").unlink()
        deadline = time.monotonic() + 10
        while c.get("/v1/documents/kingsmere").status_code != 404:
            assert time.monotonic() < deadline, "a removed file is still listed"
            time.sleep(0.1)
        assert "kingsmere" not in cited(c.post("/v1/ask", json={"question": GRADE_Q}).json())


# ---- failures during an update ------------------------------------------------------------------


@pytest.mark.slow
def test_a_build_that_dies_leaves_the_previous_generation_serving(client: TestClient) -> None:
    library = client.app.state.library  # type: ignore[attr-defined]
    before = library.generation
    r = upload(client, "long.md", ff.markdown(LONG).encode())
    assert r.status_code == 202
    deadline = time.monotonic() + 60
    while library._builder.pid is None or not library.building:
        assert time.monotonic() < deadline, "no build started"
        time.sleep(0.05)
    time.sleep(1.0)  # into its embedding
    os.kill(library._builder.pid, signal.SIGKILL)
    failed = wait_until(client, "long", status="failed")
    assert "could not be updated" in failed["error"]
    assert library.generation == before
    assert current_generation(library.index_dir).name == before
    ok = client.post("/v1/ask", json={"question": "What is the THRIVE approach used for?"})
    assert ok.status_code == 200 and cited(ok.json()) == {DOC}
    # The next change builds again, reusing what the dead build had embedded.
    assert upload(client, "kingsmere.md", ff.markdown(KINGSMERE).encode()).status_code == 202
    wait_until(client, "long")
    wait_until(client, "kingsmere")


# ---- a live server ------------------------------------------------------------------------------


class Load:
    """A steady load: a few clients, each asking a question every `pause` seconds after its
    last reply, every reply recorded."""

    QUESTIONS = (
        "What is the THRIVE approach used for?",
        "How was Northamptonshire Police graded overall?",
        GRADE_Q,
        "How well does the force investigate crime?",
        # Only the uploaded report answers this one: the load meets the report once it serves.
        "What does the report say about the backlog of devices in digital forensics?",
    )

    # Two clients, a question every 0.1 s after the last reply: a steady load that leaves the
    # build some of the two cores.
    def __init__(self, url: str, clients: int = 2, pause: float = 0.1) -> None:
        self.url, self.pause = url, pause
        self.stop = threading.Event()
        self.replies: list[tuple[float, int, set[str]]] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]

    def _run(self, i: int) -> None:
        with httpx.Client(base_url=self.url, timeout=60) as c:
            n = i
            while not self.stop.wait(self.pause):
                # Numbered, so that most are computed rather than repeated from the cache.
                q = f"{self.QUESTIONS[n % len(self.QUESTIONS)]} ({n // len(self.QUESTIONS)})"
                n += 1
                try:
                    r = c.post("/v1/ask", json={"question": q})
                except httpx.HTTPError as e:
                    self.errors.append(repr(e))
                    continue
                if r.status_code != 200:
                    self.errors.append(f"{r.status_code} {r.text[:200]}")
                    continue
                self.replies.append((time.monotonic(), r.status_code, cited(r.json())))

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=90)


@pytest.mark.browser
@pytest.mark.live
@pytest.mark.slow
def test_under_load_a_40_page_pdf_is_answerable_within_30_s_and_gone_once_removed(
    settings: Settings, files: dict[str, Path]
) -> None:
    pdf = files["long.pdf"].read_bytes()
    with (
        live_server(create_app(settings)) as url,
        Load(url) as load,
        httpx.Client(base_url=url, timeout=60) as c,
    ):
        time.sleep(1.0)  # the load is steady before the upload
        start = time.monotonic()
        r = upload(c, "long.pdf", pdf)
        assert r.status_code == 202, r.text
        read_s = time.monotonic() - start
        while True:
            reply = c.post("/v1/ask", json={"question": GRADE_Q, "docs": ["long"]})
            if reply.status_code == 200 and cited(reply.json()) == {"long"}:
                break
            took = time.monotonic() - start
            status = c.get("/v1/documents/long").text
            assert took < 30, f"not answerable after 30 s (read in {read_s:.1f} s): {status}"
            time.sleep(0.2)
        took = time.monotonic() - start
        d = c.get("/v1/documents/long").json()
        assert d["status"] == "ready" and d["pages"] >= 38
        time.sleep(2.0)  # the load goes on with the report in service
        assert c.delete("/v1/documents/long", headers=AS_ADMIN).status_code == 204
        removed_at = time.monotonic()
        time.sleep(2.0)  # the load goes on over the removal and the rebuild after it
    late = [docs for at, _, docs in load.replies if at > removed_at]
    assert not load.errors, load.errors[:5]
    assert late and not any("long" in docs for docs in late)
    assert any("long" in docs for _, _, docs in load.replies), "the load never met the report"
    print(f"\n40-page PDF answerable {took:.1f} s after the upload; {len(load.replies)} answers")


def _rss_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


@pytest.mark.live
@pytest.mark.slow
def test_a_60_mb_upload_is_413_without_the_server_growing_by_it(
    template: Path, tmp_path: Path
) -> None:
    """A real `peelqa serve`, its memory read from /proc; the upload is streamed by the client
    too, so neither side holds it."""
    s = settings_for(template, tmp_path)
    sock = loopback_socket()
    port = sock.getsockname()[1]
    url = url_of(sock)
    sock.close()
    env = {
        **os.environ,
        "PEELQA_CORPUS": str(s.corpus),
        "PEELQA_INDEX": str(s.index),
        "PEELQA_ADMIN_KEYS": ADMIN,
        "PEELQA_API_KEYS": "",
        "PEELQA_RATE_LIMIT": "0",
        "HF_HUB_OFFLINE": "1",
    }
    cmd = [sys.executable, "-m", "peelqa.cli", "serve", "--port", str(port)]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    try:
        with httpx.Client(base_url=url, timeout=120) as c:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if c.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and proc.poll() is None, (
                    tmp_path / "serve.log"
                ).read_text()
                time.sleep(0.2)
            c.post("/v1/ask", json={"question": "What grade did the force get?"})
            before = _rss_kb(proc.pid)

            block = os.urandom(1 << 20)

            def body() -> Iterator[bytes]:
                yield b"--b\r\nContent-Disposition: form-data; "
                yield b'name="file"; filename="big.pdf"\r\n\r\n'
                yield b"%PDF-1.7\n"
                for _ in range(60):
                    yield block
                yield b"\r\n--b--\r\n"

            headers = {**AS_ADMIN, "content-type": "multipart/form-data; boundary=b"}
            streamed = c.post("/v1/documents", content=body(), headers=headers)
            after = _rss_kb(proc.pid)
            size = sum(len(part) for part in body())
            declared = c.post(
                "/v1/documents",
                content=body(),
                headers={**headers, "content-length": str(size)},
            )
            after_both = _rss_kb(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert streamed.status_code == 413, (streamed.text, (tmp_path / "serve.log").read_text())
    assert "PEELQA_MAX_UPLOAD_BYTES" in streamed.json()["error"]["message"]
    assert declared.status_code == 413
    for seen in (after, after_both):
        grown = (seen["VmHWM"] - before["VmHWM"]) / 1024
        assert grown < 16, f"the server's peak memory grew by {grown:.0f} MB"
        print(f"\nthe server's peak RSS grew by {grown:.1f} MB over a 60 MB upload")
    assert not [p for p in (s.corpus / ".uploads").rglob("*") if p.is_file()]
