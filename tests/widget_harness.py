"""What the widget's browser tests share: live servers, host pages on another origin, Chromium,
axe-core, and helpers that drive the chat as a person would.

One browser and one live uvicorn (the real app over the session's real index) serve a test
module. Host pages come from a second small HTTP server on another port, so the widget runs
embedded on another origin, reaching the API through the CORS allow-list. A second live server
answers from three reports (text, Markdown and a Chromium-printed PDF) for what only shows with
several reports: the picker, report titles with quotes, PDF pages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import CORPUS, DATA, REPORT, ROOT, _components
from fastapi import FastAPI
from format_files import kingsmere, print_pdf
from pydantic import SecretStr

from peelqa.config import Settings
from peelqa.encoder.sbert import SentenceTransformerEmbedder
from peelqa.runtime import Components
from peelqa.server.app import create_app

# Every state the tests reach, as pictures to look at when something fails (not in git).
ARTIFACTS = ROOT / "tests" / ".artifacts"
# axe-core from the npm registry, installed by the fixture below (not in git).
NODE_DIR = ROOT / "tests" / ".node"
AXE_VERSION = "4.14.1"
# Long enough for an answer on a busy 2-core machine, short enough to fail fast.
WAIT_MS = 20_000
TEXTBOX = "Ask a question"
REPORT_TITLE = REPORT.read_text().strip().splitlines()[0]
PDF_DOC = "peel-2023-kingsmere"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """The real app under uvicorn in a thread, on a fixed port so it can stop and start again."""

    def __init__(self, app: FastAPI) -> None:
        self.app, self.port = app, free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            log_level="warning",
            # A browser keeps connections alive; don't let them hold up a stop for long.
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(15)
        assert not self._thread.is_alive(), "uvicorn did not stop"


@dataclass
class HostSite:
    """Plain pages on another origin (another port), standing in for a staff intranet."""

    server: ThreadingHTTPServer
    pages: dict[str, tuple[str, str, dict[str, str]]] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, path: str, body: str, *, kind: str = "text/html", **headers: str) -> str:
        self.pages[path] = (body, kind, headers)
        return self.origin + path


def _host_handler(site: HostSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page = site.pages.get(self.path.split("?")[0])
            if page is None:
                self.send_error(404)
                return
            body, kind, headers = page
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", kind + "; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k.replace("_", "-"), v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:  # quiet: pytest shows failures, not traffic
            pass

    return Handler


@pytest.fixture(scope="module")
def host_site() -> Iterator[HostSite]:
    site = HostSite(server=ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler))
    site.server.RequestHandlerClass = _host_handler(site)
    thread = threading.Thread(target=site.server.serve_forever, daemon=True)
    thread.start()
    yield site
    site.server.shutdown()
    site.server.server_close()


# Reads the feedback the widget sends back through `GET /v1/feedback`.
ADMIN_KEY = "widget-admin-key-0123456789"


@pytest.fixture(scope="module")
def live(
    main_settings: Settings, components: Components, host_site: HostSite
) -> Iterator[LiveServer]:
    settings = main_settings.model_copy(
        update={"cors_origins": host_site.origin, "admin_keys": SecretStr(ADMIN_KEY)}
    )
    server = LiveServer(create_app(settings, components=components))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def black_hole() -> Iterator[str]:
    """A port that accepts connections and never answers: an API that hangs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


# ---- the browser -----------------------------------------------------------------------------


@dataclass
class Tab:
    """A page in a fresh browser context, with what went wrong in it collected."""

    page: Any
    errors: list[str]
    console: list[str]


@pytest.fixture
def tab(browser: Any) -> Iterator[Callable[..., Tab]]:
    contexts = []

    def open_tab(url: str, *, width: int = 1280, height: int = 800, **options: Any) -> Tab:
        ctx = browser.new_context(viewport={"width": width, "height": height}, **options)
        ctx.set_default_timeout(WAIT_MS)
        contexts.append(ctx)
        page = ctx.new_page()
        t = Tab(page=page, errors=[], console=[])
        page.on("pageerror", lambda e: t.errors.append(str(e)))
        page.on("console", lambda m: t.console.append(f"{m.type}: {m.text}"))
        page.goto(url)
        return t

    yield open_tab
    for ctx in contexts:
        ctx.close()


# ---- several reports, one of them a PDF -------------------------------------------------------


@pytest.fixture(scope="module")
def multi_components(
    tmp_path_factory: pytest.TempPathFactory,
    browser: Any,
    embedder: SentenceTransformerEmbedder,
    components: Components,
) -> Components:
    corpus = tmp_path_factory.mktemp("multi-corpus")
    shutil.copy(CORPUS / REPORT.name, corpus / REPORT.name)
    shutil.copy(DATA / "corpus2" / "peel-2016-westshire.md", corpus / "peel-2016-westshire.md")
    print_pdf(browser, kingsmere(), corpus / f"{PDF_DOC}.pdf")
    return _components(
        corpus,
        tmp_path_factory.mktemp("multi-index") / "index",
        embedder,
        questions=components.index.encoder_dir,
    )


@pytest.fixture(scope="module")
def multi(
    main_settings: Settings, multi_components: Components, host_site: HostSite
) -> Iterator[LiveServer]:
    settings = main_settings.model_copy(update={"cors_origins": host_site.origin})
    server = LiveServer(create_app(settings, components=multi_components))
    server.start()
    yield server
    server.stop()


# ---- axe-core ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def axe_js() -> str:
    """axe-core's script, from the npm registry (npm install into tests/.node, once)."""
    script = NODE_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("CI"):
                pytest.fail("CI must have npm: .ci/run installs it with apt-get")
            pytest.skip("no npm here (apt-get install -y npm) to fetch axe-core")
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [npm, "install", "--prefix", str(NODE_DIR), "--no-save", "--no-audit", "--no-fund",
             f"axe-core@{AXE_VERSION}"],
            check=True,
            capture_output=True,
            timeout=300,
        )  # fmt: skip
    return script.read_text()


def axe_violations(page: Any, axe_js: str) -> list[str]:
    """Every axe-core violation on the page (any impact, every rule axe runs by default)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol, which the pages' CSP (no inline scripts)
        # does not govern, so the page is checked under its real policy; `;0` keeps the
        # script's last value from being sent back.
        page.evaluate(axe_js + "\n;0")
    found = page.evaluate(
        """async () => {
          const r = await axe.run(document, { resultTypes: ['violations'] });
          return r.violations.map((v) => `${v.id} (${v.impact}): ` +
            v.nodes.map((n) => JSON.stringify(n.target) + ' ' + n.failureSummary).join(' | '));
        }"""
    )
    return list(found)


# ---- pages and helpers ------------------------------------------------------------------------


def host_page(live: LiveServer, body: str = "", *, attrs: str = "", head: str = "") -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f'<title>Staff intranet</title><link rel=icon href="data:,">{head}</head><body>'
        f"<h1>Staff intranet</h1>{body}"
        f'<script src="{live.url}/widget.js" data-api="{live.url}" {attrs} defer></script>'
        "</body></html>"
    )


def landmarked_host_page(live: LiveServer, *, attrs: str = "") -> str:
    """An intranet page as a well-made site is: banner, navigation, main, footer."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        '<title>Staff intranet</title><link rel=icon href="data:,"></head><body>'
        '<header><p>Northamptonshire staff intranet</p><nav aria-label="Site">'
        '<a href="#news">News</a></nav></header>'
        "<main><h1>Staff intranet</h1><p id=news>News and notices.</p></main>"
        "<footer><p>Internal use only.</p></footer>"
        f'<script src="{live.url}/widget.js" data-api="{live.url}" {attrs} defer></script>'
        "</body></html>"
    )


def expect() -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect


def last_bot(page: Any) -> Any:
    return page.locator(".exchange").last.locator(".msg.bot")


def wait_answer(page: Any) -> Any:
    bot = last_bot(page)
    expect()(bot).to_have_attribute("data-status", re.compile("done|error|stopped"))
    return bot


def ask(page: Any, question: str) -> Any:
    box = page.get_by_role("textbox", name=TEXTBOX)
    box.fill(question)
    box.press("Enter")
    return wait_answer(page)


def api_answer(
    live: LiveServer, question: str, history: list[dict[str, str]] | None = None, **extra: Any
) -> dict[str, Any]:
    r = httpx.post(
        f"{live.url}/v1/ask",
        json={"question": question, "history": history or [], **extra},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def sections_of(live: LiveServer) -> list[dict[str, Any]]:
    r = httpx.get(f"{live.url}/v1/sections", timeout=30)
    assert r.status_code == 200
    body: list[dict[str, Any]] = r.json()
    return body


def snap(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"widget-{name}.png"))


def tab_to(page: Any, target: Any, key: str = "Tab", limit: int = 25) -> None:
    """Press Tab (or Shift+Tab) until the target has focus, as a keyboard user would."""
    for _ in range(limit):
        if target.evaluate("e => e.getRootNode().activeElement === e"):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{key} x{limit} never reached {target}")


def focused(page: Any) -> dict[str, Any]:
    """What has focus inside the widget: its class, text and computed outline."""
    info: dict[str, Any] = page.evaluate(
        """() => {
          const a = document.querySelector('peelqa-widget').shadowRoot.activeElement;
          if (!a) return {};
          const cs = getComputedStyle(a);
          return {cls: a.className, text: a.textContent, outline: cs.outlineStyle,
                  width: parseFloat(cs.outlineWidth), color: cs.outlineColor};
        }"""
    )
    return info


def cite_path(c: dict[str, Any]) -> str:
    return " › ".join(c["path"] or [c["heading"]])


def sent_json(request: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(request.post_data or "{}")
    return body


# Text colour against the nearest opaque background, for every element in the widget that
# shows text of its own; returns what falls under WCAG AA (4.5:1).
LOW_CONTRAST_JS = """
() => {
  const root = document.querySelector('peelqa-widget').shadowRoot;
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = (el) => {
    for (let e = el; e; e = e.parentElement || (e.getRootNode().host ?? null)) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of root.querySelectorAll('*')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.checkVisibility()) continue;
    const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) bad.push(`${el.className || el.tagName}: ${ratio.toFixed(2)}`);
  }
  return bad;
}
"""

# Records the length of the latest answer's text at every DOM change inside the widget.
WATCH_RENDERS_JS = """
() => {
  const root = document.querySelector('peelqa-widget').shadowRoot;
  window.__renders = [];
  new MutationObserver(() => {
    const all = root.querySelectorAll('.answer');
    if (all.length) window.__renders.push(all[all.length - 1].textContent.length);
  }).observe(root, { subtree: true, childList: true, characterData: true });
}
"""
