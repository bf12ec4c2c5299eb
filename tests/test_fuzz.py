"""Schemathesis over the app's own OpenAPI schema: every operation, in process (ASGI), with the
real model and index. Valid and invalid inputs alike must never get a 5xx, and every response
must match what the schema promises (status, content type, headers, body)."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from peelqa.api import create_app
from peelqa.config import Settings
from peelqa.runtime import Components

# 50 examples an operation: enough to reach the edges of every field (empty, huge, wrong type,
# NUL and surrogate characters) while the whole run stays well under two minutes on two cores.
EXAMPLES = 50
# Keys and rate limits off: the fuzzer's hundreds of requests must reach the handlers.
FUZZ = {"api_keys": SecretStr(""), "rate_limit": 0}

# The schema comes from an app built without components: generating OpenAPI needs no model,
# and schemathesis collects one test per operation from it. (Its lazy, fixture-based loader
# does not run under pytest 9.2.) The requests go to `fuzz_app`, served the real components.
_schema_app = create_app(Settings(corpus=Path("unused"), index=Path("unused"), **FUZZ))
schema = schemathesis.openapi.from_dict(_schema_app.openapi())
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
    case.call_and_validate(
        app=fuzz_app,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )
