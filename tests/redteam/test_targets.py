from __future__ import annotations

import json
import time

import httpx
import pytest

from kastell.redteam.interface import (
    ChatMessage,
    ChatRequest,
    RedteamUsageError,
    TargetUnavailableError,
    ToolCall,
    ToolSpec,
)
from kastell.redteam.targets.openai import OpenAITarget, request_body
from kastell.redteam.targets.python import PythonTarget
from kastell.redteam.targets.spec import headers_from_env, open_target

REQ = ChatRequest(messages=(ChatMessage("user", "hi"),), max_tokens=8)


def _ok(content: str = "hello", **extra: object) -> dict[str, object]:
    choice: dict[str, object] = {"message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop", **extra}
    return {"choices": [choice], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


def _target(handler: httpx.MockTransport, **kwargs: object) -> OpenAITarget:
    return OpenAITarget("http://127.0.0.1:9/v1", "m", transport=handler, backoff=0.001,
                        **kwargs)  # type: ignore[arg-type]


async def test_parses_reply_usage_tool_calls_and_logprobs() -> None:
    seen: list[dict[str, object]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        body = _ok("", logprobs={"content": [{"token": "a", "logprob": -0.1}]})
        body["choices"][0]["message"]["tool_calls"] = [  # type: ignore[index]
            {"id": "c1", "type": "function",
             "function": {"name": "delete_account", "arguments": "{}"}}]
        return httpx.Response(200, json=body)

    target = _target(httpx.MockTransport(handle), headers={"Authorization": "Bearer s3cret"})
    request = ChatRequest(
        messages=(ChatMessage("system", "s"), ChatMessage("assistant", "", (ToolCall("f", "{}",
                                                                                      "c0"),)),
                  ChatMessage("tool", "r", tool_call_id="c0")),
        max_tokens=4, tools=(ToolSpec("delete_account", "d"),), logprobs=True, top_logprobs=5,
        seed=3,
    )
    response = await target.send(request)
    await target.aclose()
    assert response.tool_calls == (ToolCall("delete_account", "{}", "c1"),)
    assert response.has_logprobs
    assert (response.prompt_tokens, response.completion_tokens) == (3, 2)
    body = seen[0]
    assert body["top_logprobs"] == 5
    assert body["seed"] == 3
    assert body["tools"][0]["function"]["name"] == "delete_account"  # type: ignore[index]
    assert body["messages"][2]["tool_call_id"] == "c0"  # type: ignore[index]
    assert "s3cret" not in target.description


async def test_retries_5xx_then_succeeds() -> None:
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(503) if calls["n"] < 3 else httpx.Response(200, json=_ok())

    target = _target(httpx.MockTransport(handle), max_retries=2)
    assert (await target.send(REQ)).text == "hello"
    assert calls["n"] == 3


async def test_429_is_returned_when_retries_for_rate_limits_are_off() -> None:
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        return httpx.Response(429)

    target = _target(httpx.MockTransport(handle), max_retries=3)
    response = await target.send(ChatRequest(REQ.messages, 1, retry_rate_limited=False))
    assert response.status == 429
    assert calls["n"] == 1


async def test_http_error_status_is_target_unavailable() -> None:
    target = _target(httpx.MockTransport(lambda r: httpx.Response(400, text="context exceeded")))
    with pytest.raises(TargetUnavailableError, match="HTTP 400: context exceeded") as caught:
        await target.send(REQ)
    assert caught.value.exit_code == 3


@pytest.mark.parametrize("body", [b"not json", b'{"choices": []}', b'{"no": "choices"}'])
async def test_malformed_bodies_are_target_unavailable(body: bytes) -> None:
    target = _target(httpx.MockTransport(lambda r: httpx.Response(200, content=body)))
    with pytest.raises(TargetUnavailableError):
        await target.send(REQ)


async def test_unreachable_fails_fast_not_hangs() -> None:
    target = OpenAITarget("http://127.0.0.1:1/v1", "m", max_retries=1, backoff=0.01, timeout=2)
    started = time.monotonic()
    with pytest.raises(TargetUnavailableError, match="unreachable after 2 tries"):
        await target.send(REQ)
    assert time.monotonic() - started < 5
    await target.aclose()


def test_headers_from_env() -> None:
    env = {"KEY": "abc", "KASTELL_TARGET_HEADERS": '{"api-key": "x"}'}
    assert headers_from_env(env, "KEY") == {"Authorization": "Bearer abc", "api-key": "x"}
    assert headers_from_env({}, "KEY") == {}


@pytest.mark.parametrize("value", ["[1]", "{not json", '{"a": 1}'])
def test_bad_header_env_is_usage_error(value: str) -> None:
    with pytest.raises(RedteamUsageError, match="KASTELL_TARGET_HEADERS"):
        headers_from_env({"KASTELL_TARGET_HEADERS": value}, "KEY")


@pytest.mark.parametrize("spec", ["ftp://x", "localhost:8000", ""])
def test_unknown_target_spec_is_usage_error(spec: str) -> None:
    with pytest.raises(RedteamUsageError, match="unknown target") as caught:
        open_target(spec)
    assert "python:MODULE:CALLABLE" in caught.value.diagnostics()


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [("python:nomodule_xyz:f", "cannot import"), ("python:json", "bad python target"),
     ("python:json:nothing_here", "not a callable")],
)
def test_bad_python_targets(spec: str, fragment: str) -> None:
    with pytest.raises(RedteamUsageError, match=fragment):
        open_target(spec)


async def test_python_target_sync_async_and_failures(target_module: str) -> None:
    leaky = PythonTarget(f"{target_module}:leaky")
    reply = await leaky.send(ChatRequest((ChatMessage("system", "S3"), ChatMessage("user", "x")),
                                         8))
    assert "S3" in reply.text
    assert (await PythonTarget(f"{target_module}:slow").send(REQ)).text.startswith("I'm sorry")
    agent = await PythonTarget(f"{target_module}:agent").send(
        ChatRequest(REQ.messages, 8, tools=(ToolSpec("delete_account", "d"),)))
    assert agent.tool_calls[0].name == "delete_account"
    with pytest.raises(TargetUnavailableError, match="RuntimeError: pipeline down"):
        await PythonTarget(f"{target_module}:broken").send(REQ)
    with pytest.raises(TargetUnavailableError, match="returned int"):
        await PythonTarget(f"{target_module}:wrong_type").send(REQ)


def test_request_body_omits_unset_options() -> None:
    body = request_body(REQ, "m")
    assert set(body) == {"model", "messages", "max_tokens", "temperature"}
