"""The chat widget (server/static/) in headless Chromium against a live server.

One browser and one live uvicorn (the real app over the session's real index) serve every
browser test. Host pages come from a second small HTTP server on another port, so the widget
runs embedded on another origin, reaching the API through the CORS allow-list.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from conftest import DOC, REPORT, ROOT
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from peelqa.config import Settings
from peelqa.runtime import Components
from peelqa.server.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
# Every state the tests reach, as pictures to look at when something fails (not in git).
ARTIFACTS = ROOT / "tests" / ".artifacts"
# Long enough for an answer on a busy 2-core machine, short enough to fail fast.
WAIT_MS = 20_000
TEXTBOX = "Ask a question"


# ---- HTTP, no browser -------------------------------------------------------------------------


def test_chat_page_and_widget_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/widget.js" data-mode="page"' in page.text
    js = client.get("/widget.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "attachShadow" in js.text and "innerHTML" not in js.text  # text only, never markup


def test_cors_defaults_to_same_origin_only(main_settings: Settings, components: Components) -> None:
    with TestClient(create_app(main_settings, components=components)) as c:
        r = c.options("/v1/ask", headers=_preflight("http://intranet.example"))
        assert "access-control-allow-origin" not in r.headers


def test_cors_allows_listed_origins_only(main_settings: Settings, components: Components) -> None:
    settings = main_settings.model_copy(
        update={"cors_origins": "http://intranet.example, https://b.example/"}
    )
    with TestClient(create_app(settings, components=components)) as c:
        ok = c.options("/v1/ask", headers=_preflight("https://b.example"))
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == "https://b.example"
        assert "content-type" in ok.headers["access-control-allow-headers"].lower()
        other = c.options("/v1/ask", headers=_preflight("http://evil.example"))
        assert other.headers.get("access-control-allow-origin") != "http://evil.example"
        r = c.post(
            "/v1/ask",
            json={"question": "What grade did the force get?"},
            headers={"Origin": "http://intranet.example"},
        )
        assert r.headers["access-control-allow-origin"] == "http://intranet.example"


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }


# ---- servers ---------------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def live(
    main_settings: Settings, components: Components, host_site: HostSite
) -> Iterator[LiveServer]:
    settings = main_settings.model_copy(update={"cors_origins": host_site.origin})
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have /usr/bin/chromium: .ci/run installs it with apt-get")
        pytest.skip("no /usr/bin/chromium here (apt-get install -y chromium to run these)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


@dataclass
class Tab:
    """A page in a fresh browser context, with what went wrong in it collected."""

    page: Any
    errors: list[str]
    console: list[str]


@pytest.fixture
def tab(browser: Any) -> Iterator[Callable[..., Tab]]:
    contexts = []

    def open_tab(url: str, *, width: int = 1280, height: int = 800) -> Tab:
        ctx = browser.new_context(viewport={"width": width, "height": height})
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


def host_page(live: LiveServer, body: str = "", *, attrs: str = "", head: str = "") -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f'<title>Staff intranet</title><link rel=icon href="data:,">{head}</head><body>'
        f"<h1>Staff intranet</h1>{body}"
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
    live: LiveServer, question: str, history: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    r = httpx.post(f"{live.url}/v1/ask", json={"question": question, "history": history or []})
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def snap(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"widget-{name}.png"))


def tab_to(page: Any, target: Any, key: str = "Tab", limit: int = 15) -> None:
    """Press Tab (or Shift+Tab) until the target has focus, as a keyboard user would."""
    for _ in range(limit):
        if target.evaluate("e => e.getRootNode().activeElement === e"):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{key} x{limit} never reached {target}")


def shown_text(answer: str) -> str:
    """An API answer as the widget shows it: each [n] marker is a button labelled n."""
    return re.sub(r"\[(\d+)\]", r"\1", answer)


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


# ---- the chat page ---------------------------------------------------------------------------


@pytest.mark.browser
def test_chat_page_cites_and_shows_the_quote_in_its_section(
    tab: Callable[..., Tab], live: LiveServer
) -> None:
    t = tab(live.url + "/", width=1100, height=760)
    page = t.page
    title = page.get_by_role("heading", level=2)
    # The title says what it answers about: the report's own title (its first line).
    expect()(title).to_have_text("Ask about: " + REPORT.read_text().strip().splitlines()[0])
    starters = page.get_by_role("group", name="Try one of these").get_by_role("button")
    assert 3 <= starters.count() <= 4

    # The link to the report's sections lists every section, and opens one.
    page.get_by_role("link", name="Report sections").click()
    toc = page.locator(".toc-item")
    expect()(toc).to_have_count(6)
    snap(page, "sections")
    page.get_by_role(
        "button", name=re.compile("^Q2 How effective is the force at investigating")
    ).click()
    expect()(page.locator(".section-text")).to_contain_text("integrated offender management")
    page.get_by_role("button", name="← All sections").click()
    page.keyboard.press("Escape")
    expect()(page.get_by_role("link", name="Report sections")).to_be_focused()

    question = "How well does the force investigate crime?"
    expected = api_answer(live, question)
    bot = ask(page, question)
    assert bot.get_attribute("data-status") == "done"
    expect()(bot.locator(".answer")).to_have_text(shown_text(expected["answer"]))
    cites = expected["citations"]
    assert expected["answered"] and cites
    # One chip per cited section, labelled "Q2 · Investigating crime", named with its heading.
    chips = bot.get_by_role("group", name="Sources").get_by_role("button")
    sections = list(dict.fromkeys(c["section"] for c in cites))
    expect()(chips).to_have_count(len(sections))
    for chip, sec in zip(chips.all(), sections, strict=True):
        heading = next(c["heading"] for c in cites if c["section"] == sec)
        label = re.compile(rf"^{sec.upper()} · \w") if re.fullmatch(r"q\d+", sec) else heading
        expect()(chip).to_have_text(label)
        assert heading in (chip.get_attribute("aria-label") or "")
    if cites[0]["section"] == "q2":
        expect()(chips.first).to_have_text("Q2 · Investigating crime")
    page.screenshot(path=str(ARTIFACTS / "cited-answer.png"))

    # An inline marker opens its section with its own quote highlighted and the others marked.
    n = len(cites)
    cite = cites[n - 1]
    marker = bot.get_by_role("button", name=f"Source {n}: {cite['heading']}")
    marker.click()
    viewer = page.locator(".viewer")
    expect()(viewer.get_by_role("heading", level=3)).to_have_text(cite["heading"])
    expect()(viewer.locator("mark.active")).to_have_text(cite["quote"])
    snap(page, "citation")
    same_section = {c["quote"] for c in cites if c["section"] == cite["section"]}
    assert set(viewer.locator("mark").all_text_contents()) == same_section
    assert page.evaluate(LOW_CONTRAST_JS) == []
    section = httpx.get(f"{live.url}/v1/sections/{DOC}/{cite['section']}").json()
    assert viewer.locator(".section-text").text_content() == section["text"].replace("\n", "")
    page.keyboard.press("Escape")
    expect()(viewer).to_be_hidden()
    expect()(marker).to_be_focused()  # focus goes back to what opened the section
    assert not t.errors, t.errors


# ---- the embedded widget ---------------------------------------------------------------------


@pytest.mark.browser
def test_keyboard_only_asks_and_gets_a_streamed_cited_answer(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite
) -> None:
    url = host_site.add("/plain.html", host_page(live, '<p><a href="#top">Intranet home</a></p>'))
    t = tab(url)
    page = t.page
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # the page's own link, then the launcher
    launcher = page.get_by_role("button", name="Ask the report")
    expect()(launcher).to_be_focused()
    expect()(launcher).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")
    box = page.get_by_role("textbox", name=TEXTBOX)
    expect()(box).to_be_focused()
    log = page.get_by_role("log")
    expect()(log).to_have_attribute("aria-live", "polite")

    page.keyboard.type("What is the THRIVE")
    page.keyboard.press("Shift+Enter")  # a new line, not a send
    page.keyboard.type("approach used for?")
    assert box.input_value() == "What is the THRIVE\napproach used for?"
    assert page.locator(".exchange").count() == 0

    page.evaluate(WATCH_RENDERS_JS)
    with (
        page.expect_request(f"{live.url}/v1/ask") as sent,
        page.expect_response(f"{live.url}/v1/ask") as got,
    ):
        page.keyboard.press("Enter")
    body = json.loads(sent.value.post_data or "{}")
    assert body == {
        "question": "What is the THRIVE\napproach used for?",
        "history": [],
        "stream": True,
    }
    assert got.value.headers["content-type"].startswith("text/event-stream")
    bot = wait_answer(page)
    expected = api_answer(live, body["question"])
    assert expected["answered"] and expected["citations"][0]["section"] == "q3"
    expect()(bot.locator(".answer")).to_have_text(shown_text(expected["answer"]))
    # Rendered delta by delta as the stream was read, not all at once at the end.
    renders = sorted(set(page.evaluate("window.__renders")))
    assert len(renders) >= len(expected["answer"].split()) // 2, renders
    assert box.input_value() == ""
    snap(page, "keyboard-answer")

    # Reachable by keyboard: the chip and the inline marker are buttons named with the heading.
    heading = expected["citations"][0]["heading"]
    chip = bot.get_by_role("button", name=re.compile(r"^Q3 · Protecting .*" + re.escape(heading)))
    ref = bot.get_by_role("button", name=f"Source 1: {heading}")
    tab_to(page, chip, "Shift+Tab")
    page.keyboard.press("Enter")
    expect()(page.locator(".viewer mark.active")).to_have_text(expected["citations"][0]["quote"])
    page.keyboard.press("Escape")  # closes the section...
    expect()(chip).to_be_focused()
    tab_to(page, ref, "Shift+Tab")
    page.keyboard.press("Escape")  # ...then the chat, and focus returns to the launcher
    expect()(page.locator(".panel")).to_be_hidden()
    expect()(launcher).to_be_focused()
    expect()(launcher).to_have_attribute("aria-expanded", "false")
    assert not t.errors, t.errors


@pytest.mark.browser
def test_follow_up_sends_the_history_and_the_chat_survives_a_reload(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite
) -> None:
    url = host_site.add("/follow.html", host_page(live, attrs='data-open="true"'))
    t = tab(url)
    page = t.page
    first = "Tell me about dangerous offenders."
    follow_up = "What did they say about that?"
    # On its own the follow-up means nothing: the API refuses it without the history.
    assert api_answer(live, follow_up)["answered"] is False

    bot = ask(page, first)
    assert "dangerous offenders" in (bot.text_content() or "")
    with page.expect_request(f"{live.url}/v1/ask") as sent:
        bot = ask(page, follow_up)
    history = json.loads(sent.value.post_data or "{}")["history"]
    first_answer = api_answer(live, first)["answer"]
    assert history == [
        {"role": "user", "content": first},
        {"role": "assistant", "content": first_answer},
    ]
    assert "refusal" not in (bot.get_attribute("class") or "")
    expect()(
        bot.get_by_role("button", name=re.compile("^Q2 · Investigating crime"))
    ).to_be_visible()

    page.reload()
    expect()(page.locator(".exchange")).to_have_count(2)
    expect()(page.locator(".exchange").first.locator(".msg.user")).to_contain_text(first)
    expect()(last_bot(page).get_by_role("button", name=re.compile("^Q2 · "))).to_be_visible()
    page.get_by_role("button", name="Clear chat").click()
    expect()(page.locator(".exchange")).to_have_count(0)
    page.reload()
    expect()(page.get_by_role("group", name="Try one of these")).to_be_visible()
    assert page.locator(".exchange").count() == 0
    assert not t.errors, t.errors


@pytest.mark.browser
def test_refusal_is_shown_as_such_with_the_starters_again(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite
) -> None:
    url = host_site.add("/refuse.html", host_page(live, attrs='data-open="true"'))
    t = tab(url)
    page = t.page
    bot = ask(page, "Who won the 2015 general election?")
    expect()(bot).to_have_class(re.compile("refusal"))
    expect()(bot).to_contain_text("Not covered by the report")
    expect()(bot.locator(".answer")).to_have_text(
        api_answer(live, "Who won the 2015 general election?")["answer"]
    )
    assert bot.get_by_role("group", name="Sources").count() == 0
    snap(page, "refusal")
    offered = bot.get_by_role("group", name="You could ask instead").get_by_role("button")
    assert offered.count() >= 3
    offered.first.click()
    again = wait_answer(page)
    expect()(again.get_by_role("group", name="Sources")).to_be_visible()
    assert page.evaluate(LOW_CONTRAST_JS) == []
    assert not t.errors, t.errors


@pytest.mark.browser
def test_api_down_then_back_keeps_the_question_and_retries(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite
) -> None:
    url = host_site.add("/down.html", host_page(live, attrs='data-open="true"'))
    t = tab(url)
    page = t.page
    question = "What grade did the force get?"
    live.stop()
    try:
        bot = ask(page, question)
        expect()(bot).to_have_attribute("data-status", "error")
        expect()(bot.get_by_role("alert")).to_contain_text("Can't reach the server")
        # Nothing is lost: the question stays, in the chat and across a reload.
        expect()(page.locator(".msg.user")).to_contain_text(question)
        assert page.evaluate(LOW_CONTRAST_JS) == []
        snap(page, "api-down")
    finally:
        live.start()
    page.reload()  # widget.js comes from the API host, so reload once it is back
    bot = last_bot(page)
    expect()(bot).to_have_attribute("data-status", "error")
    bot.get_by_role("button", name="Try again").click()
    bot = wait_answer(page)
    expect()(bot).to_have_attribute("data-status", "done")
    expect()(bot.locator(".answer")).to_contain_text("requires improvement")
    assert page.locator(".exchange").count() == 1  # the retry answered the same message
    assert not t.errors, t.errors


@pytest.mark.browser
def test_slow_api_is_announced_and_can_be_stopped(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite, black_hole: str
) -> None:
    # The widget comes from the live server but asks a server that never answers; a 2 s time
    # limit (slow notice at half of it) keeps the test short.
    page_html = host_page(live, attrs='data-open="true" data-timeout="2"').replace(
        f'data-api="{live.url}"', f'data-api="{black_hole}"'
    )
    t = tab(host_site.add("/slow.html", page_html))
    page = t.page
    box = page.get_by_role("textbox", name=TEXTBOX)
    box.fill("What grade did the force get?")
    box.press("Enter")
    bot = last_bot(page)
    expect()(bot).to_contain_text("Still waiting for the server")
    stop = page.get_by_role("button", name="Stop")
    expect()(page.get_by_role("button", name="Send")).to_be_disabled()
    stop.click()
    expect()(bot).to_have_attribute("data-status", "stopped")
    expect()(bot).to_contain_text("Stopped")
    expect()(stop).to_be_hidden()
    expect()(box).to_be_focused()
    snap(page, "stopped")

    bot.get_by_role("button", name="Try again").click()
    bot = last_bot(page)
    expect()(bot).to_have_attribute("data-status", "error", timeout=6000)
    expect()(bot.get_by_role("alert")).to_contain_text("taking too long")
    assert page.locator(".exchange").count() == 1
    assert not t.errors, t.errors


HOSTILE_CSS = """
html { font-size: 4px !important; }
* {
  font: italic 40px/3 "Comic Sans MS", cursive !important; color: #f0f !important;
  background: #0f0 !important; letter-spacing: 6px !important; text-transform: uppercase !important;
  box-sizing: content-box !important; margin: 7px !important; padding: 9px !important;
  border: 3px dashed red !important; --accent: #f0f !important; --text: #ff0 !important;
}
body > *:not(h1) { display: none !important; visibility: hidden !important; opacity: 0 !important;
  position: absolute !important; left: -9999px !important; transform: scale(0) !important; }
button, textarea, div, p, section, header, form, mark, [role] { display: none !important; }
"""


@pytest.mark.browser
def test_embedded_on_another_origin_with_hostile_css_and_a_strict_csp(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite
) -> None:
    css = host_site.add("/hostile.css", HOSTILE_CSS, kind="text/css")
    # The host page's CSP allows the widget exactly as the README says: script-src and
    # connect-src for the API host, nothing for styles (the widget needs no inline style).
    # (img-src is the test page's own favicon.)
    csp = (
        f"default-src 'none'; img-src data:; style-src 'self'; script-src {live.url}; "
        f"connect-src {live.url}"
    )
    url = host_site.add(
        "/hostile.html",
        host_page(
            live,
            attrs='data-position="bottom-left" data-title="Ask HR about the inspection" '
            'data-starters="What grade did the force get?|What is the THRIVE approach used for?"',
            head=f'<link rel=stylesheet href="{css}">',
        ),
        Content_Security_Policy=csp,
    )
    t = tab(url)
    page = t.page
    launcher = page.get_by_role("button", name="Ask the report")
    expect()(launcher).to_be_visible()
    box = launcher.bounding_box()
    assert box["x"] < 60 and box["y"] > 700  # data-position="bottom-left"
    launcher.click()
    expect()(page.get_by_role("heading", name="Ask HR about the inspection")).to_be_visible()
    starters = page.get_by_role("group", name="Try one of these").get_by_role("button")
    expect()(starters).to_have_text(
        ["What grade did the force get?", "What is the THRIVE approach used for?"]
    )
    starters.nth(1).click()
    bot = wait_answer(page)
    expect()(bot).to_have_attribute("data-status", "done")
    expect()(bot.get_by_role("group", name="Sources")).to_be_visible()

    # The page's CSS reached none of it: the widget's own fonts, colours and layout hold.
    style = page.evaluate(
        """() => {
          const r = document.querySelector('peelqa-widget').shadowRoot;
          const cs = (sel) => getComputedStyle(r.querySelector(sel));
          const send = r.querySelector('.send').getBoundingClientRect();
          return {answer: cs('.answer').fontSize, style: cs('.answer').fontStyle,
                  transform: cs('.answer').textTransform, sendBg: cs('.send').backgroundColor,
                  panel: cs('.panel').display, width: r.querySelector('.panel').offsetWidth,
                  sendVisible: send.width > 30 && send.bottom <= innerHeight};
        }"""
    )
    assert style == {
        "answer": "15px",
        "style": "normal",
        "transform": "none",
        "sendBg": "rgb(29, 78, 216)",
        "panel": "flex",
        "width": 400,
        "sendVisible": True,
    }
    assert page.evaluate(LOW_CONTRAST_JS) == []
    snap(page, "hostile")
    blocked = [m for m in t.console if "Content Security Policy" in m]
    assert not blocked and not t.errors, (blocked, t.errors)


@pytest.mark.browser
def test_origin_not_on_the_allow_list_is_refused_by_the_browser(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite
) -> None:
    host_site.add("/other.html", host_page(live, attrs='data-open="true"'))
    # "localhost" is another origin than the allow-listed 127.0.0.1 on the same port.
    t = tab(host_site.origin.replace("127.0.0.1", "localhost") + "/other.html")
    bot = ask(t.page, "What grade did the force get?")
    expect()(bot).to_have_attribute("data-status", "error")
    assert any("CORS" in m for m in t.console), t.console


@pytest.mark.browser
def test_phone_width_390px(tab: Callable[..., Tab], live: LiveServer, host_site: HostSite) -> None:
    url = host_site.add(
        "/phone.html", host_page(live, "<p>News and notices.</p>", attrs='data-open="true"')
    )
    t = tab(url, width=390, height=844)
    page = t.page
    panel = page.locator(".panel")
    expect()(panel).to_be_visible()  # data-open="true"
    bot = ask(page, "How well does the force investigate crime?")
    expect()(bot.get_by_role("group", name="Sources")).to_be_visible()
    fits = """() => {
      const r = document.querySelector('peelqa-widget').shadowRoot;
      const over = [...r.querySelectorAll('*')].filter((e) => {
        const b = e.getBoundingClientRect();
        return e.checkVisibility() && (b.left < -0.5 || b.right > innerWidth + 0.5);
      }).map((e) => e.className || e.tagName);
      const log = r.querySelector('.log');
      const width = r.querySelector('.panel').offsetWidth;
      return {over, scrolls: log.scrollWidth > log.clientWidth, width};
    }"""
    snap(page, "phone")
    assert page.evaluate(fits) == {"over": [], "scrolls": False, "width": 390}
    bot.get_by_role("group", name="Sources").get_by_role("button").first.click()
    expect()(page.locator(".viewer mark.active")).to_be_visible()
    assert page.evaluate(fits)["over"] == []
    snap(page, "phone-citation")
    page.get_by_role("button", name="← Back to chat").click()
    page.get_by_role("button", name="Close chat").click()
    expect()(panel).to_be_hidden()
    expect()(page.get_by_role("button", name="Ask the report")).to_be_focused()
    assert not t.errors, t.errors


@pytest.mark.browser
def test_widget_sends_its_own_key_when_the_api_needs_one(
    tab: Callable[..., Tab],
    main_settings: Settings,
    components: Components,
    host_site: HostSite,
) -> None:
    key = "widget-key-0123456789abcdef"
    settings = main_settings.model_copy(
        update={"cors_origins": host_site.origin, "api_keys": SecretStr(key)}
    )
    keyed = LiveServer(create_app(settings, components=components))
    keyed.start()
    try:
        with_key = host_site.add(
            "/keyed.html", host_page(keyed, attrs=f'data-open="true" data-key="{key}"')
        )
        bot = ask(tab(with_key).page, "What grade did the force get?")
        expect()(bot).to_have_attribute("data-status", "done")
        expect()(bot).to_contain_text("requires improvement")
        without = host_site.add("/unkeyed.html", host_page(keyed, attrs='data-open="true"'))
        bot = ask(tab(without).page, "What grade did the force get?")
        expect()(bot).to_have_attribute("data-status", "error")
    finally:
        keyed.stop()
