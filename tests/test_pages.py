"""The pages peelqa serves (the chat page and /docs): security headers, Swagger UI from the
package with no CDN, and, in Chromium, both pages working under their Content-Security-Policy
with no request leaving the server."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from peelqa.server.routes.docs import ASSETS, SWAGGER_DIR


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_pages_carry_a_policy_and_may_not_be_framed(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    policy = r.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/widget.js", "/healthz", "/v1/models", "/openapi.json"])
def test_every_response_says_nosniff(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
    # Only pages get a policy; the widget's script must stay loadable from other origins.
    assert "content-security-policy" not in r.headers
    assert "cross-origin-resource-policy" not in r.headers


def test_docs_comes_from_the_package_not_a_cdn(client: TestClient) -> None:
    page = client.get("/docs").text
    assert "//" not in re.sub(r"<!--.*?-->", "", page).replace("://", "")  # no absolute URLs
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(refs) == 4
    for ref in refs:
        r = client.get(ref)
        assert r.status_code == 200, ref
        assert r.headers["content-type"] == ASSETS[ref.rsplit("/", 1)[1]]
    assert "SwaggerUIBundle" in client.get("/docs/assets/swagger-ui-bundle.js").text
    assert "validatorUrl: null" in client.get("/docs/assets/init.js").text
    # The licence travels with the copy.
    assert "Apache License" in (SWAGGER_DIR / "LICENSE").read_text()
    assert client.get("/docs/assets/LICENSE").status_code == 404  # only the listed assets
    assert client.get("/docs/assets/..%2Fproxy.py").status_code == 404
    assert client.get("/redoc").status_code == 404  # ReDoc came from a CDN: gone


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/ask", "POST"),
        ("TRACE", "/v1/ask", "POST"),
        ("DELETE", "/healthz", "GET"),
        ("PUT", "/v1/sections", "GET"),
    ],
)
def test_405_names_the_allowed_methods(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    r = client.request(method, path)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    assert allow in r.headers["allow"]


# ---- in Chromium ------------------------------------------------------------------------------


def visit(browser: Any, url: str, ready: str) -> tuple[list[str], list[str]]:
    """Open `url`, wait for `ready`; return (console errors and CSP violations, hosts asked)."""
    ctx = browser.new_context()
    page = ctx.new_page()
    problems: list[str] = []
    hosts: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: hosts.append(urlsplit(r.url).netloc or r.url[:5]))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " e => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    try:
        page.goto(url)
        page.wait_for_selector(ready, timeout=20_000)
        page.wait_for_timeout(300)
    finally:
        ctx.close()
    return problems, hosts


@pytest.mark.browser
@pytest.mark.live
def test_docs_works_offline_under_its_policy(browser: Any, live_url: str) -> None:
    problems, hosts = visit(browser, live_url + "/docs", ".opblock-tag")
    assert problems == [], problems
    assert set(hosts) == {urlsplit(live_url).netloc}, set(hosts)


@pytest.mark.browser
@pytest.mark.live
def test_chat_page_works_under_its_policy(browser: Any, live_url: str) -> None:
    problems, hosts = visit(browser, live_url + "/", "peelqa-widget textarea")
    assert problems == [], problems
    assert set(hosts) <= {urlsplit(live_url).netloc, "data:"}, set(hosts)
