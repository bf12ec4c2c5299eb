"""The command line and a live server, as a user runs them."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import REPORT, SHARED_EVAL

from peelqa.config import Settings
from peelqa.index import current_generation
from peelqa.runtime import Components

pytestmark = pytest.mark.live

PEELQA = [sys.executable, "-m", "peelqa.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def env(corpus: Path, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PEELQA_CORPUS": str(corpus),
        "PEELQA_INDEX": str(tmp_path / "index"),
    }


@contextlib.contextmanager
def serving(env: dict[str, str], *extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    proc = subprocess.Popen(
        [*PEELQA, "serve", "--port", str(port), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        if proc.poll() is None:
            proc.kill()
        assert proc.stderr is not None
        proc.stderr.close()


def test_serve_builds_a_missing_index_then_answers_and_rebuilds_when_stale(
    env: dict[str, str],
) -> None:
    with serving(env) as (url, proc):
        assert proc.poll() is None
        r = httpx.post(
            url + "/v1/ask", json={"question": "What grade did the force get?"}, timeout=30
        )
        body = r.json()
        assert body["answered"] and body["citations"][0]["section"] == "conclusion"
        assert httpx.get(url + "/").status_code in (200, 404)
    before = current_generation(Path(env["PEELQA_INDEX"])).name
    report = Path(env["PEELQA_CORPUS"]) / REPORT.name
    report.write_text(
        report.read_text() + "\n\nNext steps\n\nThe force will publish a plan in May.\n"
    )
    with serving(env) as (url, _):
        sections = httpx.get(url + "/v1/sections", timeout=10).json()
        assert "next-steps" in [s["section"] for s in sections]
    assert current_generation(Path(env["PEELQA_INDEX"])).name != before


def test_serve_refuses_a_corrupt_index_and_says_what_to_do(env: dict[str, str]) -> None:
    subprocess.run([*PEELQA, "build"], env=env, check=True, capture_output=True)
    gen = current_generation(Path(env["PEELQA_INDEX"]))
    (gen / "sentences.npy").write_bytes(b"garbage")
    r = subprocess.run(
        [*PEELQA, "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 3
    assert "corrupt" in r.stderr and "peelqa build" in r.stderr


def test_ask_json_prints_the_api_object(env: dict[str, str], client) -> None:  # type: ignore[no-untyped-def]
    q = "What is the THRIVE approach used for?"
    r = subprocess.run(
        [*PEELQA, "ask", q, "--json"], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(r.stdout) == client.post("/v1/ask", json={"question": q}).json()
    plain = subprocess.run([*PEELQA, "ask", q], env=env, capture_output=True, text=True, check=True)
    assert "[1]" in plain.stdout and "q3" in plain.stdout


def test_ask_rejects_an_empty_question(env: dict[str, str]) -> None:
    r = subprocess.run([*PEELQA, "ask", "   "], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "empty" in r.stderr


def test_build_shows_progress_and_counts(env: dict[str, str]) -> None:
    r = subprocess.run([*PEELQA, "build"], env=env, capture_output=True, text=True, check=True)
    assert "embedding" in r.stderr and "100%" in r.stderr
    assert "6 sections" in r.stdout


@pytest.mark.skipif(not SHARED_EVAL.is_file(), reason="shared/eval is not beside this checkout")
def test_eval_prints_the_figures(env: dict[str, str]) -> None:
    r = subprocess.run(
        [*PEELQA, "eval", str(SHARED_EVAL), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    figs = json.loads(r.stdout)["figures"]
    assert set(figs) >= {
        "section_at_1",
        "facts",
        "false_abstain",
        "abstain_ok",
        "injection_ok",
        "all_ok",
    }
    assert figs["all_ok"] >= 80
    table = subprocess.run(
        [*PEELQA, "eval", str(SHARED_EVAL)], env=env, capture_output=True, text=True, check=True
    )
    assert "all_ok" in table.stdout


def test_serve_workers_start_processes_that_load_onnx_not_torch(
    main_settings: Settings, components: Components
) -> None:
    # The session's main index already carries the ONNX export: the workers only load it.
    env = {
        **os.environ,
        "PEELQA_CORPUS": str(main_settings.corpus),
        "PEELQA_INDEX": str(main_settings.index),
    }
    with serving(env, "--workers", "2") as (url, proc):
        for _ in range(4):
            r = httpx.post(url + "/v1/ask", json={"question": "What grade did the force get?"})
            assert r.status_code == 200 and r.json()["citations"][0]["section"] == "conclusion"
        workers = [
            pid
            for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        assert len(workers) == 2
        for pid in workers:  # each worker runs ONNX Runtime and never loaded torch
            # The first worker to be ready answered above; the other may still be loading.
            deadline = time.monotonic() + 60
            while "onnxruntime" not in (maps := Path(f"/proc/{pid}/maps").read_text()):
                assert time.monotonic() < deadline, f"worker {pid} never loaded onnxruntime"
                time.sleep(0.2)
            assert "libtorch" not in maps
