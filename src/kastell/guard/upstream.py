"""OpenAI-compatible upstreams reached over HTTP (lean async HTTP/1.1 client).

Failures map to the gateway's HTTP answers: cannot connect or garbage -> ``UpstreamError``
(502), no answer in time -> ``UpstreamTimeoutError`` (504); a 4xx from the upstream is passed
back to the client as ``UpstreamRejectedError`` with the upstream's status.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from kastell._http1 import DEFAULT_MAX_BODY_BYTES, Http1Pool
from kastell.guard.interface import UpstreamError, UpstreamTimeoutError

__all__ = ["MAX_EVENT_BYTES", "HttpUpstream", "UpstreamRejectedError"]

MAX_EVENT_BYTES = 1024 * 1024
"""Largest line of a streamed answer: one chunk is parsed and screened on the event loop."""


class UpstreamRejectedError(UpstreamError):
    """The upstream refused the request with a 4xx status (passed back to the client)."""

    default_hint = "The upstream rejected the request; read its error message."

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        super().__init__(f"upstream answered {status}: {message or body!r}"[:500])
        self.http_status = status
        self.body = body


class HttpUpstream:
    """One OpenAI-compatible base URL (ending in ``/v1``), over a lean keep-alive HTTP/1.1 pool."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_connections: int = 100,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.model = model
        self._max_body = max_body_bytes
        self.timeout_s = timeout_s
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._base_url = base_url
        self._settings = (connect_timeout_s, timeout_s, max_connections)
        self._pool: Http1Pool | None = None

    @property
    def pool(self) -> Http1Pool:
        """The connection pool (created on first use, inside the serving event loop)."""
        if self._pool is None:
            connect, timeout, size = self._settings
            self._pool = Http1Pool(
                self._base_url,
                connect_timeout_s=connect,
                timeout_s=timeout,
                max_connections=size,
                error=UpstreamError,
                timeout_error=UpstreamTimeoutError,
                max_body_bytes=self._max_body,
            )
        return self._pool

    def _body(self, body: Mapping[str, Any], **extra: Any) -> bytes:
        document = {**body, **extra}
        if self.model:
            document["model"] = self.model
        return json.dumps(document, separators=(",", ":")).encode("utf-8")

    async def complete(self, body: Mapping[str, Any]) -> list[bytes]:
        """POST /chat/completions; return the raw JSON of a 200 answer, in pieces as received."""
        response = await self.pool.request(
            "POST", "/chat/completions", self._headers, self._body(body), join=False
        )
        if response.status != 200:
            _parse(response.status, b"".join(response.pieces))  # raises the upstream's error
        return response.pieces

    async def stream(self, body: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """POST a streaming request; yield each SSE ``data`` object until ``[DONE]``."""
        headers = {**self._headers, "accept": "text/event-stream"}
        async with self.pool.stream(
            "POST", "/chat/completions", headers, self._body(body, stream=True)
        ) as (head, lines):
            if head.status != 200:
                _parse(head.status, b"".join([line async for line in lines]))
            async for line in lines:
                if len(line) > MAX_EVENT_BYTES:
                    raise UpstreamError(
                        f"upstream sent a stream event over {MAX_EVENT_BYTES} bytes"
                    )
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    return
                chunk = _json(data)
                if "error" in chunk:
                    raise UpstreamError(f"upstream stream error: {chunk['error']!r}"[:500])
                yield chunk

    async def models(self) -> list[dict[str, Any]]:
        """GET /models and return its ``data`` list."""
        response = await self.pool.request("GET", "/models", self._headers, b"")
        data = _parse(response.status, response.body).get("data")
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._pool is not None:
            await self._pool.aclose()


def _json(data: str | bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise UpstreamError(f"upstream sent invalid JSON: {data[:200]!r}") from None
    if not isinstance(parsed, dict):
        raise UpstreamError("upstream sent JSON that is not an object")
    return parsed


def _parse(status: int, content: bytes) -> dict[str, Any]:
    if 400 <= status < 500:
        try:
            body: Any = json.loads(content)
        except (ValueError, UnicodeDecodeError):
            body = content[:500].decode("utf-8", "replace")
        raise UpstreamRejectedError(status, body)
    if status != 200:
        raise UpstreamError(f"upstream answered HTTP {status}")
    return _json(content)
