"""The LLM client's pieces that need no server: stream lines and the circuit breaker."""

from __future__ import annotations

import pytest

from peelqa.generation.llm import _DONE, CircuitBreaker, LlmError, parse_sse_line


def test_sse_lines() -> None:
    assert parse_sse_line('data: {"choices": [{"delta": {"content": "Hi"}}]}') == "Hi"
    assert parse_sse_line('data: {"choices": [{"delta": {"role": "assistant"}}]}') == ""
    assert parse_sse_line('data: {"choices": []}') == ""  # usage-only chunk
    assert parse_sse_line("data: [DONE]") is _DONE
    assert parse_sse_line(": keep-alive") is None and parse_sse_line("") is None
    for bad in (
        'data: {"choices": [{"delta": {"content',
        'data: {"id": 1}',
        "data: [1]",
        'data: {"choices": [{"delta": {"content": 7}}]}',
    ):
        with pytest.raises(LlmError) as e:
            parse_sse_line(bad)
        assert e.value.kind == "malformed"
    with pytest.raises(LlmError) as e:
        parse_sse_line('data: {"error": {"message": "out of memory"}}')
    assert e.value.kind == "error"


def test_breaker_opens_after_failures_and_lets_one_trial_through() -> None:
    now = [0.0]
    b = CircuitBreaker(failures_to_open=3, cooldown=30, clock=lambda: now[0])
    for _ in range(2):
        assert b.allow()
        b.failed("timeout")
    assert b.state == "closed" and b.allow()
    b.failed("timeout")
    assert b.state == "open" and not b.allow() and b.retry_in() == 30
    now[0] = 31
    assert b.state == "half-open"
    assert b.allow() and not b.allow()  # one trial at a time
    b.failed("connect")  # the trial failed: open again for a full cool-down
    assert b.state == "open" and b.retry_in() == 30
    now[0] = 62
    assert b.allow()
    b.succeeded()
    assert b.state == "closed" and b.consecutive_failures == 0 and b.allow()
