"""The guard gateway as a pure ASGI application.

Routes: ``POST /v1/chat/completions`` (JSON or SSE), ``GET /v1/models``, ``GET /healthz``,
``GET /metrics`` (Prometheus text), ``GET /openapi.json``. Every error is an OpenAI-style JSON
error object; nothing the client sends can produce a 5xx other than an upstream failure (502,
504) or an unavailable audit log or rate-limit store (503, fail closed). Refused requests (401,
429) are audited as ``kastell.guard.refusals`` describes before they are answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable

from kastell.audit.interface import AuditError, EventType
from kastell.guard import _records as rec
from kastell.guard._asgi import (
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    error_body,
    header,
    read_body,
    send_error,
    send_json,
)
from kastell.guard.exchange import ChatExchange
from kastell.guard.interface import UpstreamError
from kastell.guard.offload import ScreeningUnavailableError
from kastell.guard.openapi import openapi_document
from kastell.guard.ratelimit import RateLimitUnavailableError
from kastell.guard.refusals import Refusal, client_source
from kastell.guard.request_body import BadRequestError, parse_chat_request
from kastell.guard.runtime import GuardRuntime, TenantRuntime

__all__ = ["GuardApp"]

_TEXT_HEADERS = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]


class GuardApp:
    """``GuardApp(runtime)`` is an ASGI 3 application; ``on_shutdown`` closes the runtime."""

    def __init__(
        self,
        runtime: GuardRuntime,
        *,
        on_startup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.runtime = runtime
        self._on_startup = on_startup
        self._openapi = json.dumps(openapi_document()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        try:
            if path == "/v1/chat/completions" and method == "POST":
                await self._chat(scope, receive, send)
            elif path == "/v1/models" and method == "GET":
                await self._models(scope, send)
            elif path == "/healthz" and method == "GET":
                await send_json(send, 200, {"status": "ok"})
            elif path == "/metrics" and method == "GET":
                await self._metrics(scope, send)
            elif path == "/openapi.json" and method == "GET":
                await send_json(send, 200, json.loads(self._openapi))
            elif path in ("/v1/chat/completions", "/v1/models", "/healthz", "/metrics"):
                await send_error(
                    send,
                    405,
                    f"{method} is not allowed on {path}",
                    "invalid_request_error",
                    "method_not_allowed",
                )
            else:
                await send_error(
                    send, 404, f"no route {path}", "invalid_request_error", "not_found"
                )
        except AuditError as error:
            await self._safe_error(
                send, 503, f"audit log unavailable: {error.message}", "audit_unavailable"
            )
        except RateLimitUnavailableError as error:
            await self._safe_error(send, 503, error.message, "rate_limit_unavailable")
        except ScreeningUnavailableError as error:
            await self._safe_error(send, 503, error.message, "screening_unavailable")

    async def _metrics(self, scope: Scope, send: Send) -> None:
        """``/metrics`` for a scraper with a metrics key, or anyone if configured public.

        By default it is not served on the gateway's port at all (404): it names tenants, rule
        hits and canary alerts. ``metrics.listen`` serves it on another address instead.
        """
        keys = self.runtime.metrics_keys
        if not self.runtime.metrics_public:
            if keys is None:
                await send_error(
                    send, 404, "no route /metrics", "invalid_request_error", "not_found"
                )
                return
            scheme, _, key = (header(scope, b"authorization") or "").partition(" ")
            if scheme.lower() != "bearer" or keys.tenant_for(key.strip()) is None:
                await send_error(
                    send,
                    401,
                    "A metrics key is required.",
                    "invalid_request_error",
                    "invalid_api_key",
                )
                return
        body = self.runtime.metrics.render().encode()
        await send({"type": "http.response.start", "status": 200, "headers": _TEXT_HEADERS})
        await send({"type": "http.response.body", "body": body})

    async def _safe_error(self, send: Send, status: int, message: str, code: str) -> None:
        # the response may already have started (streaming): then the connection just ends
        with contextlib.suppress(RuntimeError, OSError):
            await send_error(send, status, message, "service_unavailable", code)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self._on_startup is not None:
                    await self._on_startup()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.runtime.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _authenticate(self, scope: Scope, send: Send) -> TenantRuntime | None:
        authorization = header(scope, b"authorization") or ""
        scheme, _, key = authorization.partition(" ")
        bearer = scheme.lower() == "bearer"
        tenant = self.runtime.keyring.tenant_for(key.strip()) if bearer else None
        if tenant is None:
            await self._unauthenticated(scope, send, authorization)
            return None
        runtime = self.runtime.tenants[tenant]
        limit = runtime.rate_limit
        decision = await self.runtime.limiter.acquire(tenant, limit.per_minute, limit.burst)
        if not decision.allowed:
            await self._rate_limited(scope, send, tenant, max(1, round(decision.retry_after_s)))
            return None
        return runtime

    async def _unauthenticated(self, scope: Scope, send: Send, authorization: str) -> None:
        self.runtime.metrics.inc("kastell_guard_requests_total", {"tenant": "", "status": "401"})
        reason, presented = _refused_credentials(authorization)
        client = _client_host(scope)
        await self.runtime.refusals.refused(
            Refusal(
                EventType.AUTH_FAILURE,
                source=client_source(client),
                request_id=_request_id(scope),
                path=scope["path"],
                reason=reason,
                client=client,
                key_sha256=rec.key_fingerprint(presented) if presented else None,
            )
        )
        await send_error(
            send, 401, "Incorrect or missing API key.", "invalid_request_error", "invalid_api_key"
        )

    async def _rate_limited(self, scope: Scope, send: Send, tenant: str, retry_s: int) -> None:
        self.runtime.metrics.inc(
            "kastell_guard_requests_total", {"tenant": tenant, "status": "429"}
        )
        await self.runtime.refusals.refused(
            Refusal(
                EventType.RATE_LIMITED,
                source=tenant,
                request_id=_request_id(scope),
                path=scope["path"],
                reason="rate_limit",
                tenant=tenant,
                client=_client_host(scope),
                retry_after_s=retry_s,
            )
        )
        await send_error(
            send,
            429,
            f"Rate limit of tenant {tenant} reached.",
            "rate_limit_exceeded",
            "rate_limit_exceeded",
            [(b"retry-after", str(retry_s).encode())],
        )

    async def _models(self, scope: Scope, send: Send) -> None:
        tenant = await self._authenticate(scope, send)
        if tenant is None:
            return
        try:
            models = await self.runtime.upstreams[tenant.upstream].models()
        except UpstreamError as error:
            kind = "upstream_timeout" if error.http_status == 504 else "upstream_error"
            await send_error(
                send,
                502 if error.http_status < 500 else error.http_status,
                error.message,
                kind,
                kind,
            )
            return
        await send_json(send, 200, {"object": "list", "data": models})

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        tenant = await self._authenticate(scope, send)
        if tenant is None:
            return
        declared = header(scope, b"content-length")
        try:
            async with asyncio.timeout(self.runtime.limits.body_timeout_s):
                raw = await read_body(
                    receive,
                    self.runtime.limits.max_body_bytes,
                    int(declared) if declared and declared.isdigit() else None,
                )
            request = parse_chat_request(raw, tenant.policy.unknown_request_fields)
        except BodyTooLarge:
            limit = self.runtime.limits.max_body_bytes
            await send_error(
                send,
                413,
                f"The request body is over the limit of {limit} bytes.",
                "invalid_request_error",
                "request_too_large",
            )
            return
        except ClientGone:
            return
        except TimeoutError:
            seconds = self.runtime.limits.body_timeout_s
            message = f"The request body did not arrive within {seconds:g} s."
            # the rest of the body may still come: the connection cannot carry another request
            close = [(b"connection", b"close")]
            await send_error(send, 408, message, "invalid_request_error", "request_timeout", close)
            return
        except BadRequestError as error:
            body = error_body(str(error), "invalid_request_error", "invalid_request", error.param)
            await send_json(send, 400, body)
            return
        session = header(scope, b"x-kastell-session")
        exchange = ChatExchange(self.runtime, tenant, request, _request_id(scope), session, started)
        disconnected = asyncio.Event()
        watcher = (
            asyncio.create_task(_watch_disconnect(receive, disconnected))
            if request.body.get("stream")
            else None
        )
        try:
            await exchange.run(send, disconnected)
        finally:
            if watcher is not None:
                watcher.cancel()


def _refused_credentials(authorization: str) -> tuple[str, str]:
    """Why an ``Authorization`` value was refused, and the credential it presented (or "")."""
    scheme, _, key = authorization.strip().partition(" ")
    if not scheme:
        return "missing_key", ""
    if scheme.lower() != "bearer":
        return "not_bearer", authorization.strip()
    return ("unknown_key", key.strip()) if key.strip() else ("missing_key", "")


def _request_id(scope: Scope) -> str:
    """The client's ``X-Request-Id`` (at most 128 characters), else a random one."""
    return (header(scope, b"x-request-id") or f"req-{secrets.token_hex(12)}")[:128]


def _client_host(scope: Scope) -> str | None:
    """The peer address uvicorn saw (behind a proxy: the proxy's), if the server gave one."""
    client = scope.get("client")
    return str(client[0]) if client else None


async def _watch_disconnect(receive: Receive, disconnected: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            disconnected.set()
            return
