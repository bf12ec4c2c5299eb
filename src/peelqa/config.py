"""The one settings class: every option can come from a flag or a PEELQA_ environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PEELQA_", extra="ignore")

    corpus: Path = Field(Path("corpus"), description="folder of .txt/.md reports")
    index: Path = Field(Path("index"), description="folder the built index lives in")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    model_dir: Path | None = Field(
        None, description="sentence-transformers model folder; default: the packaged MiniLM"
    )
    # Comma-separated origins allowed to call the API from a browser; empty means same origin.
    cors_origins: str = ""
    # 64 KiB: a 2,000-character question plus 50 turns of history fits with room to spare.
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # Comma-separated API keys, or the path of a file of hashed keys (see access.py); empty means
    # the API is open. A secret, so that printing the settings never shows a key.
    api_keys: SecretStr = SecretStr("")
    # Requests per minute per key (or per client address when keys are off); 0 turns it off.
    # 120: two a second, far above a person chatting, low enough that one script cannot starve
    # the single model worker for everyone else.
    rate_limit: int = Field(120, ge=0)
    # Seconds a request may wait for and use the model before it gets a 504. 30: a queue of
    # dozens of questions at ~0.1 s each clears well inside it; past it the caller should retry.
    request_timeout: float = Field(30.0, gt=0)
    # Questions are personal data: the access log leaves them out unless this is set.
    log_questions: bool = False
    # An OpenAI-compatible LLM server (llama.cpp's server, Ollama, vLLM), e.g.
    # http://127.0.0.1:8080/v1. Empty: answers are extractive and no LLM is ever called.
    llm_url: str = ""
    llm_model: str = Field("", description="model name sent to the LLM server")
    llm_api_key: SecretStr = SecretStr("")
    # Seconds one generated answer may take, from the first byte asked to the last verified
    # sentence; past it the answer is extractive. 20: a small model on two cores writes a
    # three-sentence answer in a few seconds; the rest is headroom below the request deadline.
    llm_timeout: float = Field(20.0, gt=0)
    encoder: Literal["onnx", "torch"] = Field(
        "onnx",
        description="onnx: serve the ONNX export made at build time (no torch at start-up); "
        "torch: sentence-transformers",
    )
    # int8: questions are encoded by the int8 graph of the export (quantization.py), ~1.5x
    # cheaper than fp32 on this CPU with the same dev and held-out figures (README
    # "Performance"); passages are always fp32.
    query_precision: Literal["int8", "fp32"] = Field(
        "int8", description="precision of the question encoder (with encoder=onnx)"
    )
    # Answers kept for repeated questions (same text and history, same index); 0 turns it off.
    # 1,024 answers take a few MB.
    answer_cache: int = Field(1024, ge=0)
    workers: int = Field(1, ge=1, le=64, description="server processes (`serve --workers`)")
    threads: int | None = Field(
        None, ge=1, description="encoder threads per process; default: cores / workers"
    )
    # 0 ms: a batch takes every question already received, so it grows by itself while the
    # encoder is busy; a wait only adds latency at low load (bench/: window sweep).
    batch_window_ms: float = Field(0.0, ge=0, le=100)
    # Questions per encoder run; 64: past that padding and the first one's wait cost more than
    # a second run. 1 turns batching off (for comparison in bench/).
    max_batch: int = Field(64, ge=1, le=1024)
    # Questions in progress at once before new ones get 503 + Retry-After (see batching.py).
    max_queue: int = Field(256, ge=1)

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
    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]
