"""Prompt and token data (vLLM's prompt_logprobs, token ids, echo) never pass the guard."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ._servers import serve_in_thread
from ._tool_calls import SECRET, chunk
from .conftest import Gateway, read_records
from .test_output_logprobs import AUTH, CHAT, answered, details
from .test_output_tool_calls import ToolCallUpstream, _frames


@pytest.fixture
def upstream() -> Iterator[tuple[ToolCallUpstream, str]]:
    """An upstream whose answers each test scripts."""
    mock = ToolCallUpstream()
    with serve_in_thread(mock) as url:
        yield mock, url


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("prompt_logprobs", 1),
        ("prompt_logprobs", 0),  # 0 still returns the prompt's own token logprobs in vLLM
        ("echo", True),
        ("return_token_ids", True),
        ("return_tokens_as_token_ids", True),
    ],
)
def test_requests_for_prompt_or_token_data_are_refused(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], param: str, value: Any
) -> None:
    with gateway() as (url, _):
        response = httpx.post(
            f"{url}/v1/chat/completions", json={**CHAT, param: value}, headers=AUTH, timeout=10
        )
        allowed = httpx.post(
            f"{url}/v1/chat/completions", json={**CHAT, param: None}, headers=AUTH, timeout=10
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert "system prompt" in response.json()["error"]["message"]
    assert allowed.status_code == 200
    assert len(upstream[0].script.requests) == 1  # the refused request never reached the model


def test_prompt_and_token_data_in_an_answer_are_dropped(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str], audit_path: pathlib.Path
) -> None:
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": "Hello."},
        "finish_reason": "stop",
        "token_ids": [9906, 13],
        "prompt_logprobs": [None, {"791": {"logprob": -1.0, "decoded_token": SECRET}}],
    }
    answer = {"id": "c", "object": "chat.completion", "model": "m", "choices": [choice]}
    body = json.dumps({**answer, "prompt_token_ids": [1, 2]}).encode()
    response = answered(gateway, upstream[0], body)
    sent = response.json()
    assert SECRET not in response.text
    assert "prompt_token_ids" not in sent
    assert set(sent["choices"][0]) == {"index", "message", "finish_reason"}
    assert details(read_records(audit_path))["dropped_fields"] == (
        "prompt_logprobs,prompt_token_ids,token_ids"
    )


def test_prompt_and_token_data_in_a_stream_are_dropped(
    gateway: Gateway, upstream: tuple[ToolCallUpstream, str]
) -> None:
    first = chunk({"role": "assistant", "content": "Hi"})
    first["prompt_token_ids"] = [1, 2, 3]
    first["choices"][0]["prompt_logprobs"] = [{"5": {"decoded_token": SECRET}}]
    second = chunk({"content": " there."})
    second["choices"][0]["token_ids"] = [42]
    response = answered(gateway, upstream[0], [first, second, chunk({}, "stop")])
    assert SECRET not in response.text
    for frame in _frames(response):
        if isinstance(frame, dict):
            assert "prompt_token_ids" not in frame
            assert all("token_ids" not in c for c in frame.get("choices", []))
