"""The one settings class: every option can come from a flag or a PEELQA_ environment variable.

The settings are read once, at start-up, and handed on as this object (to the app, to each
worker process); nothing reads the environment after that. The README's table of settings is
made from the field descriptions here (`settings_table`), and a test keeps the two the same.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "PEELQA_"
# cgroup v2: "max 100000" (no quota) or "200000 100000" (two cores' worth of time).
_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cores() -> int:
    """Cores this process may use: its affinity mask, capped by a container's CPU quota (a
    container given two cores of a 64-core host must not start 64 workers)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = _CPU_MAX.read_text().split()
        if quota != "max":
            cores = min(cores or 1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores or 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    corpus: Path = Field(Path("corpus"), description="Folder of reports (one file a report).")
    index: Path = Field(Path("index"), description="Folder the built index lives in.")
    host: str = Field("127.0.0.1", description="Address `peelqa serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `peelqa serve` listens on.")
    model_dir: Path | None = Field(
        None,
        description="A sentence-transformers model folder to use instead of the packaged "
        "all-MiniLM-L6-v2.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to call the API from a browser (the "
        "widget on another site); empty: only pages served by peelqa itself.",
    )
    # 64 KiB: a 2,000-character question plus 50 turns of history fits with room to spare.
    max_body_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest request body accepted; past it, 413."
    )
    # A secret, so that printing the settings never shows a key.
    api_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated API keys (16+ characters each), or the path of a file of "
        "hashed keys (`peelqa new-key`); then every `/v1` endpoint needs `Authorization: "
        "Bearer KEY`. Empty: the API is open.",
    )
    admin_keys: SecretStr = Field(
        SecretStr(""),
        description="Comma-separated admin keys (16+ characters each), or the path of a file of "
        "hashed keys, as for `PEELQA_API_KEYS`: they add and remove reports (`/v1/documents`), "
        "read feedback and usage (`GET /v1/feedback`, `/admin/usage`) and may call everything "
        "else. Empty: those routes answer 403.",
    )
    # 50 MiB: a long inspection report with its charts is a few MB as a PDF; far larger is
    # not a report but a scan or an archive.
    max_upload_bytes: int = Field(
        50 * 1024 * 1024,
        ge=1024,
        description="Largest report file `POST /v1/documents` accepts; past it, 413.",
    )
    watch: bool = Field(
        False,
        description="Watch the corpus folder while serving (`serve --watch`): a report file "
        "dropped in is indexed, one removed leaves the answers.",
    )
    # 120: two a second, far above a person chatting, low enough that one script cannot starve
    # the model for everyone else.
    rate_limit: int = Field(
        120,
        ge=0,
        description="Requests a minute per API key and client address together (per address "
        "when keys are off), over a sliding minute; over it, 429 with `Retry-After`. 0 turns "
        "every request limit off.",
    )
    # 1,200: ten callers at the full rate, or a widget's public key shared by an intranet; one
    # abuser of that key is stopped by `rate_limit` first and leaves the rest to the others.
    key_rate_limit: int = Field(
        1200,
        ge=0,
        description="Requests a minute for one API key from all addresses together: the "
        "ceiling of a key that many callers share (the widget's). 0: no ceiling.",
    )
    # 20: a person retyping a key fails a few times; a script guessing keys is held to 20 a
    # minute, hopeless against 16+ characters.
    auth_failure_limit: int = Field(
        20,
        ge=0,
        description="Failed authentications (401) a minute per client address; past it, 429 "
        "instead of 401. 0 turns it off.",
    )
    redis_url: SecretStr = Field(
        SecretStr(""),
        description="Redis URL (`redis://host:6379/0`, `rediss://` for TLS) where the rate "
        "limits are counted, shared by every worker and replica; empty: each server process "
        "counts in its own memory.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or networks (`127.0.0.1`, `10.0.0.0/8`) of "
        "reverse proxies whose `X-Forwarded-For` names the client; empty: the header is "
        "ignored and the client is the connection's peer.",
    )
    # 16 KiB in all: browsers and API clients send well under 4 KiB; nginx's default buffers
    # hold 8 KiB a header line.
    max_header_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="Largest request line and headers together; past it, 431 and the "
        "connection is closed.",
    )
    # 10 s: a client on a poor link sends a request head in well under a second.
    header_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a client has to send a request's line and headers once it has "
        "connected or started the request; past it, 408 and the connection is closed.",
    )
    # 10 s: 64 KiB in 10 s is 6.5 KB/s, slower than any link still in use.
    body_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a client has to send a request's body; past it, 408 and the "
        "connection is closed (not a 504 once the request deadline passes).",
    )
    # 10 s: far longer than an answer takes; a stalled client must not hold a restart.
    shutdown_grace: int = Field(
        10,
        ge=0,
        description="Seconds the requests in progress get to finish after SIGTERM before "
        "they are cancelled and the server exits.",
    )
    # 30: a queue of dozens of questions at a fraction of a second each clears well inside it;
    # past it the caller should retry.
    request_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a `/v1` request may wait for and use the model; past it, 504.",
    )
    # Questions are personal data: the access log and the database leave them out unless this
    # is set.
    log_questions: bool = Field(
        False,
        description="Put the question text into the access log, and keep it in the database "
        "for usage insight for `PEELQA_RETENTION_DAYS` (off by default).",
    )
    # 30 days: a month of questions to learn from, short enough to keep little personal data.
    retention_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Days question text is kept (with `PEELQA_LOG_QUESTIONS`); older question "
        "text is deleted, and older answers without feedback with it (the daily counts stay).",
    )
    # A secret: the URL may carry the database password.
    database_url: SecretStr = Field(
        SecretStr(""),
        description="Where answers, feedback and the usage log are kept: "
        "`postgresql://USER:PASSWORD@HOST:PORT/NAME` (shared by replicas). Empty: SQLite in "
        "the index's parent folder (`peelqa.sqlite3`).",
    )
    llm_url: str = Field(
        "",
        description="An OpenAI-compatible LLM server's base URL (llama.cpp, Ollama, vLLM), e.g. "
        "`http://127.0.0.1:8080/v1`, to word answers fluently (docs/llm.md). Empty: answers "
        "are the reports' own sentences and no LLM is called.",
    )
    llm_model: str = Field("", description="Model name sent to the LLM server.")
    llm_api_key: SecretStr = Field(
        SecretStr(""), description="Sent to the LLM server as `Authorization: Bearer` when set."
    )
    # 20: a small model on two cores writes a three-sentence answer in a few seconds; the rest is
    # headroom below the request deadline.
    llm_timeout: float = Field(
        20.0,
        gt=0,
        description="Seconds one generated answer may take; past it the answer is extractive. "
        "Must be below `PEELQA_REQUEST_TIMEOUT`.",
    )
    encoder: Literal["onnx", "torch"] = Field(
        "onnx",
        description="`onnx`: serve the ONNX export made at build time (no torch at start-up); "
        "`torch`: sentence-transformers.",
    )
    # int8 questions cost less than fp32 with the same answers on the quality sets
    # (docs/quality.md); passages are always fp32.
    query_precision: Literal["int8", "fp32"] = Field(
        "int8", description="Precision of the question encoder (with `encoder=onnx`)."
    )
    # 1,024 answers take a few MB.
    answer_cache: int = Field(
        1024,
        ge=0,
        description="Answers kept for repeated questions (same text, history and index), per "
        "server process; 0 turns the cache off.",
    )
    # One per core: one process runs the event loop, the encoder and the engine on one core,
    # so a second process is what uses a second core (the bench's default-command figures).
    workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Server processes (`serve --workers`), each with its share of the cores; "
        "default: one per core.",
    )
    threads: int | None = Field(
        None, ge=1, description="Encoder threads per process; default: cores / workers."
    )
    # 0 ms: a batch takes every question already received, so it grows by itself while the
    # encoder is busy; a wait only adds latency at low load (the bench's window sweep).
    batch_window_ms: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Milliseconds the encoder waits to fill a batch of questions.",
    )
    # 64: past that, padding and the first question's wait cost more than a second run.
    max_batch: int = Field(
        64,
        ge=1,
        le=1024,
        description="Questions per encoder run; 1 turns batching off (for comparison).",
    )
    max_queue: int = Field(
        256,
        ge=1,
        description="Questions in progress at once before new ones get 503 and `Retry-After`.",
    )

    @field_validator("corpus", "index", "model_dir")
    @classmethod
    def _expand(cls, v: Path | None) -> Path | None:
        return v.expanduser() if v is not None else None

    @model_validator(mode="after")
    def _llm_within_deadline(self) -> Settings:
        if self.llm_url and self.llm_timeout >= self.request_timeout:
            raise ValueError(
                f"PEELQA_LLM_TIMEOUT ({self.llm_timeout:g} s) must be below "
                f"PEELQA_REQUEST_TIMEOUT ({self.request_timeout:g} s), so that an answer falls "
                "back to extractive before the request itself times out"
            )
        if self.llm_url and not self.llm_url.startswith(("http://", "https://")):
            raise ValueError(
                f"PEELQA_LLM_URL must start with http:// or https://: {self.llm_url!r}"
            )
        return self

    @property
    def worker_count(self) -> int:
        """`workers`, or one per core this process may use."""
        return self.workers or usable_cores()

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    def to_json(self) -> str:
        """Every setting, secrets included, for handing to another process of this server
        (over a pipe, never argv or a log)."""
        data: dict[str, Any] = self.model_dump(mode="json")
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                data[name] = value.get_secret_value()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        return cls(**json.loads(text))


def settings_table() -> str:
    """The README's table of settings, made from the fields above."""
    rows = ["| variable | default | does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        shown = "none" if default is None else f"`{default}`" if default != "" else "empty"
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {shown} | {description} |")
    return "\n".join(rows)
