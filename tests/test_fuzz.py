"""Schemathesis over the app's own OpenAPI schema: every operation, in process (ASGI), with the
real model and index, with every check (`st run --checks all`): valid and invalid inputs alike
must never get a 5xx; every response must match what the schema promises (status, content
type, headers, body); every request the schema allows must be taken and every one it forbids
refused; methods the schema does not list get 405 with `Allow`. The checks' settings are the
repository's schemathesis.toml, which the command-line runner reads too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import schemathesis
from conftest import ROOT
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.config import SchemathesisConfig

from peelqa.config import Settings
from peelqa.runtime import Components
from peelqa.server.app import create_app

# 50 examples an operation: enough to reach the edges of every field (empty, huge, wrong type,
# NUL and surrogate characters) while the whole run stays well under two minutes on two cores.
EXAMPLES = 50
# Keys and rate limits off: the fuzzer's hundreds of requests must reach the handlers.
FUZZ = {"api_keys": SecretStr(""), "rate_limit": 0}

# The schema comes from an app built without components: generating OpenAPI needs no model,
# and schemathesis collects one test per operation from it. (Its lazy, fixture-based loader
# does not run under pytest 9.2.) The requests go to `fuzz_app`, served the real components.
_schema_app = create_app(Settings(corpus=Path("unused"), index=Path("unused"), **FUZZ))
schema = schemathesis.openapi.from_dict(
    _schema_app.openapi(), config=SchemathesisConfig.from_path(ROOT / "schemathesis.toml")
)
schema.app = _schema_app  # selects the in-process ASGI transport; never called (see `app=`)
schema.config.generation.update(max_examples=EXAMPLES, deterministic=True)


@pytest.fixture(scope="module")
def fuzz_app(main_settings: Settings, components: Components) -> FastAPI:
    app = create_app(main_settings.model_copy(update=FUZZ), components=components)
    assert app.openapi() == _schema_app.openapi()  # the schema fuzzed is the one served
    return app


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same cases every run: a failure here is reproducible
    deadline=None,  # answers take real model time
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation_holds_to_its_schema(case: schemathesis.Case, fuzz_app: FastAPI) -> None:
    case.call_and_validate(app=fuzz_app)  # every check the configuration enables: all


def test_every_operation_is_documented_with_examples() -> None:
    """/docs is the tool author's manual: each operation says what it does and shows what it
    returns, and each path parameter has an example."""
    spec = _schema_app.openapi()
    schemas = spec["components"]["schemas"]
    operations = [(p, m, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
    assert {p for p, _, _ in operations} >= {
        "/healthz",
        "/metrics",
        "/v1/ask",
        "/v1/sections",
        "/v1/sections/{doc}/{section}",
        "/v1/chat/completions",
        "/v1/models",
        "/v1/models/{model}",
        "/v1/documents",
        "/v1/documents/{doc}",
        "/v1/documents/{doc}/file",
    }
    for path, method, op in operations:
        assert op.get("description"), (method, path)
        success = next(v for k, v in sorted(op["responses"].items()) if k.startswith("2"))
        for media_type, content in success.get("content", {}).items():
            schema = content.get("schema", {})
            ref = schema.get("$ref") or schema.get("items", {}).get("$ref", "")
            named = schemas.get(ref.rsplit("/", 1)[-1], {})
            assert "example" in content or "examples" in named, (method, path, media_type)
        for param in op.get("parameters", []):
            assert param["schema"].get("examples") or param.get("examples"), (path, param)
    ask = spec["paths"]["/v1/ask"]["post"]["requestBody"]["content"]["application/json"]
    chat = spec["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]
    for body in (ask, chat["application/json"]):
        assert schemas[body["schema"]["$ref"].rsplit("/", 1)[-1]]["examples"]


@pytest.mark.parametrize(
    ("path", "raw", "fragment"),
    [
        # Found by the fuzzer: a body that is not UTF-8 was a 400 outside the schema.
        ("/v1/ask", b"\x1f\xff", "not valid UTF-8 JSON"),
        ("/v1/chat/completions", b"\x1f\xff", "not valid UTF-8 JSON"),
        # JSON nested past the parser's recursion limit was told "not valid UTF-8 JSON".
        ("/v1/ask", b'{"question": ' + b"[" * 5000 + b"]" * 5000 + b"}", "too deeply"),
        (
            "/v1/chat/completions",
            b'{"messages": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3001,
            "too deeply",
        ),
        # Found while studying it: a lone surrogate reached the tokenizer and was a 500.
        ("/v1/ask", b'{"question": "grade \\ud800?"}', "unpaired surrogate"),
        (
            "/v1/chat/completions",
            b'{"messages": [{"role": "user", "content": "grade \\udfff?"}]}',
            "unpaired surrogate",
        ),
    ],
)
def test_undecodable_input_is_422_not_500(
    client: TestClient, path: str, raw: bytes, fragment: str
) -> None:
    r = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ask", {"question": "What grade did the force get?", "stream": "yes"}),
        ("/v1/ask", {"question": "What grade did the force get?", "stream": 1}),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "What grade?"}], "stream": "true"},
        ),
        (
            "/v1/chat/completions",
            {
                "messages": [{"role": "user", "content": "What grade?"}],
                "stream": True,
                "stream_options": {"include_usage": "no"},
            },
        ),
    ],
)
def test_booleans_are_strict(client: TestClient, path: str, body: dict[str, object]) -> None:
    """`"stream": "yes"` was taken as true: a mistake is refused, not guessed at."""
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert "valid boolean" in r.json()["error"]["message"]


def test_the_schema_states_the_question_limits() -> None:
    """What schemathesis found: `{"question": ""}` and a user message without content were
    valid by the schema and refused by the server; the schema now states the limits."""
    spec = _schema_app.openapi()
    schemas = spec["components"]["schemas"]
    pattern = schemas["AskRequest"]["properties"]["question"]["pattern"]
    user = schemas["ChatMessage"]["oneOf"][0]
    assert user["required"] == ["role", "content"]
    assert user["properties"]["content"]["anyOf"][0]["pattern"] == pattern
    for text, ok in [("", False), ("  \x1f\u3000 ", False), (" a ", True), ("a" * 2000, True),
                     ("a" * 2001, False), ("\n" + "a" * 2000 + "\t", True)]:  # fmt: skip
        assert bool(re.search(pattern, text)) is ok, text[:5]
