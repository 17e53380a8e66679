"""Issue 11 item 2, answers: anything but a well-formed chat completion is a 502, streamed too.

Each bypass class carries the same secret; the client must never see it, and the exchange is
audited as an upstream error.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.audit.interface import EventType
from kastell.guard.interface import ScanContext
from kastell.guard.offload import screen_answer
from kastell.guard.pipeline import Screener
from kastell.guard.policy import RuleActionPolicy
from kastell.guard.scanners.registry import all_rules, default_scanners

from ._servers import serve_in_thread
from ._tool_calls import SECRET, chunk
from .conftest import KEY, Gateway, read_records
from .test_output_tool_calls import ToolCallUpstream, _frames

AUTH = {"Authorization": f"Bearer {KEY}"}
_SCREENER = Screener(default_scanners(), RuleActionPolicy(all_rules()))
CHAT = {"model": "mock-gpt", "messages": [{"role": "user", "content": "Hi"}]}
_HEAD = {"id": "c", "object": "chat.completion", "created": 1, "model": "mock-gpt"}
_OK_CHOICE = {
    "index": 0,
    "message": {"role": "assistant", "content": "Hello."},
    "finish_reason": "stop",
}


@pytest.fixture
def upstream() -> Iterator[tuple[ToolCallUpstream, str]]:
    mock = ToolCallUpstream()
    with serve_in_thread(mock) as url:
        yield mock, url


def _answer(**fields: Any) -> bytes:
    return json.dumps({**_HEAD, "choices": [_OK_CHOICE], **fields}).encode()


_MALFORMED = {
    "legacy choices[].text": _answer(choices=[{"index": 0, "text": f"key {SECRET}"}]),
    "message as a string": _answer(choices=[{"index": 0, "message": f"key {SECRET}"}]),
    "choices as an object": _answer(choices={"0": {"message": {"content": f"key {SECRET}"}}}),
    "content as a list of parts": _answer(
        choices=[{"index": 0, "message": {"role": "assistant", "content": [{"text": SECRET}]}}]
    ),
    "no choices": json.dumps({**_HEAD, "output": f"key {SECRET}"}).encode(),
    "not a completion object": json.dumps(
        {"object": "list", "data": [{"text": SECRET}], "choices": [_OK_CHOICE]}
    ).encode(),
    "a JSON array": json.dumps([{"content": SECRET}]).encode(),
    "a JSON string": json.dumps(f"key {SECRET}").encode(),
    "usage text": _answer(usage={"prompt_tokens": 1, "note": f"key {SECRET}"}),
    "nested usage text": _answer(usage={"completion_tokens_details": {"x": SECRET}}),
    "role other than assistant": _answer(
        choices=[{"index": 0, "message": {"role": "system", "content": "ok"}}]
    ),
    "empty choices": _answer(choices=[]),
    "deeply nested JSON": b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


def test_malformed_answers_are_502_and_audited(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    with gateway() as (url, _):
        for name, raw in _MALFORMED.items():
            upstream[0].script.raw_body = raw
            # a large answer waits for a screening worker to start (seconds on a busy machine)
            response = httpx.post(
                f"{url}/v1/chat/completions", json=CHAT, headers=AUTH, timeout=120
            )
            assert response.status_code == 502, name
            assert response.json()["error"]["type"] == "upstream_error", name
            assert SECRET not in response.text, name
    errors = [r for r in read_records(audit_path) if r.event.event_type is EventType.UPSTREAM_ERROR]
    assert len(errors) == len(_MALFORMED)
    assert all(SECRET not in (r.event.redacted_text or "") for r in errors)


def test_unknown_answer_fields_are_dropped_and_listed_by_default(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    choice = {**_OK_CHOICE, "x_debug": f"key {SECRET}"}
    upstream[0].script.raw_body = _answer(choices=[choice], x_trace={"prompt": SECRET})
    with gateway() as (url, _):
        response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 200
    assert SECRET not in response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello."
    record = [r for r in read_records(audit_path) if r.event.event_type is EventType.RESPONSE][-1]
    assert record.event.details["dropped_fields"] == "choices[0].x_debug,x_trace"


def test_unknown_answer_fields_refused_by_policy(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str]
) -> None:
    upstream[0].script.raw_body = _answer(x_trace="harmless")
    policies = {"default": {"unknown_answer_fields": "refuse"}}
    with gateway(policies=policies) as (url, _):
        response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH)
    assert response.status_code == 502
    assert "x_trace" in response.json()["error"]["message"]


def test_unknown_answer_fields_screened_by_policy(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str]
) -> None:
    policies = {"default": {"unknown_answer_fields": "screen"}}
    with gateway(policies=policies) as (url, _):
        upstream[0].script.raw_body = _answer(x_trace="a harmless note")
        kept = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH).json()
        upstream[0].script.raw_body = _answer(x_trace=f"key {SECRET}")
        dropped = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH)
    assert kept["x_trace"] == "a harmless note"
    assert dropped.status_code == 200
    assert SECRET not in dropped.text


def _stream(
    gateway: Gateway, mock: ToolCallUpstream, chunks: list[dict[str, Any]]
) -> httpx.Response:
    mock.stream_chunks = chunks
    with gateway() as (url, _):
        return httpx.post(
            f"{url}/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH, timeout=10
        )


_BAD_CHUNKS = {
    "legacy text": {**chunk({}), "choices": [{"index": 0, "text": f"key {SECRET}"}]},
    "delta as a string": {**chunk({}), "choices": [{"index": 0, "delta": f"key {SECRET}"}]},
    "choices as an object": {**chunk({}), "choices": {"0": {"delta": {"content": SECRET}}}},
    "not a chunk": {"object": "chat.completion", "choices": [_OK_CHOICE]},
    "usage text": {**chunk({}), "choices": [], "usage": {"total_tokens": SECRET}},
}


@pytest.mark.parametrize("bad", list(_BAD_CHUNKS.values()), ids=list(_BAD_CHUNKS))
def test_malformed_first_chunk_is_502_before_any_byte(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], bad: dict[str, Any]
) -> None:
    response = _stream(gateway, upstream[0], [bad])
    assert response.status_code == 502
    assert SECRET not in response.text


@pytest.mark.parametrize("bad", list(_BAD_CHUNKS.values()), ids=list(_BAD_CHUNKS))
def test_malformed_later_chunk_ends_the_stream_as_an_upstream_error(
    gateway: Gateway,
    upstream: tuple[ToolCallUpstream, str],
    audit_path: pathlib.Path,
    bad: dict[str, Any],
) -> None:
    chunks = [chunk({"role": "assistant", "content": "Hello there."}), bad, chunk({}, "stop")]
    response = _stream(gateway, upstream[0], chunks)
    assert response.status_code == 200
    frames = _frames(response)
    assert SECRET not in response.text
    assert any(
        isinstance(f, dict) and f.get("error", {}).get("type") == "upstream_error" for f in frames
    )
    record = [r for r in read_records(audit_path) if r.event.event_type is EventType.RESPONSE][-1]
    assert record.event.details["outcome"] == "upstream_error"


def test_unknown_chunk_fields_are_dropped_and_listed(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    first = {**chunk({"role": "assistant", "content": "Hello."}), "x_trace": f"key {SECRET}"}
    response = _stream(gateway, upstream[0], [first, chunk({}, "stop")])
    assert response.status_code == 200
    assert SECRET not in response.text
    record = [r for r in read_records(audit_path) if r.event.event_type is EventType.RESPONSE][-1]
    assert "x_trace" in record.event.details["dropped_fields"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_ANSWERISH = st.fixed_dictionaries(
    {
        "object": st.sampled_from(["chat.completion", "x"]),
        "choices": _JSON | st.lists(_JSON, max_size=2),
    },
    optional={"usage": _JSON, "id": _JSON, "x": _JSON},
)


@settings(max_examples=200, deadline=1000)
@given(_ANSWERISH | _JSON)
def test_screen_answer_is_total(document: Any) -> None:
    # any upstream JSON ends in a screened answer or a named shape error, never an exception
    raw = json.dumps(document).encode()
    for unknown in ("drop", "screen", "refuse"):
        result = screen_answer(_SCREENER, ScanContext(role="assistant"), raw, unknown)  # type: ignore[arg-type]
        if result.error is None:
            sent = json.loads(result.body)
            assert sent["object"] == "chat.completion"
            assert isinstance(sent["choices"], list)
