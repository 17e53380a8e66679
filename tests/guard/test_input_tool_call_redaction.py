"""Request messages are redacted in place: content stays content, each call its own arguments.

Every test goes through the gateway and checks what the mock upstream received.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import httpx
import pytest

from kastell.audit.interface import EventType
from kastell.guard._records import messages_digest

from ._servers import MockUpstream
from .conftest import KEY, Gateway, read_records

AUTH = {"Authorization": f"Bearer {KEY}"}
MAIL_ARGS = '{"to": "jane.doe@example.eu", "subject": "Minutes"}'


def _call(arguments: Any, name: str = "send_mail", call_id: str = "call_1") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _conversation(assistant: dict[str, Any]) -> list[dict[str, Any]]:
    """A user turn, the given assistant turn, the tool's result and a follow-up question."""
    return [
        {"role": "user", "content": "Send the minutes to my colleague."},
        {"role": "assistant", **assistant},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "sent"}'},
        {"role": "user", "content": "Did it work?"},
    ]


def _post(url: str, messages: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    body = {"model": "mock-gpt", "messages": messages, **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=AUTH, timeout=10)


def _forwarded(mock: MockUpstream, role: str) -> list[dict[str, Any]]:
    """The messages of one role in the last request the upstream received."""
    return [m for m in mock.script.requests[-1]["messages"] if m["role"] == role]


@pytest.mark.parametrize("stream", [False, True])
def test_pii_in_tool_call_arguments_is_redacted_and_content_kept(
    gateway: Gateway,
    upstream: tuple[MockUpstream, str],
    audit_path: pathlib.Path,
    stream: bool,
) -> None:
    calls = [_call('{"city": "Bern"}', "get_weather", "call_0"), _call('{"to":"jane@example.eu"}')]
    messages = _conversation({"content": "hello", "tool_calls": calls})
    sent_copy = json.loads(json.dumps(messages))
    with gateway() as (url, _):
        response = _post(url, messages, stream=stream)
    assert response.status_code == 200
    (assistant,) = _forwarded(upstream[0], "assistant")
    assert assistant["content"] == "hello"
    forwarded = assistant["tool_calls"]
    assert [c["function"]["arguments"] for c in forwarded] == [
        '{"city": "Bern"}',
        '{"to":"[REDACTED]"}',
    ]
    assert [c["function"]["name"] for c in forwarded] == ["get_weather", "send_mail"]
    assert [c["id"] for c in forwarded] == ["call_0", "call_1"]
    assert "jane@example.eu" not in json.dumps(upstream[0].script.requests[-1])
    assert _forwarded(upstream[0], "tool")[0]["content"] == '{"status": "sent"}'
    record = read_records(audit_path)[-1]
    assert "guard.pii" in record.event.rule_ids
    assert record.event.prompt_digest == messages_digest(sent_copy)  # client's text, not ours


def test_legacy_function_call_arguments_are_redacted(
    gateway: Gateway, upstream: tuple[MockUpstream, str]
) -> None:
    function_call = {"name": "send_mail", "arguments": MAIL_ARGS}
    messages = _conversation({"content": None, "function_call": function_call})
    with gateway() as (url, _):
        response = _post(url, messages)
    assert response.status_code == 200
    (assistant,) = _forwarded(upstream[0], "assistant")
    assert assistant["content"] is None
    assert assistant["function_call"] == {
        "name": "send_mail",
        "arguments": '{"to": "[REDACTED]", "subject": "Minutes"}',
    }


@pytest.mark.parametrize(
    ("call", "why"),
    [
        (_call('{"card": 4111111111111111}', "pay"), "breaks the arguments' JSON"),
        (_call('{"to": "jane.doe\\u0040example.eu"}'), "hidden behind a JSON escape"),
        (_call({"to": "jane.doe@example.eu"}), "arguments not a string: never rewritten"),
        (_call("{}", "mail_jane.doe@example.eu"), "in a function name"),
    ],
)
def test_personal_data_that_cannot_be_redacted_in_place_blocks_the_request(
    gateway: Gateway,
    upstream: tuple[MockUpstream, str],
    audit_path: pathlib.Path,
    call: dict[str, Any],
    why: str,
) -> None:
    messages = _conversation({"content": "On it.", "tool_calls": [call]})
    with gateway() as (url, _):
        response = _post(url, messages)
    assert response.status_code == 400, why
    assert response.json()["error"]["type"] == "kastell_blocked"
    assert response.json()["error"]["code"] == "guard.pii"
    assert upstream[0].script.requests == []  # nothing reached the model
    record = read_records(audit_path)[-1]
    assert record.event.event_type is EventType.BLOCK
    assert "guard.pii" in record.event.rule_ids


def test_each_content_part_is_redacted_on_its_own(
    gateway: Gateway, upstream: tuple[MockUpstream, str]
) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://img.example/a.png"}}
    parts = [
        {"type": "text", "text": "Summarise the thread below."},
        image,
        {"type": "text", "text": "Reply to jane@example.eu by Friday."},
        {"type": "text", "text": "Summarise the thread below."},
    ]
    messages = [{"role": "user", "content": parts}]
    with gateway() as (url, _):
        response = _post(url, messages)
    assert response.status_code == 200
    (user,) = _forwarded(upstream[0], "user")
    assert user["content"] == [
        parts[0],
        image,
        {"type": "text", "text": "Reply to [REDACTED] by Friday."},
        parts[3],
    ]


def test_a_content_part_and_arguments_with_equal_text_are_each_redacted(
    gateway: Gateway, upstream: tuple[MockUpstream, str]
) -> None:
    arguments = '{"to":"jane@example.eu"}'
    parts = [{"type": "text", "text": "Mail sent."}, {"type": "text", "text": arguments}]
    messages = _conversation({"content": parts, "tool_calls": [_call(arguments)]})
    with gateway() as (url, _):
        _post(url, messages)
    (assistant,) = _forwarded(upstream[0], "assistant")
    redacted = '{"to":"[REDACTED]"}'
    assert assistant["content"] == [parts[0], {"type": "text", "text": redacted}]
    assert assistant["tool_calls"][0]["function"]["arguments"] == redacted


def test_assistant_refusal_in_the_history_is_redacted(
    gateway: Gateway, upstream: tuple[MockUpstream, str]
) -> None:
    refusal = "I will not e-mail jane@example.eu."
    messages = _conversation({"content": None, "refusal": refusal})
    with gateway() as (url, _):
        _post(url, messages)
    (assistant,) = _forwarded(upstream[0], "assistant")
    assert assistant["refusal"] == "I will not e-mail [REDACTED]."
