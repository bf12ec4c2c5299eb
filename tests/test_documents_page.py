"""The reports page (GET /documents) in headless Chromium against a live server: the list,
adding a report with an admin key and following it until it answers, removing it, errors
shown where a screen reader announces them, and every control reachable by keyboard."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import format_files as ff
import pytest
from conftest import live_server
from fastapi.testclient import TestClient
from test_documents import ADMIN, KINGSMERE, settings_for, template  # noqa: F401  (fixture)

from peelqa.server.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
WAIT_MS = 60_000


def test_the_page_and_its_script_are_served(template: Path, tmp_path: Path) -> None:  # noqa: F811
    with TestClient(create_app(settings_for(template, tmp_path))) as c:
        page = c.get("/documents")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<script src="/documents.js" defer>' in page.text
        js = c.get("/documents.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert "innerHTML" not in js.text  # text only, never markup
        assert "/documents" in c.get("/widget.js").text  # the chat page's header links here


@pytest.mark.browser
@pytest.mark.live
@pytest.mark.slow
def test_add_follow_and_remove_a_report_from_the_page(
    template: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have /usr/bin/chromium: .ci/run installs it with apt-get")
        pytest.skip("no /usr/bin/chromium here (apt-get install -y chromium to run these)")
    sync_api = pytest.importorskip("playwright.sync_api")
    expect = sync_api.expect
    expect.set_options(timeout=WAIT_MS)
    report = tmp_path / "kingsmere.md"
    report.write_text(ff.markdown(KINGSMERE), encoding="utf-8")
    not_a_report = tmp_path / "photo.txt"
    not_a_report.write_bytes(b"\x00\x01\x02 not text")
    settings = settings_for(template, tmp_path / "site")
    with live_server(create_app(settings)) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ff.CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            _run(page, expect, url, report, not_a_report)
            assert not errors, errors
        finally:
            browser.close()


def _run(page: Any, expect: Any, url: str, report: Path, not_a_report: Path) -> None:
    # The chat page's header leads here.
    page.goto(url + "/")
    page.get_by_role("link", name="Manage reports").click()
    expect(page).to_have_url(url + "/documents")
    table = page.get_by_role("table")
    expect(
        table.get_by_role("row", name="HMIC: PEEL Effectiveness Inspection 2015")
    ).to_contain_text("Ready")
    expect(page.locator("caption")).to_have_text("1 report, 1 answering")
    # Without a key there is nothing to remove.
    expect(page.get_by_role("button", name="Remove", exact=False)).to_have_count(0)

    # Every control is reachable by keyboard, in reading order, and named.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the reports")).to_be_focused()
    reached = []
    for _ in range(8):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate("document.activeElement.id || document.activeElement.textContent")
        )
    assert [
        r for r in reached if r in {"key", "key-save", "key-forget", "file", "replace", "send"}
    ] == ["key", "key-save", "key-forget", "file", "replace", "send"], reached

    # Adding without a key: the server's reason is shown as an alert.
    page.get_by_label("Report file").set_input_files(str(report))
    page.get_by_role("button", name="Add the report").click()
    expect(page.get_by_role("alert")).to_contain_text("admin key")

    page.get_by_label("Admin or API key").fill(ADMIN)
    page.get_by_label("Admin or API key").press("Enter")
    # Not a report: refused, and said so.
    page.get_by_label("Report file").set_input_files(str(not_a_report))
    page.get_by_role("button", name="Add the report").click()
    expect(page.get_by_role("alert")).to_contain_text("not a report format")

    page.get_by_label("Report file").set_input_files(str(report))
    page.get_by_role("button", name="Add the report").click()
    expect(page.get_by_role("status")).to_contain_text("kingsmere was added and is being indexed")
    row = table.get_by_role("row", name=KINGSMERE.title)
    expect(row).to_contain_text("Ready")
    expect(row).to_contain_text("MD")
    expect(page.locator("caption")).to_have_text("2 reports, 2 answering")
    expect(page.locator("#live")).to_contain_text("is ready")

    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name=f"Remove {KINGSMERE.title}").click()
    expect(row).to_have_count(0)
    expect(page.get_by_role("status")).to_contain_text("Removed kingsmere")
    expect(page.locator("caption")).to_have_text("1 report, 1 answering")
