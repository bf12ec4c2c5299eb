"""The README and docs/ tell the truth: the settings table is the code's, the copies of the
shared contract and question set are current, links resolve, and an installed wheel (not only
a source checkout) serves the chat page."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

import httpx
import pytest
from conftest import DATA, ROOT, SHARED

from peelqa.config import Settings, settings_table
from peelqa.runtime import Components

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def test_readme_settings_table_is_made_from_the_settings_class() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- settings -->\n(.*?)\n<!-- /settings -->", readme, re.DOTALL)
    assert block is not None, "README.md lost its <!-- settings --> markers"
    assert block.group(1) == settings_table(), "run `make docs` to refresh the table"
    for name in Settings.model_fields:
        assert f"`PEELQA_{name.upper()}`" in block.group(1)


@pytest.mark.parametrize(
    ("copy", "original"),
    [
        (DOCS / "contract.md", SHARED / "design" / "CONTRACT.md"),
        (DOCS / "eval.md", SHARED / "eval" / "README.md"),
        (DATA / "eval" / "dev.jsonl", SHARED / "eval" / "dev.jsonl"),
    ],
    ids=["contract", "eval-format", "dev-set"],
)
def test_copies_of_the_shared_files_are_in_step(copy: Path, original: Path) -> None:
    """A clone alone has the contract and the dev set; beside the project's shared folder the
    copies must match it (a sync check, not a quality test: those use the copies)."""
    if not original.is_file():
        pytest.skip(f"{original} is not beside this checkout; nothing to compare the copy with")
    assert copy.read_text(encoding="utf-8") == original.read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_stay_inside_the_repository_and_resolve(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+://", target):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert resolved.exists(), f"{page.name} links to a missing file: {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_pages_are_written_for_a_reader_who_was_not_there(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    for pattern in (r"\bthis session\b", r"\bprevious session\b", r"\brun of \d{1,2}:\d{2}\b"):
        assert not re.search(pattern, text, re.IGNORECASE), f"{page.name}: {pattern}"
    if page.parent.name != "decisions" and page.name not in ("contract.md", "eval.md"):
        assert not re.search(r"(^|[.!?]\s+)I\s", text, re.MULTILINE), f"{page.name}: first person"


@pytest.mark.slow
def test_an_installed_wheel_serves_the_chat_page(
    tmp_path: Path, main_settings: Settings, components: Components
) -> None:
    """`pip wheel .` into a fresh venv: the page and the widget are package data. The venv
    borrows this one's dependencies (a path file), not its editable peelqa, so what serves is
    the installed wheel."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(ROOT)],
        check=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("peelqa-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True
    )
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = next(p for p in sys.path if p.endswith("site-packages"))
    (Path(site) / "borrowed-deps.pth").write_text(ours + "\n")
    script = (
        "import sys, peelqa\n"
        f"assert peelqa.__file__.startswith({str(env_dir)!r}), peelqa.__file__\n"
        "from peelqa.server.routes.pages import STATIC_DIR\n"
        "print(STATIC_DIR)\n"
    )
    static = subprocess.run(
        [python, "-c", script], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert static.startswith(str(env_dir)) and Path(static, "widget.js").is_file()
    # And served over HTTP by the installed package's app, in its own process.
    serve = (
        "import sys, uvicorn\n"
        "from peelqa.config import Settings\n"
        "from peelqa.server.app import create_app\n"
        "s = Settings(corpus=sys.argv[1], index=sys.argv[2], port=int(sys.argv[3]))\n"
        "uvicorn.run(create_app(s), host='127.0.0.1', port=s.port, log_level='warning')\n"
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [python, "-c", serve, str(main_settings.corpus), str(main_settings.index), str(port)]
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        page = httpx.get(url + "/", timeout=5)
        assert page.status_code == 200 and "widget.js" in page.text
        assert httpx.get(url + "/widget.js", timeout=5).status_code == 200
        # The wheel's own migrations made the database: feedback is looked up, not a 5xx.
        rated = httpx.post(url + "/v1/feedback", json={"answer_id": "0" * 32, "rating": "up"})
        assert rated.status_code == 404, rated.text
        # /docs's Swagger UI is package data too: no CDN behind it.
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "init.js"):
            assert httpx.get(f"{url}/docs/assets/{asset}", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
