"""`make screenshots`: the README's pictures, taken of the real chat page in Debian's Chromium.

Builds (or reuses) the index of `corpus/` in `index/`, serves the app on a free loopback port,
asks the page a question and writes the README's pictures: `docs/screenshot.png` (desktop, the
cited section open beside the chat), `docs/screenshot-phone.png` (a phone, the section as a sheet)
and `docs/screenshot-dark.png` (dark mode); then, over a corpus of one report printed to PDF by
the same Chromium (the tests' Kingsmere report, `tests/format_files.py`),
`docs/screenshot-pdf.png`: a citation with its page and the link to the original at that page.
Tests never write tracked files; this is the one thing that does, on purpose.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from peelqa.config import Settings
from peelqa.runtime import load_components
from peelqa.server.app import create_app

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHROMIUM = "/usr/bin/chromium"
QUESTION = "What grade did the force get?"
PDF_QUESTION = "What did inspectors say about the digital forensics backlog?"
# (file name, viewport, colour scheme, open the first source)
SHOTS = [
    ("screenshot.png", {"width": 1280, "height": 760}, "light", True),
    ("screenshot-phone.png", {"width": 390, "height": 780}, "light", False),
    ("screenshot-dark.png", {"width": 1280, "height": 760}, "dark", True),
]
# Chromium as the probe of this machine starts it: without the background-networking flags it
# tries to reach Google's hosts, which a closed network refuses.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def serve(settings: Settings) -> tuple[str, uvicorn.Server]:
    app = create_app(settings, components=load_components(settings))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.02)
    host, port = sock.getsockname()
    return f"http://{host}:{port}", server


def shoot(
    browser: Any,
    url: str,
    path: Path,
    viewport: dict[str, int],
    scheme: str,
    source: bool,
    question: str = QUESTION,
) -> None:
    """One picture: a fresh context (no stored conversation), the question asked, the answer
    done and, with `source`, its first quote opened in the source panel."""
    context = browser.new_context(viewport=viewport, color_scheme=scheme)
    page = context.new_page()
    page.goto(url + "/")
    box = page.get_by_role("textbox", name="Ask a question")
    box.fill(question)
    box.press("Enter")
    bot = page.locator(".exchange").last.locator('.msg.bot[data-status="done"]')
    bot.wait_for(timeout=30_000)
    if source:
        bot.locator(".ref").first.click()
        page.locator(".viewer mark.active").wait_for(timeout=10_000)
        # The picture shows the quote, not the focus ring the panel's heading takes.
        page.locator(".ref").first.evaluate("(e) => e.getRootNode().activeElement?.blur()")
    page.screenshot(path=str(path))
    context.close()


def main() -> int:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        print(f"screenshots need {CHROMIUM} (apt-get install -y chromium)", file=sys.stderr)
        return 1
    settings = Settings(corpus=ROOT / "corpus", index=ROOT / "index", api_keys="", rate_limit=0)
    url, server = serve(settings)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for name, viewport, scheme, source in SHOTS:
                shoot(browser, url, DOCS / name, viewport, scheme, source)
                print(f"wrote {DOCS / name}")
            server.should_exit = True
            pdf_shot(browser)
            browser.close()
    finally:
        server.should_exit = True
    return 0


def pdf_shot(browser: Any) -> None:
    """A citation of a PDF: the report printed A4 with a running header and page footer, served
    from a corpus of its own, the cited page named beside the quote."""
    sys.path.insert(0, str(ROOT / "tests"))
    import format_files as ff

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        ff.print_pdf(browser, ff.kingsmere(), corpus / "kingsmere.pdf")
        settings = Settings(corpus=corpus, index=Path(tmp) / "index", api_keys="", rate_limit=0)
        url, server = serve(settings)
        try:
            path = DOCS / "screenshot-pdf.png"
            shoot(browser, url, path, {"width": 1280, "height": 760}, "light", True, PDF_QUESTION)
            print(f"wrote {path}")
        finally:
            server.should_exit = True


if __name__ == "__main__":
    raise SystemExit(main())
