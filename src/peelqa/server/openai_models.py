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

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, model_validator

from peelqa.models import (
    DOCS_DESCRIPTION,
    MAX_HISTORY_TURNS,
    MAX_TURN_CHARS,
    QUESTION_SCHEMA,
    AskResponse,
    Citation,
    DocIds,
    Turn,
    question_text,
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


def _text_part(text: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["type", "text"],
        "properties": {"type": {"type": "string", "const": "text"}, "text": text},
    }


# Every user message is a question (the last one is asked, the earlier ones were): a string or
# a single text part, 1 to 2,000 characters after trimming. Other messages are any text up to
# 8,000 characters, a list of text parts, or null. The schema states exactly what `_split`
# checks, so a tool that generates requests from it sends only requests the server takes.
_TURN_TEXT: dict[str, Any] = {"type": "string", "maxLength": MAX_TURN_CHARS}
_MESSAGE_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "type": "object",
            "title": "UserMessage",
            "required": ["role", "content"],
            "properties": {
                "role": {"type": "string", "const": "user"},
                "content": {
                    "anyOf": [
                        QUESTION_SCHEMA,
                        {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 1,
                            "items": _text_part(QUESTION_SCHEMA),
                        },
                    ],
                    "description": "A question: 1 to 2,000 characters after trimming, as a "
                    "string or one text part.",
                },
            },
        },
        {
            "type": "object",
            "title": "OtherMessage",
            "required": ["role"],
            "properties": {
                "role": {"type": "string", "enum": ["system", "developer", "assistant"]},
                "content": {
                    "anyOf": [
                        _TURN_TEXT,
                        {"type": "array", "items": _text_part(_TURN_TEXT)},
                        {"type": "null"},
                    ],
                    "description": "Text, or a list of text parts (other part types are "
                    "refused); system and developer messages are ignored.",
                },
            },
        },
    ]
}


def _message_schema(schema: dict[str, Any]) -> None:
    schema.clear()
    schema.update(_MESSAGE_SCHEMA)


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra=_message_schema)

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

    include_usage: StrictBool = False


def _user_question(message: ChatMessage, *, last: bool) -> str:
    """A user message's question, checked as the schema states it."""
    what = "messages: the last user message" if last else "messages: a user message"
    if isinstance(message.content, list) and len(message.content) != 1:
        raise ValueError(f"{what} must be a string or one text part")
    return question_text(message.text, what=what)


# At least one user message (the last is the question), and at most the question plus 50
# earlier user and assistant messages in all.
_MESSAGES_COUNTS: dict[str, Any] = {
    "allOf": [
        {"contains": {"type": "object", "properties": {"role": {"const": "user"}}}},
        {
            "contains": {
                "type": "object",
                "properties": {"role": {"enum": ["user", "assistant"]}},
            },
            "maxContains": MAX_HISTORY_TURNS + 1,
        },
    ]
}


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
        description="The conversation, oldest first. The last user message is the question; "
        "every user message is a question (1 to 2,000 characters after trimming, a string or "
        "one text part); earlier user and assistant messages are the history (at most 50); "
        "system and developer messages are ignored.",
        json_schema_extra=_MESSAGES_COUNTS,
    )
    # Strict: `"stream": "yes"` or `1` is a mistake to report, not a true to guess.
    stream: StrictBool = Field(False, description="Answer as server-sent `chat.completion.chunk`s.")
    stream_options: StreamOptions | None = None
    # Not an OpenAI field: the official client sends it with `extra_body={"docs": [...]}`.
    docs: DocIds | None = Field(None, description=DOCS_DESCRIPTION)

    _question: str = PrivateAttr("")
    _history: list[Turn] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _split(self) -> ChatCompletionRequest:
        users = [i for i, m in enumerate(self.messages) if m.role == "user"]
        if not users:
            raise ValueError("messages: no user message; the last user message is the question")
        for m in self.messages:
            reject_unpaired_surrogates(m.text)
        questions = [_user_question(self.messages[i], last=i == users[-1]) for i in users]
        turns = [m for m in self.messages if m.role in ("user", "assistant")]
        if len(turns) > MAX_HISTORY_TURNS + 1:
            raise ValueError(
                f"messages: at most {MAX_HISTORY_TURNS} user and assistant messages before the "
                "question; drop the oldest"
            )
        last = users[-1]
        history = [
            # A list of parts may join to more than a turn holds: history is context, and its
            # end is what a follow-up refers to.
            Turn(role=m.role, content=m.text[-MAX_TURN_CHARS:])
            for m in self.messages[:last]
            if m.role in ("user", "assistant")
        ]
        self._question, self._history = questions[-1], history
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
