"""The request and response models of the contract (CONTRACT.md), shared by API, CLI and client."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator

# 2,000 characters: a long question still fits; anything longer is a pasted document, not a
# question, and would only dilute retrieval.
MAX_QUESTION_CHARS = 2000
# 50 turns: far more than a follow-up needs, small enough to keep requests bounded.
MAX_HISTORY_TURNS = 50
# A turn may quote a whole answer back; 8,000 characters is several answers' worth.
MAX_TURN_CHARS = 8000
# Reports one question may be scoped to: far more than a person picks, and bounded.
MAX_SCOPE_DOCS = 1000
MAX_DOC_ID_CHARS = 200

DocIds = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_DOC_ID_CHARS)]],
    Field(min_length=1, max_length=MAX_SCOPE_DOCS),
]
DOCS_DESCRIPTION = (
    "Answer from these reports only (their ids, as `GET /v1/documents` lists them); 404 for "
    "an id not in service. Absent: every report."
)


# The question's limits as the OpenAPI schema states them, so that a tool generating requests
# from the schema sends only questions the server takes: 1 to 2,000 characters after trimming.
# Whitespace is spelt out as the characters Python's `str.strip` removes: a schema's pattern is
# an ECMA-262 regex, whose `\s` leaves out U+001C-U+001F and U+0085, which `strip` removes.
# The server's check is `question_text`; this pattern says exactly the same.
_SPACE = (
    "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
QUESTION_PATTERN = (
    f"^[{_SPACE}]*[^{_SPACE}](?:[\\s\\S]{{0,{MAX_QUESTION_CHARS - 2}}}[^{_SPACE}])?[{_SPACE}]*$"
)
QUESTION_SCHEMA: dict[str, str] = {"type": "string", "pattern": QUESTION_PATTERN}


def question_text(text: str, *, what: str = "question") -> str:
    """The question trimmed; ValueError when it is empty or too long."""
    text = reject_unpaired_surrogates(text).strip()
    if not text:
        raise ValueError(f"{what} is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise ValueError(f"{what} is longer than {MAX_QUESTION_CHARS} characters")
    return text


def reject_unpaired_surrogates(text: str) -> str:
    """JSON can carry a lone UTF-16 surrogate (`"\\ud800"`), which is no character: the tokenizer
    and every UTF-8 writer fail on it, so it is refused as invalid input, not met as a 500."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text contains an unpaired surrogate (\\ud800-\\udfff)") from None
    return text


class Turn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant"]
    content: Annotated[str, StringConstraints(max_length=MAX_TURN_CHARS)]


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {"question": "What grade did the force get?"},
                {
                    "question": "and what training was given for that?",
                    "history": [
                        {"role": "user", "content": "How are vulnerable callers assessed?"},
                        {"role": "assistant", "content": "The use of the THRIVE approach ... [1]"},
                    ],
                    "stream": False,
                },
            ]
        },
    )

    question: str = Field(
        description="The question, 1 to 2,000 characters after trimming.",
        json_schema_extra={"pattern": QUESTION_PATTERN},
    )
    history: list[Turn] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_TURNS,
        description="The conversation so far, oldest first (at most 50 turns).",
    )
    # Strict: `"stream": "yes"` or `1` is a mistake to report, not a true to guess.
    stream: StrictBool = Field(False, description="Answer as text/event-stream.")
    docs: DocIds | None = Field(None, description=DOCS_DESCRIPTION)

    @field_validator("question")
    @classmethod
    def _trimmed(cls, v: str) -> str:
        return question_text(v)


class Citation(BaseModel):
    doc: str = Field(description="Report id: its file name without extension.")
    section: str = Field(description="Section id: intro, q1, q2, ... or a heading's slug.")
    heading: str = Field(description="The section's heading.")
    path: list[str] = Field(
        default_factory=list,
        description="The headings from the report's top section down to this one.",
    )
    title: str = Field("", description="The report's title.")
    quote: str = Field(
        description="Text copied exactly from the section (without list or table markup)."
    )
    score: float = Field(description="How surely the quote answers the question (0 to 1).")
    page: int | None = Field(
        None, description="Paged formats (PDF): the 1-based page of the quote's first character."
    )


def new_answer_id() -> str:
    return uuid.uuid4().hex


class AskResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answer": "Overall, HMIC graded the force as 'requires improvement' ... [1]",
                    "answered": True,
                    "citations": [
                        {
                            "doc": "peel-2015-northamptonshire",
                            "section": "conclusion",
                            "heading": "Conclusion",
                            "quote": "Overall, HMIC graded ... 'requires improvement' ...",
                            "score": 0.83,
                        }
                    ],
                }
            ]
        }
    )

    id: str = Field(
        default_factory=new_answer_id,
        description="Names this answer, for `POST /v1/feedback`.",
    )
    answer: str
    answered: bool
    citations: list[Citation]
    mode: Literal["extractive", "generated"] = Field(
        default="extractive",
        description="`extractive`: the report's own sentences; `generated`: worded by the "
        "site's LLM server, each sentence checked against the passage it cites.",
    )
    reply: str | None = Field(
        None,
        description="A short direct reply ('Requires improvement', '62.1 percent'), stated in "
        "the words of `citations[0]`, when the question asks for a grade or a figure; it also "
        "opens `answer`.",
    )
    suggestions: list[str] = Field(
        default_factory=list,
        description="When the reports do not answer: up to three nearby topics they do cover.",
    )


class BlockOut(BaseModel):
    """A paragraph, list item or table row of a section: [start, end) offsets into its text."""

    kind: Literal["paragraph", "list_item", "table_row"]
    start: int
    end: int
    page: int | None = Field(None, description="Paged formats (PDF): the page it begins on.")


class SectionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "doc": "peel-2015-northamptonshire",
                    "section": "conclusion",
                    "heading": "Conclusion",
                    "text": "The grading given for each of the above areas was ...",
                }
            ]
        }
    )

    doc: str
    section: str
    heading: str
    text: str
    title: str = Field("", description="The report's title.")
    path: list[str] = Field(
        default_factory=list,
        description="The headings from the report's top section down to this one.",
    )
    level: int = Field(1, description="1 for a top section (and `intro`), 2 under it, ...")
    blocks: list[BlockOut] = Field(
        default_factory=list,
        description="The section's paragraphs, list items and table rows, in order.",
    )


DocumentStatus = Literal["indexing", "ready", "failed"]


class DocumentOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "doc": "peel-2015-northamptonshire",
                    "title": "PEEL: Police effectiveness 2015 (Vulnerability)",
                    "format": "txt",
                    "sections": 6,
                    "pages": None,
                    "status": "ready",
                    "error": None,
                    "progress": None,
                }
            ]
        }
    )

    doc: str = Field(description="Report id: its file name without extension.")
    title: str = Field(description="The report's title (its id until it has been read).")
    format: str = Field(description="txt, md, pdf, html or docx.")
    sections: int = Field(description="Sections in service (0 until it is indexed).")
    pages: int | None = Field(description="Pages of a paged format (PDF), else null.")
    status: DocumentStatus = Field(
        description="`indexing`: being read and embedded (the version before it, if any, still "
        "answers); `ready`: answering; `failed`: could not be indexed, see `error`."
    )
    error: str | None = Field(None, description="Why it failed, when it did.")
    progress: float | None = Field(
        None, description="While indexing: the share of the build's passages embedded (0 to 1)."
    )


class DocumentAccepted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"doc": "peel-2023-kingsmere", "status": "indexing"}]}
    )

    doc: str = Field(description="The report's id: the file's name without extension.")
    status: DocumentStatus


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"error": {"code": "invalid_request", "message": "question: question is empty"}}
            ]
        }
    )

    error: ErrorDetail


class LlmHealth(BaseModel):
    state: Literal["ok", "degraded"] = Field(
        description="`degraded`: recent calls failed; answers are extractive meanwhile."
    )
    model: str
    breaker: Literal["closed", "open", "half-open"] = Field(
        description="`open`: the server is not called until `retry_in` seconds have passed."
    )
    consecutive_failures: int
    retry_in: float = Field(0.0, description="Seconds until the server is tried again.")
    last_error: str | None = None


class Health(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ok"},
                {
                    "status": "ok",
                    "llm": {
                        "state": "degraded",
                        "model": "smollm2",
                        "breaker": "open",
                        "consecutive_failures": 3,
                        "retry_in": 21.5,
                        "last_error": "timeout",
                    },
                },
            ]
        }
    )

    status: str
    llm: LlmHealth | None = Field(
        None, description="Only when an LLM server is configured (PEELQA_LLM_URL)."
    )
