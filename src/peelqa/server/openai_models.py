"""The OpenAI-compatible chat's request and response shapes (`routes/chat.py` serves them).

The last user message is the question and the earlier user and assistant messages are the
history; system and developer messages are accepted and ignored (answers are made of the
reports' sentences, so there is no prompt to steer).
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from peelqa.models import (
    DOCS_DESCRIPTION,
    MAX_HISTORY_TURNS,
    MAX_QUESTION_CHARS,
    MAX_TURN_CHARS,
    AskResponse,
    Citation,
    DocIds,
    Turn,
    reject_unpaired_surrogates,
)

MODEL_ID = "peelqa"
# 50 turns of history and the question, with room for a few system or developer messages.
MAX_MESSAGES = MAX_HISTORY_TURNS + 10
# OpenAI's rule of thumb for English: a token is about four characters. `usage` is an estimate.
CHARS_PER_TOKEN = 4

_EXAMPLE_CITATION: dict[str, Any] = {
    "doc": "peel-2015-northamptonshire",
    "section": "q3",
    "heading": "How effective is the force at protecting from harm those who are vulnerable?",
    "quote": "The use of the THRIVE approach ... to assess the needs of callers ...",
    "score": 0.74,
}


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str = Field(max_length=MAX_TURN_CHARS)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = Field(
        None, description="Text, or a list of text parts (other part types are refused)."
    )

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",  # temperature, max_tokens, user, ...: accepted, without effect
        json_schema_extra={
            "examples": [
                {
                    "model": "peelqa",
                    "messages": [{"role": "user", "content": "What grade did the force get?"}],
                },
                {
                    "model": "peelqa",
                    "messages": [
                        {"role": "system", "content": "You are a helpful assistant."},
                        {"role": "user", "content": "How are vulnerable callers assessed?"},
                        {"role": "assistant", "content": "The use of the THRIVE approach ... [1]"},
                        {"role": "user", "content": "and what training was given for that?"},
                    ],
                    "stream": True,
                },
            ]
        },
    )

    model: str = Field(
        MODEL_ID,
        max_length=200,
        description="Accepted whatever it names, so that tools configured for another model "
        "work; the reply always comes from `peelqa`.",
    )
    messages: list[ChatMessage] = Field(
        min_length=1,
        max_length=MAX_MESSAGES,
        description="The conversation, oldest first. The last user message is the question "
        "(1 to 2,000 characters after trimming); earlier user and assistant messages are the "
        "history (at most 50); system and developer messages are ignored.",
    )
    stream: bool = Field(False, description="Answer as server-sent `chat.completion.chunk`s.")
    stream_options: StreamOptions | None = None
    # Not an OpenAI field: the official client sends it with `extra_body={"docs": [...]}`.
    docs: DocIds | None = Field(None, description=DOCS_DESCRIPTION)

    _question: str = PrivateAttr("")
    _history: list[Turn] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _split(self) -> ChatCompletionRequest:
        last = max((i for i, m in enumerate(self.messages) if m.role == "user"), default=None)
        if last is None:
            raise ValueError("messages: no user message; the last user message is the question")
        for m in self.messages:
            if len(m.text) > MAX_TURN_CHARS:
                raise ValueError(f"messages: a message is longer than {MAX_TURN_CHARS} characters")
            reject_unpaired_surrogates(m.text)
        question = self.messages[last].text.strip()
        if not question:
            raise ValueError("messages: the last user message is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise ValueError(
                f"messages: the last user message is longer than {MAX_QUESTION_CHARS} characters"
            )
        history = [
            Turn(role=m.role, content=m.text)
            for m in self.messages[:last]
            if m.role in ("user", "assistant")
        ]
        if len(history) > MAX_HISTORY_TURNS:
            raise ValueError(
                f"messages: at most {MAX_HISTORY_TURNS} user and assistant messages before the "
                "question; drop the oldest"
            )
        self._question, self._history = question, history
        return self

    @property
    def question(self) -> str:
        return self._question

    @property
    def history(self) -> list[Turn]:
        return self._history


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "chatcmpl-3f2a9c0d1e4b5a6c7d8e9f00",
                    "object": "chat.completion",
                    "created": 1767225600,
                    "model": "peelqa",
                    "choices": [
                        {
                            "index": 0,
                            "message": {
                                "role": "assistant",
                                "content": "The use of the THRIVE approach ... [1]",
                            },
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 41, "total_tokens": 50},
                    "citations": [_EXAMPLE_CITATION],
                    "answered": True,
                }
            ]
        }
    )

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = MODEL_ID
    choices: list[Choice]
    usage: Usage
    citations: list[Citation] = Field(
        description="What the markers `[1]`, `[2]` in the content point at (1-based)."
    )
    answered: bool = Field(description="False when the reports do not answer the question.")
    mode: Literal["extractive", "generated"] = Field(
        default="extractive", description="Whether the content was worded by the site's LLM server."
    )


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str = MODEL_ID
    choices: list[ChunkChoice]
    citations: list[Citation] | None = Field(None, description="On the first chunk only.")
    answered: bool | None = Field(None, description="On the first chunk only.")
    mode: Literal["extractive", "generated"] | None = Field(
        default=None, description="On the chunk with `finish_reason`: how the content was made."
    )
    usage: Usage | None = Field(
        None, description="On a last chunk with no choices, when `stream_options.include_usage`."
    )


class Model(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "peelqa", "object": "model", "created": 0, "owned_by": "peelqa"}]
        }
    )

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "object": "list",
                    "data": [
                        {"id": "peelqa", "object": "model", "created": 0, "owned_by": "peelqa"}
                    ],
                }
            ]
        }
    )

    object: Literal["list"] = "list"
    data: list[Model]


# The one model; `created` is fixed so that the listing does not change between calls.
PEELQA_MODEL = Model(id=MODEL_ID, created=0, owned_by="peelqa")


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def usage_of(request: ChatCompletionRequest, result: AskResponse) -> Usage:
    prompt = sum(estimate_tokens(m.text) for m in request.messages)
    completion = estimate_tokens(result.answer)
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def completion_of(request: ChatCompletionRequest, result: AskResponse) -> ChatCompletion:
    return ChatCompletion(
        id=completion_id(),
        created=int(time.time()),
        choices=[Choice(message=AssistantMessage(content=result.answer))],
        usage=usage_of(request, result),
        citations=result.citations,
        answered=result.answered,
        mode=result.mode,
    )


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"
