"""The chat widget (server/static/) in headless Chromium against live servers.

Answers, the source panel, refusals, per-answer actions, exporting, the report picker and the
request limits; display and accessibility are in test_widget_access.py. Fixtures and helpers:
widget_harness.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import DOC
from fake_llm import fake_llm, reply
from fastapi.testclient import TestClient
from pydantic import SecretStr
from widget_harness import (
    ADMIN_KEY,
    LOW_CONTRAST_JS,
    PDF_DOC,
    REPORT_TITLE,
    TEXTBOX,
    WATCH_RENDERS_JS,
    HostSite,
    LiveServer,
    Tab,
    api_answer,
    ask,
    black_hole,
    cite_path,
    expect,
    focused,
    host_page,
    host_site,
    last_bot,
    live,
    multi,
    multi_components,
    sections_of,
    sent_json,
    snap,
    tab,
    tab_to,
    wait_answer,
)

from peelqa.config import Settings
from peelqa.runtime import Components
from peelqa.server.app import create_app

# The fixtures this module uses, imported from the harness (pytest finds them by name here).
__all__ = ["black_hole", "host_site", "live", "multi", "multi_components", "tab"]


# Desktop and phone: the sizes every behaviour that differs by width is checked at.
SIZES = pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["desktop", "phone"])


# ---- HTTP, no browser -------------------------------------------------------------------------


def test_chat_page_and_widget_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/widget.js" data-mode="page"' in page.text
    js = client.get("/widget.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "attachShadow" in js.text and "innerHTML" not in js.text  # text only, never markup
    # No framework, no CDN: nothing is imported or fetched but the API itself.
    assert not re.search(r"\bimport\b\s*[({'\"]|https?://(?!HOST|www\.w3\.org/2000/svg)", js.text)


def test_sections_carry_the_title_path_and_blocks(client: TestClient) -> None:
    sections = client.get("/v1/sections").json()
    assert {s["title"] for s in sections} == {REPORT_TITLE}
    q2 = next(s for s in sections if s["section"] == "q2")
    assert q2["path"] == [q2["heading"]] and q2["level"] == 1
    blocks = q2["blocks"]
    assert blocks and blocks[0]["start"] == 0 and blocks[-1]["end"] == len(q2["text"])
    assert all(b["kind"] == "paragraph" and b["page"] is None for b in blocks)
    one = client.get(f"/v1/sections/{DOC}/q2").json()
    assert one == q2


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


def box_of(locator: Any) -> dict[str, float]:
    box: dict[str, float] = locator.bounding_box()
    assert box is not None, locator
    return box


def expected_copy(answer: dict[str, Any], *, dated: bool = False) -> str:
    """An API answer as the Copy button must put it on the clipboard."""
    lines = []
    if answer["reply"]:
        lines += [answer["reply"].rstrip(".") + ".", ""]
    notes = []
    for n, c in enumerate(answer["citations"], 1):
        lines += [f"“{c['quote']}” [{n}]", ""]
        page = f", page {c['page']}" if c["page"] else ""
        notes.append(f"[{n}] {c['title']}, {cite_path(c)}{page}")
    return "\n".join(lines).strip() + "\n\n" + "\n".join(notes) + "\n"


# ---- answers and the source panel -------------------------------------------------------------


@pytest.mark.browser
def test_chat_page_answers_with_the_reply_then_quotes_and_opens_the_source_beside(
    tab: Callable[..., Tab], live: LiveServer
) -> None:
    t = tab(live.url + "/", width=1280, height=800)
    page = t.page
    # One h1, the report's own title (its first line); the cursor waits in the box.
    expect()(page.get_by_role("heading", level=1)).to_have_text("Ask about: " + REPORT_TITLE)
    expect()(page.get_by_role("textbox", name=TEXTBOX)).to_be_focused()
    starters = page.get_by_role("group", name="Try one of these").get_by_role("button")
    assert 3 <= starters.count() <= 4

    # The link to the report's sections lists every section, and opens one.
    page.get_by_role("link", name="Report sections").click()
    expect()(page.locator(".toc-item")).to_have_count(6)
    page.get_by_role(
        "button", name=re.compile("^Q2 How effective is the force at investigating")
    ).click()
    expect()(page.locator(".section-text")).to_contain_text("integrated offender management")
    page.get_by_role("button", name="← All sections").click()
    page.keyboard.press("Escape")
    expect()(page.get_by_role("link", name="Report sections")).to_be_focused()

    question = "What grade did the force get?"
    expected = api_answer(live, question)
    cites = expected["citations"]
    assert expected["answered"] and expected["reply"] == "Requires improvement" and cites
    bot = ask(page, question)
    assert bot.get_attribute("data-status") == "done"
    # The direct reply first, then each quote as a quotation captioned with its heading path.
    expect()(bot.locator(".answer > *").first).to_have_text(expected["reply"])
    expect()(bot.locator(".reply")).to_have_class(re.compile("reply"))
    quotes = bot.locator("blockquote p")
    expect()(quotes).to_have_count(len(cites))
    for i, c in enumerate(cites):
        expect()(quotes.nth(i)).to_have_text(f"“{c['quote']}” {i + 1}")
    captions = bot.locator("figcaption").all_text_contents()
    assert {cite_path(c) for c in cites} == set(captions)
    shown = bot.locator(".answer").inner_text()
    assert "[1]" not in shown and "From “" not in shown
    snap(page, "cited-answer")

    # A marker opens its section beside the chat: the conversation stays in view.
    n = len(cites)
    cite = cites[n - 1]
    marker = bot.get_by_role("button", name=f"Source {n}: {cite['heading']}")
    marker.click()
    viewer = page.locator(".viewer")
    title = viewer.get_by_role("heading", level=2)
    expect()(title).to_have_text(cite["heading"])
    expect()(title).to_be_focused()
    assert focused(page)["outline"] == "solid" and focused(page)["width"] >= 2
    expect()(page.get_by_role("log")).to_be_visible()
    log_box, viewer_box = box_of(page.locator(".log")), box_of(viewer)
    assert viewer_box["x"] >= log_box["x"] + log_box["width"] - 1
    assert viewer_box["width"] >= 400
    # The report's title and its date (the title's year, all there is), no PDF link for text.
    expect()(viewer.locator(".vr-title")).to_have_text(REPORT_TITLE)
    expect()(viewer.locator(".vr-date")).to_have_text("2015")
    expect()(viewer.locator(".pdf-link")).to_have_count(0)
    # The quote highlighted, the others of its section marked, scrolled into the panel's view.
    active = viewer.locator("mark.active")
    expect()(active).to_have_text(cite["quote"])
    assert set(viewer.locator("mark").all_text_contents()) == {
        c["quote"] for c in cites if c["section"] == cite["section"]
    }
    body_box, mark_box = box_of(viewer.locator(".viewer-body")), box_of(active)
    assert body_box["y"] <= mark_box["y"] <= body_box["y"] + body_box["height"] - 10
    section = httpx.get(f"{live.url}/v1/sections/{DOC}/{cite['section']}").json()
    assert viewer.locator(".section-text").text_content() == section["text"].replace("\n", "")
    assert page.evaluate(LOW_CONTRAST_JS) == []
    snap(page, "source-panel")
    page.keyboard.press("Escape")
    expect()(viewer).to_be_hidden()
    expect()(marker).to_be_focused()  # focus goes back to what opened the section
    assert not t.errors, t.errors


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
    expect()(page.get_by_role("log")).to_have_attribute("aria-live", "polite")

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
    body = sent_json(sent.value)
    # One report: no `docs` limit is sent.
    assert body == {
        "question": "What is the THRIVE\napproach used for?",
        "history": [],
        "stream": True,
    }
    assert got.value.headers["content-type"].startswith("text/event-stream")
    bot = wait_answer(page)
    expected = api_answer(live, body["question"])
    cite = expected["citations"][0]
    assert expected["answered"] and cite["section"] == "q3"
    expect()(bot.locator("blockquote").first).to_contain_text(cite["quote"])
    # Rendered delta by delta as the stream was read, not all at once at the end.
    renders = sorted(set(page.evaluate("window.__renders")))
    assert len(renders) >= len(expected["answer"].split()) // 2, renders
    assert box.input_value() == ""

    # The marker is a button named with the heading; Escape closes the section, then the chat.
    ref = bot.get_by_role("button", name=f"Source 1: {cite['heading']}")
    tab_to(page, ref, "Shift+Tab")
    page.keyboard.press("Enter")
    expect()(page.locator(".viewer mark.active")).to_have_text(cite["quote"])
    # On a wide screen the floating panel widens and shows the section beside the chat.
    panel, log, viewer = (box_of(page.locator(s)) for s in (".panel", ".log", ".viewer"))
    assert panel["width"] >= 880 and log["width"] >= 380
    assert viewer["x"] + viewer["width"] <= log["x"] + 1  # beside it, on its left
    page.keyboard.press("Escape")
    expect()(ref).to_be_focused()
    page.keyboard.press("Escape")  # the preview the focus opened...
    page.keyboard.press("Escape")  # ...then the chat, and focus returns to the launcher
    expect()(page.locator(".panel")).to_be_hidden()
    expect()(launcher).to_be_focused()
    expect()(launcher).to_have_attribute("aria-expanded", "false")
    assert not t.errors, t.errors


@pytest.mark.browser
@SIZES
def test_marker_previews_its_quote_on_hover_and_focus(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite, width: int, height: int
) -> None:
    url = host_site.add("/preview.html", host_page(live, attrs='data-open="true"'))
    page = tab(url, width=width, height=height).page
    question = "How well does the force investigate crime?"
    cite = api_answer(live, question)["citations"][0]
    bot = ask(page, question)
    ref = bot.locator(".ref").first
    preview = page.get_by_role("tooltip")
    expect()(preview).to_be_hidden()
    ref.hover()
    expect()(preview).to_be_visible()
    expect()(preview).to_contain_text(cite["quote"])
    expect()(preview).to_contain_text(cite_path(cite))
    assert ref.get_attribute("aria-describedby") == "pq-preview"
    page.mouse.move(5, 5)
    expect()(preview).to_be_hidden()
    ref.focus()
    expect()(preview).to_be_visible()
    page.keyboard.press("Escape")  # dismissed without moving focus or closing the chat
    expect()(preview).to_be_hidden()
    expect()(ref).to_be_focused()
    expect()(page.locator(".panel")).to_be_visible()


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
    history = sent_json(sent.value)["history"]
    first_answer = api_answer(live, first)["answer"]
    assert history == [
        {"role": "user", "content": first},
        {"role": "assistant", "content": first_answer},
    ]
    assert "refusal" not in (bot.get_attribute("class") or "")
    expect()(bot.locator("figcaption").first).to_contain_text("investigating crime")

    page.reload()
    expect()(page.locator(".exchange")).to_have_count(2)
    expect()(page.locator(".exchange").first.locator(".msg.user")).to_contain_text(first)
    expect()(last_bot(page).locator("figcaption").first).to_contain_text("investigating crime")
    page.get_by_role("button", name="Clear chat").click()
    expect()(page.locator(".exchange")).to_have_count(0)
    page.reload()
    expect()(page.get_by_role("group", name="Try one of these")).to_be_visible()
    assert page.locator(".exchange").count() == 0
    assert not t.errors, t.errors


@pytest.mark.browser
@SIZES
def test_suggested_follow_ups_come_from_the_cited_sections_neighbours(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite, width: int, height: int
) -> None:
    url = host_site.add("/next.html", host_page(live, attrs='data-open="true"'))
    page = tab(url, width=width, height=height).page
    # Asked for what was found rather than how well ("how well" asks for a grade, whose answer
    # may add a sentence of another area that grades investigations), so that one section is
    # cited and its neighbours are known.
    question = "What did HMIC find about investigating crime?"
    cites = api_answer(live, question)["citations"]
    assert {c["section"] for c in cites} == {"q2"}  # one section, however many of its sentences
    sections = sections_of(live)
    order = [s["section"] for s in sections]
    i = order.index("q2")
    neighbours = {sections[i + 1]["heading"], sections[i - 1]["heading"]}
    bot = ask(page, question)
    offered = bot.get_by_role("group", name="Ask next").get_by_role("button")
    expect()(offered.first).to_be_visible()
    # Question headings are asked as they are: the sections next to the cited one.
    titles = {b.get_attribute("title") or b.text_content() for b in offered.all()}
    assert neighbours <= titles, (neighbours, titles)
    assert not any(t == cites[0]["heading"] for t in titles)  # not the section just cited
    with page.expect_request(f"{live.url}/v1/ask") as sent:
        offered.first.click()
    asked = sent_json(sent.value)["question"]
    assert asked in neighbours
    again = wait_answer(page)
    # Asked already: the next suggestions leave it out.
    left = again.get_by_role("group", name="Ask next").get_by_role("button")
    assert asked not in {b.get_attribute("title") or b.text_content() for b in left.all()}


# ---- refusals ---------------------------------------------------------------------------------


@pytest.mark.browser
@SIZES
def test_refusal_is_one_sentence_then_the_reports_areas_and_its_suggestions(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite, width: int, height: int
) -> None:
    url = host_site.add("/refuse.html", host_page(live, attrs='data-open="true"'))
    t = tab(url, width=width, height=height)
    page = t.page
    question = "Who won the 2015 general election?"
    expected = api_answer(live, question)
    assert expected["answered"] is False and 1 <= len(expected["suggestions"]) <= 3
    bot = ask(page, question)
    expect()(bot).to_have_class(re.compile("refusal"))
    sentence = bot.locator(".answer")
    expect()(sentence).to_have_text(expected["answer"].split(". ")[0].rstrip(".") + ".")
    assert bot.locator(".ref").count() == 0

    # The areas: the report's top-level headings (not the intro), less those suggested.
    top = [s["heading"] for s in sections_of(live) if s["level"] == 1 and s["section"] != "intro"]
    areas = bot.get_by_role("group", name="What the report covers").get_by_role("button")
    shown = [a.get_attribute("title") for a in areas.all()]
    assert shown == [h for h in top if h not in expected["suggestions"]][: len(shown)] and shown
    # The suggestions are the API's, in its order: a question heading is asked as it is.
    offered = bot.get_by_role("group", name="You could ask instead").get_by_role("button")
    expect()(offered).to_have_count(len(expected["suggestions"]))
    snap(page, "refusal")
    pick = next(s for s in expected["suggestions"] if s.endswith("?"))
    k = expected["suggestions"].index(pick)
    with page.expect_request(f"{live.url}/v1/ask") as sent:
        offered.nth(k).click()
    assert sent_json(sent.value)["question"] == pick
    again = wait_answer(page)
    expect()(again.locator("blockquote").first).to_be_visible()
    assert page.evaluate(LOW_CONTRAST_JS) == []
    assert not t.errors, t.errors


# ---- failures ---------------------------------------------------------------------------------


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
    finally:
        live.start()
    page.reload()  # widget.js comes from the API host, so reload once it is back
    bot = last_bot(page)
    expect()(bot).to_have_attribute("data-status", "error")
    bot.get_by_role("button", name="Try again").click()
    bot = wait_answer(page)
    expect()(bot).to_have_attribute("data-status", "done")
    expect()(bot.locator(".reply")).to_have_text("Requires improvement")
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

    bot.get_by_role("button", name="Try again").click()
    bot = last_bot(page)
    expect()(bot).to_have_attribute("data-status", "error", timeout=6000)
    expect()(bot.get_by_role("alert")).to_contain_text("taking too long")
    assert page.locator(".exchange").count() == 1
    assert not t.errors, t.errors


@pytest.mark.browser
def test_origin_not_on_the_allow_list_is_named_with_the_setting(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite
) -> None:
    host_site.add("/other.html", host_page(live, attrs='data-open="true"'))
    # "localhost" is another origin than the allow-listed 127.0.0.1 on the same port.
    origin = host_site.origin.replace("127.0.0.1", "localhost")
    t = tab(origin + "/other.html")
    bot = ask(t.page, "What grade did the force get?")
    expect()(bot).to_have_attribute("data-status", "error")
    alert = bot.get_by_role("alert")
    expect()(alert).to_contain_text("PEELQA_CORS_ORIGINS")
    expect()(alert).to_contain_text(origin)
    expect()(alert).not_to_contain_text("Can't reach")
    assert any("CORS" in m for m in t.console), t.console


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
    box = box_of(launcher)
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
    expect()(bot.locator("figcaption").first).to_be_visible()

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
        expect()(bot.locator(".reply")).to_have_text("Requires improvement")
        without = host_site.add("/unkeyed.html", host_page(keyed, attrs='data-open="true"'))
        bot = ask(tab(without).page, "What grade did the force get?")
        expect()(bot).to_have_attribute("data-status", "error")
    finally:
        keyed.stop()


# ---- the phone --------------------------------------------------------------------------------

FITS_JS = """() => {
  const r = document.querySelector('peelqa-widget').shadowRoot;
  const over = [...r.querySelectorAll('*')].filter((e) => {
    const b = e.getBoundingClientRect();
    return e.checkVisibility() && (b.left < -0.5 || b.right > innerWidth + 0.5);
  }).map((e) => e.className || e.tagName);
  const log = r.querySelector('.log');
  const width = r.querySelector('.panel').offsetWidth;
  return {over, scrolls: log.scrollWidth > log.clientWidth, width};
}"""


@pytest.mark.browser
def test_phone_source_is_a_sheet_over_the_chat_that_returns_focus(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite
) -> None:
    url = host_site.add(
        "/phone.html", host_page(live, "<p>News and notices.</p>", attrs='data-open="true"')
    )
    t = tab(url, width=390, height=844, is_mobile=True, has_touch=True)
    page = t.page
    panel = page.locator(".panel")
    expect()(panel).to_be_visible()  # data-open="true"
    question = "How well does the force investigate crime?"
    cite = api_answer(live, question)["citations"][0]
    bot = ask(page, question)
    expect()(bot.locator("figcaption").first).to_be_visible()
    snap(page, "phone")
    assert page.evaluate(FITS_JS) == {"over": [], "scrolls": False, "width": 390}

    marker = bot.get_by_role("button", name=f"Source 1: {cite['heading']}")
    marker.focus()
    page.keyboard.press("Enter")
    sheet = page.get_by_role("dialog", name=cite["heading"])
    expect()(sheet).to_be_visible()
    expect()(sheet).to_have_attribute("aria-modal", "true")
    expect()(sheet.get_by_role("heading", level=2)).to_be_focused()
    expect()(sheet.locator("mark.active")).to_be_visible()
    # Over the chat, which is inert meanwhile: Tab stays in the sheet.
    sheet_box = box_of(sheet)
    assert sheet_box["width"] >= 380 and sheet_box["y"] > 40
    assert page.evaluate(
        "() => document.querySelector('peelqa-widget').shadowRoot.querySelector('.chat').inert"
    )
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate(
            """() => { const r = document.querySelector('peelqa-widget').shadowRoot;
                       return r.querySelector('.viewer').contains(r.activeElement); }"""
        )
    assert page.evaluate(FITS_JS)["over"] == []
    snap(page, "phone-citation")
    page.keyboard.press("Escape")
    expect()(sheet).to_be_hidden()
    expect()(marker).to_be_focused()
    # The button closes it as well, and focus again goes back to the marker.
    marker.click()
    page.get_by_role("button", name="← Back to chat").click()
    expect()(marker).to_be_focused()
    page.get_by_role("button", name="Close chat").click()
    expect()(panel).to_be_hidden()
    expect()(page.get_by_role("button", name="Ask the report")).to_be_focused()
    assert not t.errors, t.errors


# ---- per-answer actions -----------------------------------------------------------------------


@pytest.mark.browser
@SIZES
def test_copy_puts_the_reply_quotes_and_footnotes_on_the_clipboard(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite, width: int, height: int
) -> None:
    url = host_site.add("/copy.html", host_page(live, attrs='data-open="true"'))
    t = tab(url, width=width, height=height, permissions=["clipboard-read", "clipboard-write"])
    page = t.page
    question = "What grade did the force get?"
    expected = api_answer(live, question)
    bot = ask(page, question)
    bot.get_by_role("group", name="This answer").get_by_role("button", name="Copy").click()
    expect()(bot.get_by_role("status")).to_have_text("Copied, with its sources.")
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == expected_copy(expected)
    assert copied.startswith("Requires improvement.\n\n“")
    assert f"[1] {REPORT_TITLE}, Conclusion" in copied
    assert not t.errors, t.errors


@pytest.mark.browser
@SIZES
def test_feedback_is_stored_and_read_back_through_the_api(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite, width: int, height: int
) -> None:
    url = host_site.add("/feedback.html", host_page(live, attrs='data-open="true"'))
    t = tab(url, width=width, height=height)
    page = t.page
    bot = ask(page, "What grade did the force get?")
    answer_id = page.evaluate(
        """() => Object.entries(sessionStorage).map(([, v]) => JSON.parse(v))
                   .flatMap((s) => s.exchanges || [])[0].answerId"""
    )
    assert re.fullmatch(r"[0-9a-f]{32}", answer_id)
    actions = bot.get_by_role("group", name="This answer")
    actions.get_by_role("button", name="Bad answer").click()
    reason = bot.get_by_role("textbox", name="What was wrong or missing? (optional)")
    expect()(reason).to_be_focused()
    expect()(actions.get_by_role("button", name="Bad answer")).to_have_attribute(
        "aria-pressed", "true"
    )
    comment = f"It should say which areas were graded ({width} px)."
    reason.fill(comment)
    with page.expect_response(f"{live.url}/v1/feedback") as got:
        reason.press("Enter")
    assert got.value.status == 201
    assert sent_json(got.value.request) == {
        "answer_id": answer_id,
        "rating": "down",
        "comment": comment,
    }
    expect()(bot.get_by_role("status")).to_have_text("Thanks for the feedback.")
    # Focus comes back to the rating, which stays pressed; the form has gone.
    expect()(actions.get_by_role("button", name="Bad answer")).to_be_focused()
    expect()(reason).to_have_count(0)

    # Stored, and read back with the answer it rates through the admin API.
    r = httpx.get(
        f"{live.url}/v1/feedback", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=10
    )
    assert r.status_code == 200, r.text
    stored = next(f for f in r.json() if f["answer_id"] == answer_id)
    assert stored["rating"] == "down" and stored["comment"] == comment
    assert stored["answer"].startswith("Requires improvement.")
    assert [c["quote"] for c in stored["citations"]] == [
        c["quote"] for c in api_answer(live, "What grade did the force get?")["citations"]
    ]
    # A thumbs up with no reason on the next answer sends no comment at all.
    bot = ask(page, "What is the THRIVE approach used for?")
    bot.get_by_role("button", name="Good answer").click()
    with page.expect_response(f"{live.url}/v1/feedback") as got:
        bot.get_by_role("button", name="Send feedback").click()
    assert got.value.status == 201
    assert set(sent_json(got.value.request)) == {"answer_id", "rating"}
    assert not t.errors, t.errors


# ---- exporting --------------------------------------------------------------------------------


@pytest.mark.browser
@SIZES
def test_export_as_markdown_and_as_a_printable_page_with_footnotes(
    tab: Callable[..., Tab],
    live: LiveServer,
    host_site: HostSite,
    width: int,
    height: int,
    tmp_path: Path,
) -> None:
    url = host_site.add("/export.html", host_page(live, attrs='data-open="true"'))
    t = tab(url, width=width, height=height, accept_downloads=True)
    page = t.page
    first, second = "What grade did the force get?", "What is the THRIVE approach used for?"
    a1, a2 = api_answer(live, first), api_answer(live, second)
    ask(page, first)
    ask(page, second)
    page.get_by_role("button", name="Export").click()
    menu = page.get_by_role("group", name="Export the conversation")
    with page.expect_download() as got:
        menu.get_by_role("button", name="Download as Markdown").click()
    download = got.value
    assert re.fullmatch(r"peelqa-conversation-\d{4}-\d{2}-\d{2}\.md", download.suggested_filename)
    path = tmp_path / "chat.md"
    download.save_as(path)
    md = path.read_text(encoding="utf-8")
    assert md.startswith(f"# Ask about: {REPORT_TITLE}\n")
    assert f"## {first}\n\nRequires improvement.\n" in md and f"## {second}\n" in md
    cites = a1["citations"] + a2["citations"]
    for n, c in enumerate(cites, 1):
        assert f"> “{c['quote']}” [^{n}]" in md
        assert f"[^{n}]: {c['title']}, {cite_path(c)}" in md
    assert md.index(f"## {second}") < md.index("[^1]:")  # footnotes at the end

    with page.expect_popup() as popped:  # the menu stays open, saying what it did
        menu.get_by_role("button", name="Printable page (with footnotes)").click()
    printed = popped.value
    expect()(printed.get_by_role("heading", level=1)).to_have_text(f"Ask about: {REPORT_TITLE}")
    expect()(printed.get_by_role("heading", level=2)).to_have_text([first, second, "Sources"])
    notes = printed.locator(".notes li")
    expect()(notes).to_have_count(len(cites))
    for i, c in enumerate(cites):
        expect()(notes.nth(i)).to_have_text(f"{c['title']}, {cite_path(c)}")
    expect()(printed.locator("blockquote")).to_have_count(len(cites))
    assert not t.errors, t.errors


# ---- the request limits -----------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_long_conversation_trims_the_history_to_the_server_limits_and_says_so(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite
) -> None:
    url = host_site.add("/long.html", host_page(live, attrs='data-open="true"'))
    t = tab(url)
    page = t.page
    sent: list[int] = []
    statuses: list[int] = []
    page.on(
        "request",
        lambda r: (
            sent.append(len(r.post_data_buffer or b"")) if r.url.endswith("/v1/ask") else None
        ),
    )
    page.on("response", lambda r: statuses.append(r.status) if r.url.endswith("/v1/ask") else None)
    # Three bytes a character in UTF-8: ten such questions are far past 64 KiB together.
    text = "警察如何保护弱势群体并调查犯罪行为的情况" * 100
    box = page.get_by_role("textbox", name=TEXTBOX)
    # Ten fill most of the 64 KiB; the eleventh cannot go with all of them.
    for i in range(11):
        question = (f"{i}" + text)[:2000]
        box.evaluate("(el, v) => { el.value = v; }", question)
        box.press("Enter")
        bot = wait_answer(page)
        expect()(bot).to_have_attribute("data-status", "done")
    assert len(sent) == 11 and statuses == [200] * 11, (sent, statuses)
    assert max(sent) <= 65536
    assert sent[-1] > 60_000  # it sends all it may, not a little
    # The last questions went without the oldest turns, and say so.
    note = last_bot(page).locator(".note")
    expect()(note).to_contain_text("not sent with this one")
    expect()(note).to_contain_text("64 KiB")
    assert page.locator(".exchange .note").count() < 11
    ask(page, "What grade did the force get?")
    expect()(last_bot(page).locator(".reply")).to_have_text("Requires improvement")
    assert not t.errors, t.errors


# ---- several reports ----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
def test_several_reports_a_picker_titles_with_quotes_lists_and_pdf_pages(
    tab: Callable[..., Tab], multi: LiveServer, host_site: HostSite
) -> None:
    t = tab(multi.url + "/", width=1280, height=800)
    page = t.page
    expect()(page.get_by_role("heading", level=1)).to_have_text("Ask about 3 inspection reports")
    # A list answer from the PDF: list items as a list, the report's title with the quotes.
    question = "What are the areas for improvement in providing a service to victims of crime?"
    expected = api_answer(multi, question)
    assert expected["answer"].startswith("From “")
    cites = expected["citations"]
    assert cites and {c["doc"] for c in cites} == {PDF_DOC} and all(c["page"] for c in cites)
    bot = ask(page, question)
    assert "From “" not in bot.locator(".answer").inner_text()
    expect()(bot.locator(".cap-title").first).to_have_text(cites[0]["title"])
    items = bot.locator("blockquote ul li")
    expect()(items.first).to_be_visible()
    assert items.count() >= 1
    for li in items.all_text_contents():
        assert not re.match(r"\s*(\d+[.)]|[-*•])\s", li) and "“" not in li
    expect()(bot.locator("figcaption").first).to_contain_text(f"page {cites[0]['page']}")
    # Its source: the PDF's page linked, the report's date from its title.
    bot.locator(".ref").first.click()
    viewer = page.locator(".viewer")
    link = viewer.get_by_role("link", name=f"Open the original PDF at page {cites[0]['page']}")
    assert link.get_attribute("href") == (
        f"{multi.url}/v1/documents/{PDF_DOC}/file#page={cites[0]['page']}"
    )
    expect()(viewer.locator(".vr-date")).to_have_text("2023–25")
    expect()(viewer.locator(".section-text ul.items li").first).to_be_visible()
    snap(page, "pdf-citation")
    page.keyboard.press("Escape")

    # The picker: every report with its date; choosing one sends `docs`.
    picker_btn = page.get_by_role("button", name="Reports (all 3)")
    picker_btn.click()
    picker = page.get_by_role("group", name="Reports to ask about")
    boxes = picker.get_by_role("checkbox")
    expect()(boxes).to_have_count(3)
    expect()(picker).to_contain_text("2015")
    expect()(picker).to_contain_text("2016")
    for name in ("PEEL Efficiency and Legitimacy", "Kingsmere"):
        picker.get_by_role("checkbox", name=re.compile(name)).uncheck()
    expect()(page.get_by_role("button", name="Reports (1 of 3)")).to_be_visible()
    page.keyboard.press("Escape")
    with page.expect_request(f"{multi.url}/v1/ask") as sent:
        ask(page, "What grade did the force get?")
    assert sent_json(sent.value)["docs"] == [DOC]
    # The choice holds across a reload.
    page.reload()
    expect()(page.get_by_role("button", name="Reports (1 of 3)")).to_be_visible()
    assert not t.errors, t.errors


@pytest.mark.browser
@pytest.mark.slow
def test_data_docs_pins_the_widget_to_its_reports(
    tab: Callable[..., Tab], multi: LiveServer, host_site: HostSite
) -> None:
    pinned = host_site.add(
        "/pinned.html", host_page(multi, attrs=f'data-open="true" data-docs="{PDF_DOC}"')
    )
    page = tab(pinned).page
    title = page.get_by_role("heading", level=2).first
    expect()(title).to_have_text(re.compile("Kingsmere"))
    expect()(page.get_by_role("button", name=re.compile("^Reports"))).to_be_hidden()
    with page.expect_request(f"{multi.url}/v1/ask") as sent:
        ask(page, "How well does the force investigate crime?")
    assert sent_json(sent.value)["docs"] == [PDF_DOC]


# ---- generated answers --------------------------------------------------------------------------


@pytest.mark.browser
def test_a_generated_answer_keeps_its_wording_and_still_shows_every_quote(
    tab: Callable[..., Tab],
    main_settings: Settings,
    components: Components,
    host_site: HostSite,
    live: LiveServer,
) -> None:
    question = "What grade did the force get?"
    base = api_answer(live, question)
    n = next(i for i, c in enumerate(base["citations"], 1) if "graded" in c["quote"])
    wording = "HMIC graded Northamptonshire Police as 'requires improvement' overall"
    with fake_llm() as fake:
        fake.script(reply(f"{wording} [{n}]. "))
        settings = main_settings.model_copy(
            update={
                "cors_origins": host_site.origin,
                "llm_url": fake.url,
                "llm_model": "scripted",
                "llm_timeout": 4.0,
            }
        )
        server = LiveServer(create_app(settings, components=components))
        server.start()
        try:
            url = host_site.add("/generated.html", host_page(server, attrs='data-open="true"'))
            t = tab(url)
            bot = ask(t.page, question)
        finally:
            server.stop()
        # The LLM's own sentence, with its marker, then every citation as a quotation.
        text = bot.locator(".answer p.text")
        expect()(text).to_have_text(f"{wording}. {n}")
        expect()(text.get_by_role("button", name=re.compile(f"^Source {n}: "))).to_be_visible()
        expect()(bot.locator("blockquote p")).to_have_count(len(base["citations"]))
        assert not t.errors, t.errors
