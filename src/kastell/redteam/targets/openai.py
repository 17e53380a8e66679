"""An OpenAI-compatible Chat Completions endpoint over HTTP (vLLM, Ollama, llama.cpp, LiteLLM...).

Timeouts on every request, capped retries with exponential backoff on connection errors, 5xx
and 429, and a ``TargetUnavailableError`` (exit 3) when the endpoint cannot be reached: never a
hang. Credentials come from the environment and never appear in ``description``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import httpx

from kastell._http1 import Http1Pool, HttpError
from kastell.redteam.interface import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    TargetUnavailableError,
    ToolCall,
)

__all__ = ["OpenAITarget", "request_body"]

_RETRY_STATUS = {429, 500, 502, 503, 504}


def _message(message: ChatMessage) -> dict[str, Any]:
    body: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        body["tool_calls"] = [
            {"id": call.call_id, "type": "function",
             "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        body["tool_call_id"] = message.tool_call_id
    return body


def request_body(request: ChatRequest, model: str) -> dict[str, Any]:
    """The JSON body of a Chat Completions request."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [_message(m) for m in request.messages],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    if request.seed is not None:
        body["seed"] = request.seed
    if request.tools:
        body["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": dict(t.parameters)}}
            for t in request.tools
        ]
    if request.logprobs:
        body["logprobs"] = True
        if request.top_logprobs is not None:
            body["top_logprobs"] = request.top_logprobs
    return body


def _parse(payload: Any, status: int) -> ChatResponse:
    try:
        choice = payload["choices"][0]
        message = choice.get("message") or {}
        calls = tuple(
            ToolCall(
                name=str(call["function"]["name"]),
                arguments=str(call["function"].get("arguments", "")),
                call_id=str(call.get("id", "")),
            )
            for call in message.get("tool_calls") or ()
        )
        usage = payload.get("usage") or {}
        logprobs = choice.get("logprobs")
        return ChatResponse(
            text=str(message.get("content") or ""),
            tool_calls=calls,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=str(choice.get("finish_reason") or ""),
            has_logprobs=bool(logprobs and (logprobs.get("content") or logprobs.get("tokens"))),
            status=status,
        )
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as error:
        raise TargetUnavailableError(
            f"target answered with an unexpected body ({type(error).__name__}: {error})",
            hint="Check that the URL points at an OpenAI-compatible /v1 base.",
        ) from None


class OpenAITarget:
    """``Target`` for an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Args:
        base_url: the API base, e.g. ``http://127.0.0.1:8000/v1``.
        model: the model name to request.
        headers: extra request headers (e.g. ``Authorization``), never printed.
        timeout: seconds per request (connect, read and write each).
        max_retries: retries after the first try, for connection errors, 429 and 5xx.
        backoff: first retry delay in seconds, doubled each retry.
        max_connections: keep-alive connections to the endpoint.
        transport: an httpx transport to use instead of the built-in HTTP/1.1 client (tests
            pass a mock one).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        max_connections: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {
            "content-type": "application/json",
            "accept": "application/json",
            **dict(headers or {}),
        }
        self._model = model
        self._retries = max(0, max_retries)
        self._backoff = backoff
        self._http: Http1Pool | None = None
        self._client: httpx.AsyncClient | None = None
        if transport is None:
            try:
                self._http = Http1Pool(base_url.rstrip("/"), connect_timeout_s=timeout,
                                       timeout_s=timeout, max_connections=max_connections)
            except HttpError as error:
                raise TargetUnavailableError(str(error), hint="Use http(s)://host:port/v1.") \
                    from None
        else:  # an injected httpx transport (tests, proxies)
            self._client = httpx.AsyncClient(
                headers=dict(headers or {}), timeout=httpx.Timeout(timeout),
                limits=httpx.Limits(max_connections=max_connections), transport=transport,
            )

    @property
    def description(self) -> str:
        """The endpoint URL and model."""
        return f"{self._url} (model {self._model})"

    async def _once(self, body: bytes) -> tuple[int, bytes]:
        if self._http is not None:
            reply = await self._http.request("POST", "/chat/completions", self._headers, body)
            return reply.status, reply.body
        if self._client is None:  # pragma: no cover - one of the two is always set
            raise TargetUnavailableError("target is closed")
        try:
            response = await self._client.post(
                self._url, content=body, headers={"content-type": "application/json"}
            )
        except httpx.TransportError as error:
            raise HttpError(f"{type(error).__name__}: {error}") from None
        return response.status_code, response.content

    async def _post(self, body: bytes, retry_429: bool) -> tuple[int, bytes]:
        delay = self._backoff
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                status, payload = await self._once(body)
            except HttpError as error:
                if last:
                    raise TargetUnavailableError(
                        f"target {self._url} unreachable after {attempt + 1} tries: {error}"
                    ) from None
            else:
                retryable = status in _RETRY_STATUS and (retry_429 or status != 429)
                if not retryable or last:
                    return status, payload
            await asyncio.sleep(delay)
            delay *= 2
        raise TargetUnavailableError(f"target {self._url}: retries exhausted")  # not reached

    async def send(self, request: ChatRequest) -> ChatResponse:
        """Send one request; 429 comes back as a response with ``status=429``."""
        body = json.dumps(request_body(request, self._model)).encode("utf-8")
        status, payload = await self._post(body, request.retry_rate_limited)
        if status == 429:
            return ChatResponse(text="", status=429)
        text = payload.decode("utf-8", errors="replace")
        if status >= 400:
            raise TargetUnavailableError(
                f"target answered HTTP {status}: {text[:300]}",
                hint="Check the model name, credentials, and that prompts fit the context window.",
            )
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            raise TargetUnavailableError(f"target answered non-JSON: {text[:200]!r}") from None
        return _parse(document, status)

    async def aclose(self) -> None:
        """Close the connections."""
        if self._http is not None:
            await self._http.aclose()
        if self._client is not None:
            await self._client.aclose()
