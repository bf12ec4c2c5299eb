"""The widget's display and accessibility in headless Chromium: axe-core on every state, dark
mode, text size, forced colours, 200% zoom, landmarks, focus. Fixtures: widget_harness.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from widget_harness import (
    LOW_CONTRAST_JS,
    REPORT_TITLE,
    TEXTBOX,
    HostSite,
    LiveServer,
    Tab,
    ask,
    axe_js,
    axe_violations,
    expect,
    focused,
    host_site,
    landmarked_host_page,
    live,
    snap,
    tab,
    tab_to,
)

# The fixtures this module uses, imported from the harness (pytest finds them by name here).
__all__ = ["axe_js", "host_site", "live", "tab"]

QUESTION = "What grade did the force get?"


def css(page: Any, selector: str, prop: str) -> str:
    value: str = page.evaluate(
        """([sel, prop]) => getComputedStyle(document.querySelector('peelqa-widget')
             .shadowRoot.querySelector(sel)).getPropertyValue(prop)""",
        [selector, prop],
    )
    return value


def rect(page: Any, selector: str) -> dict[str, float]:
    box: dict[str, float] = page.evaluate(
        """(sel) => { const b = document.querySelector('peelqa-widget').shadowRoot
             .querySelector(sel).getBoundingClientRect();
             return {x: b.x, y: b.y, width: b.width, height: b.height}; }""",
        selector,
    )
    return box


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_axe_finds_nothing_on_any_state_of_the_page_or_a_host_page(
    tab: Callable[..., Tab],
    live: LiveServer,
    host_site: HostSite,
    axe_js: str,
    scheme: str,
    width: int,
    height: int,
) -> None:
    t = tab(live.url + "/", color_scheme=scheme, width=width, height=height)
    page = t.page
    expect()(page.get_by_role("heading", level=1)).to_have_text("Ask about: " + REPORT_TITLE)
    assert axe_violations(page, axe_js) == [], "empty page"
    bot = ask(page, QUESTION)
    expect()(bot.get_by_role("group", name="Ask next")).to_be_visible()
    assert axe_violations(page, axe_js) == [], "after an answer"
    bot.locator(".ref").first.click()
    expect()(page.locator(".viewer mark.active")).to_be_visible()
    assert axe_violations(page, axe_js) == [], "source panel open"
    page.keyboard.press("Escape")
    bot.get_by_role("button", name="Bad answer").click()
    assert axe_violations(page, axe_js) == [], "feedback form open"
    ask(page, "Who won the 2015 general election?")
    assert axe_violations(page, axe_js) == [], "after a refusal"
    assert page.evaluate(LOW_CONTRAST_JS) == []
    snap(page, f"axe-page-{scheme}-{width}")

    url = host_site.add(f"/axe-{scheme}.html", landmarked_host_page(live))
    t = tab(url, color_scheme=scheme, width=width, height=height)
    page = t.page
    expect()(page.get_by_role("button", name="Ask the report")).to_be_visible()
    assert axe_violations(page, axe_js) == [], "host page, widget closed"
    page.get_by_role("button", name="Ask the report").click()
    assert axe_violations(page, axe_js) == [], "host page, widget open"
    bot = ask(page, QUESTION)
    bot.locator(".ref").first.click()
    expect()(page.locator(".viewer mark.active")).to_be_visible()
    assert axe_violations(page, axe_js) == [], "host page, source panel open"
    snap(page, f"axe-host-{scheme}-{width}")
    assert not t.errors, t.errors


@pytest.mark.browser
def test_landmarks_one_main_one_h1_no_banner_and_the_cursor_in_the_box(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite
) -> None:
    count = """() => {
      const r = document.querySelector('peelqa-widget').shadowRoot;
      const all = (sel) => document.querySelectorAll(sel).length + r.querySelectorAll(sel).length;
      return {main: all('main, [role=main]'), h1: all('h1'),
              banner: r.querySelectorAll('header, [role=banner]').length};
    }"""
    page = tab(live.url + "/").page
    expect()(page.get_by_role("textbox", name=TEXTBOX)).to_be_focused()
    assert page.evaluate(count) == {"main": 1, "h1": 1, "banner": 0}
    expect()(page.get_by_role("main")).to_have_count(1)

    url = host_site.add("/landmarks.html", landmarked_host_page(live, attrs='data-open="true"'))
    page = tab(url).page
    # The host page's own main and h1; the widget is one region named for what it does.
    expect()(page.get_by_role("region", name="Ask the report")).to_have_count(1)
    expect()(page.get_by_role("textbox", name=TEXTBOX)).to_be_focused()  # data-open="true"
    assert page.evaluate(count) == {"main": 1, "h1": 1, "banner": 0}
    expect()(page.get_by_role("banner")).to_have_count(1)


@pytest.mark.browser
@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_dark_mode_follows_the_system_and_the_toggle_which_is_remembered(
    tab: Callable[..., Tab], live: LiveServer, width: int, height: int
) -> None:
    t = tab(live.url + "/", width=width, height=height, color_scheme="dark")
    page = t.page
    toggle = page.get_by_role("button", name="Dark mode")
    expect()(toggle).to_have_attribute("aria-pressed", "true")
    assert css(page, ".panel", "background-color") == "rgb(15, 23, 42)"
    ask(page, QUESTION)
    last = page.locator(".exchange").last
    last.locator(".ref").first.click()
    expect()(page.locator(".viewer mark.active")).to_be_visible()
    assert page.evaluate(LOW_CONTRAST_JS) == []
    snap(page, f"dark-{width}")
    page.keyboard.press("Escape")

    toggle.click()
    expect()(toggle).to_have_attribute("aria-pressed", "false")
    assert css(page, ".panel", "background-color") == "rgb(255, 255, 255)"
    assert page.evaluate(LOW_CONTRAST_JS) == []
    page.reload()  # the choice outlives the page, over the system's setting
    toggle = page.get_by_role("button", name="Dark mode")
    expect()(toggle).to_have_attribute("aria-pressed", "false")
    assert css(page, ".panel", "background-color") == "rgb(255, 255, 255)"

    # With no choice made, the widget follows the system as it changes.
    page.evaluate("() => localStorage.clear()")
    page.reload()
    page.emulate_media(color_scheme="light")
    expect()(toggle).to_have_attribute("aria-pressed", "false")
    page.emulate_media(color_scheme="dark")
    expect()(toggle).to_have_attribute("aria-pressed", "true")
    assert not t.errors, t.errors


@pytest.mark.browser
@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)], ids=["desktop", "phone"])
def test_text_size_control_16px_input_and_24px_markers(
    tab: Callable[..., Tab], live: LiveServer, width: int, height: int
) -> None:
    page = tab(live.url + "/", width=width, height=height).page
    assert css(page, ".input", "font-size") == "16px"  # iPhone Safari zooms into smaller text
    ask(page, QUESTION)
    for marker in page.locator(".ref").all():
        box = marker.bounding_box()
        assert box["width"] >= 24 and box["height"] >= 24, box
    before = float(css(page, ".quote blockquote", "font-size").removesuffix("px"))
    page.get_by_role("button", name="Larger text").click()
    page.get_by_role("button", name="Larger text").click()
    after = float(css(page, ".quote blockquote", "font-size").removesuffix("px"))
    assert after == pytest.approx(before * 1.3, abs=0.1)
    assert float(css(page, ".input", "font-size").removesuffix("px")) >= after - 0.1
    page.reload()
    assert float(css(page, ".quote blockquote", "font-size").removesuffix("px")) == after
    smaller = page.get_by_role("button", name="Smaller text")
    for _ in range(5):
        if smaller.is_enabled():
            smaller.click()
    expect()(smaller).to_be_disabled()
    assert css(page, ".input", "font-size") == "16px"  # never below 16 px


@pytest.mark.browser
@pytest.mark.parametrize("mode", ["page", "float"])
def test_at_200_percent_zoom_the_conversation_keeps_half_the_height(
    tab: Callable[..., Tab], live: LiveServer, host_site: HostSite, mode: str
) -> None:
    # 1280x800 at 200% zoom is a 640x400 CSS viewport.
    url = (
        live.url + "/"
        if mode == "page"
        else host_site.add("/zoom.html", landmarked_host_page(live, attrs='data-open="true"'))
    )
    full = tab(url, width=1280, height=800).page
    expect()(full.get_by_role("textbox", name=TEXTBOX)).to_be_visible()
    full_head = rect(full, ".head")
    page = tab(url, width=640, height=400).page
    ask(page, QUESTION)
    panel, head, composer = rect(page, ".panel"), rect(page, ".head"), rect(page, ".composer")
    conversation = composer["y"] - (head["y"] + head["height"])
    assert conversation >= panel["height"] / 2, (panel, head, composer)
    assert head["height"] < full_head["height"] and head["height"] <= panel["height"] / 3
    snap(page, f"zoom-{mode}")


@pytest.mark.browser
def test_forced_colours_keep_focus_outlines_and_the_highlight(
    tab: Callable[..., Tab], live: LiveServer
) -> None:
    t = tab(live.url + "/")
    page = t.page
    page.emulate_media(forced_colors="active")
    assert page.evaluate("() => matchMedia('(forced-colors: active)').matches")
    bot = ask(page, QUESTION)
    marker = bot.locator(".ref").first
    tab_to(page, marker, "Shift+Tab")
    ring = focused(page)
    assert ring["outline"] == "solid" and ring["width"] >= 2, ring
    page.keyboard.press("Enter")
    # The section view's heading takes focus, visibly, even in forced colours.
    expect()(page.locator(".viewer-title")).to_be_focused()
    ring = focused(page)
    assert ring["outline"] == "solid" and ring["width"] >= 2, ring
    # The quote keeps its highlight in system colours (Highlight on HighlightText).
    expect()(page.locator(".viewer mark.active")).to_be_visible()
    mark_bg = css(page, ".viewer mark.active", "background-color")
    body_bg = css(page, ".viewer", "background-color")
    assert mark_bg != body_bg
    for sel in (".ref", ".act", ".send", ".input"):
        assert css(page, sel, "border-top-style") == "solid", sel
    snap(page, "forced-colours")
    # Keyboard focus on every kind of control shows a ring.
    page.keyboard.press("Escape")
    for name in ("Copy", "Good answer", "Bad answer"):
        tab_to(page, bot.get_by_role("button", name=name))
        ring = focused(page)
        assert ring["outline"] == "solid" and ring["width"] >= 2, (name, ring)
    assert not t.errors, t.errors
