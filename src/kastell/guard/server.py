"""Serving the gateway with uvicorn: slow clients bounded, metrics on their own listener.

uvicorn closes idle keep-alive connections but has no limit on how long a client may take to
send a request's headers, nor on how large they may grow: a client that dribbles one header
byte a second holds a connection (and its memory) forever. ``GuardHttpProtocol`` is uvicorn's
httptools protocol with both bounds: the header block of every request must be complete within
``limits.header_timeout_s`` of its first byte (or of the connection's start) and within
``limits.max_header_bytes``; otherwise the client gets a JSON 408 or 431 and the connection is
closed. The body has its own deadline in the app (``limits.body_timeout_s``, 408).

With ``metrics.listen`` the Prometheus text is served on that address only, by a second
server in the same event loop (``MetricsApp``), and the gateway's port has no ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kastell.guard._asgi import Receive, Scope, Send, error_body, send_error
from kastell.guard.app import GuardApp
from kastell.guard.config import GuardConfig, LimitSettings

__all__ = ["GuardHttpProtocol", "MetricsApp", "protocol_for", "serve_gateway", "server_config"]


def _refusal(status: int, reason: str, message: str, code: str) -> bytes:
    body = json.dumps(error_body(message, "invalid_request_error", code)).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size cap on each request's headers."""

    header_timeout_s: float = 10.0
    max_header_bytes: int = 65_536

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._awaiting_head = True

    def _arm(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _refuse(self, response: bytes) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(response)
            self.transport.close()

    def _too_slow(self) -> None:
        self._head_deadline = None
        if self._awaiting_head:
            message = f"The request headers did not arrive within {self.header_timeout_s:g} s."
            self._refuse(_refusal(408, "Request Timeout", message, "request_timeout"))

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline with the connection."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Count header bytes before handing them to llhttp."""
        if self._awaiting_head:
            self._arm()  # a keep-alive connection's next request starts its own deadline
            self._head_bytes += len(data)
            if self._head_bytes > self.max_header_bytes:
                message = f"The request headers are over {self.max_header_bytes} bytes."
                self._refuse(_refusal(431, "Request Header Fields Too Large", message,
                                      "headers_too_large"))  # fmt: skip
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        """The head is complete: stop its deadline; the app bounds the body."""
        self._awaiting_head = False
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """The next request on this connection starts with a fresh header budget."""
        self._awaiting_head, self._head_bytes = True, 0
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)


def protocol_for(limits: LimitSettings) -> type[GuardHttpProtocol]:
    """``GuardHttpProtocol`` with the config's header deadline and size cap."""
    return type(
        "ConfiguredGuardHttpProtocol",
        (GuardHttpProtocol,),
        {"header_timeout_s": limits.header_timeout_s, "max_header_bytes": limits.max_header_bytes},
    )


def server_config(app: Any, config: GuardConfig, *, host: str, port: int, loop: str) -> Any:
    """The uvicorn config the gateway is served with (the CLI and the tests use it)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=1,
        loop=loop,
        http=protocol_for(config.limits),
        ws="none",
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


class MetricsApp:
    """The ``/metrics`` listener: Prometheus text of a running gateway, nothing else."""

    def __init__(self, gateway: GuardApp) -> None:
        self._gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point (HTTP only)."""
        if scope["type"] != "http":
            return
        if scope["path"] != "/metrics" or scope["method"] != "GET":
            await send_error(send, 404, "only GET /metrics here", "invalid_request_error")
            return
        body = self._gateway.runtime.metrics.render().encode()
        headers = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class _Companion(uvicorn.Server):
    """A second server in the gateway's loop: the main server handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_gateway(app: GuardApp, config: GuardConfig, *, host: str, port: int, loop: str) -> bool:
    """Serve until stopped (SIGTERM/SIGINT); return whether the gateway started."""
    main = uvicorn.Server(server_config(app, config, host=host, port=port, loop=loop))
    if config.metrics.listen is None:
        main.run()
        return bool(main.started)
    metrics_host, _, metrics_port = config.metrics.listen.rpartition(":")
    companion = _Companion(
        uvicorn.Config(
            MetricsApp(app),
            host=metrics_host.strip("[]"),
            port=int(metrics_port),
            loop=loop,
            http=protocol_for(config.limits),
            ws="none",
            lifespan="off",
            log_level="warning",
            access_log=False,
        )
    )

    async def both() -> None:
        side = asyncio.create_task(companion.serve())
        try:
            await main.serve()
        finally:
            companion.should_exit = True
            await side

    with asyncio.Runner(loop_factory=main.config.get_loop_factory()) as runner:
        runner.run(both())
    return bool(main.started)
