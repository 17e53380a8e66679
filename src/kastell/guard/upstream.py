"""OpenAI-compatible upstreams reached over HTTP with httpx (async).

Failures map to the gateway's HTTP answers: cannot connect or garbage -> ``UpstreamError``
(502), no answer in time -> ``UpstreamTimeoutError`` (504); a 4xx from the upstream is passed
back to the client as ``UpstreamRejectedError`` with the upstream's status.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from kastell.guard.interface import UpstreamError, UpstreamTimeoutError

__all__ = ["HttpUpstream", "UpstreamRejectedError"]


class UpstreamRejectedError(UpstreamError):
    """The upstream refused the request with a 4xx status (passed back to the client)."""

    default_hint = "The upstream rejected the request; read its error message."

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        super().__init__(f"upstream answered {status}: {message or body!r}"[:500])
        self.http_status = status
        self.body = body


def _timeout_error(error: Exception, timeout_s: float) -> UpstreamTimeoutError:
    return UpstreamTimeoutError(f"upstream did not answer within {timeout_s:g} s ({error!r})")


class HttpUpstream:
    """One OpenAI-compatible base URL (ending in ``/v1``)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        model: str | None = None,
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self.timeout_s = timeout_s
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )

    def _body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {**body, "model": self.model} if self.model else dict(body)

    async def complete(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /chat/completions and return the parsed answer."""
        try:
            response = await self._client.post("/chat/completions", json=self._body(body))
        except httpx.TimeoutException as error:
            raise _timeout_error(error, self.timeout_s) from None
        except httpx.HTTPError as error:
            raise UpstreamError(f"upstream unreachable: {error!r}") from None
        return _parse(response.status_code, response.content)

    async def stream(self, body: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """POST a streaming request; yield each SSE ``data`` object until ``[DONE]``."""
        request = self._client.build_request(
            "POST", "/chat/completions", json={**self._body(body), "stream": True}
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException as error:
            raise _timeout_error(error, self.timeout_s) from None
        except httpx.HTTPError as error:
            raise UpstreamError(f"upstream unreachable: {error!r}") from None
        try:
            if response.status_code != 200:
                _parse(response.status_code, await response.aread())
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                chunk = _json(data)
                if "error" in chunk:
                    raise UpstreamError(f"upstream stream error: {chunk['error']!r}"[:500])
                yield chunk
        except httpx.TimeoutException as error:
            raise _timeout_error(error, self.timeout_s) from None
        except httpx.HTTPError as error:
            raise UpstreamError(f"upstream stream broke: {error!r}") from None
        finally:
            await response.aclose()

    async def models(self) -> list[dict[str, Any]]:
        """GET /models and return its ``data`` list."""
        try:
            response = await self._client.get("/models")
        except httpx.TimeoutException as error:
            raise _timeout_error(error, self.timeout_s) from None
        except httpx.HTTPError as error:
            raise UpstreamError(f"upstream unreachable: {error!r}") from None
        data = _parse(response.status_code, response.content).get("data")
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


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
