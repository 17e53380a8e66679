"""A lean HTTP/1.1 client on asyncio streams, shared by the guard gateway and red-team targets.

Why not httpx: a general-purpose client spends milliseconds per request in pool bookkeeping
(measured in benchmarks/bench_guard.py and bench_redteam.py), which is the whole latency budget
of the gateway and most of a red-team campaign's time against a fast endpoint. This client does
only what an OpenAI-compatible endpoint needs: keep-alive connection pool, one write per request
with TCP_NODELAY, Content-Length, chunked or close-delimited bodies, streamed bodies for SSE,
HTTPS, and timeouts. No proxies, redirects or cookies.

Responses are parsed by ``httptools`` (llhttp, the parser uvicorn trusts for requests), never by
hand. Every response is bounded: the header block by ``max_header_bytes``, the body by
``max_body_bytes`` whatever its shape (Content-Length, chunked, or delimited by the close of the
connection; a streamed body counts as a whole). Anything malformed, oversized or cut short is an
``HttpError`` (a caller may pass its own subclasses, e.g. the guard's ``UpstreamError``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import ssl
import urllib.parse
from collections.abc import AsyncIterator

import httptools

from kastell.errors import CheckError

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_HEADER_BYTES",
    "Http1Pool",
    "HttpError",
    "HttpTimeoutError",
    "Response",
]

DEFAULT_MAX_HEADER_BYTES = 64 * 1024
"""Largest response header block (status line, headers, and a chunked body's trailers)."""
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
"""Largest response body, whatever its framing."""
_READ = 65536


class HttpError(CheckError):
    """An HTTP exchange failed: unreachable, closed early, malformed or oversized response."""

    default_hint = "Check that the server is running, reachable and speaks HTTP/1.1."


class HttpTimeoutError(HttpError):
    """The server did not accept the connection or answer within the timeout."""

    default_hint = "Raise the timeout, or check the server's load."


@dataclasses.dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    reused: bool = False

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError):
            self.writer.close()


@dataclasses.dataclass
class Response:
    """Status, lower-cased headers and (for non-streamed requests) the body."""

    status: int
    headers: dict[str, str]
    body: bytes = b""
    pieces: list[bytes] = dataclasses.field(default_factory=list)
    """The body as received, when the caller asked not to join it (``join=False``)."""


class _ClosedEarly(Exception):  # noqa: N818 - internal, always mapped to the pool's error
    """The server closed the connection before the response was complete."""


class _ResponseParser:
    """One response read through llhttp (``httptools``), bounded in header and body bytes.

    The callbacks (``on_*``) are llhttp's; everything else is read by the pool. Interim 1xx
    responses are skipped. Bytes after the end of the response (a server that sends more than
    it framed) make the connection unfit for reuse.
    """

    def __init__(self, max_header: int, max_body: int, error: type[HttpError]) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._max_header = max_header
        self._max_body = max_body
        self._error = error
        self.received = 0
        self._head_bytes = 0
        self._body_bytes = 0
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.done = False
        self.keep_alive = False
        self._overrun = False
        self._pieces: list[bytes] = []

    # llhttp callbacks
    def on_message_begin(self) -> None:
        if self.done:
            self._overrun = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.done:
            return
        key, text = name.decode("latin-1").lower(), value.decode("latin-1").strip()
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        if not self.done:
            self.status = self._parser.get_status_code()
            self.head_done = True

    def on_body(self, body: bytes) -> None:
        if self.done:
            self._overrun = True
            return
        self._body_bytes += len(body)
        if self._body_bytes <= self._max_body:
            self._pieces.append(bytes(body))

    def on_message_complete(self) -> None:
        if self.done:
            return
        if 100 <= self.status < 200:  # an interim response: the real one follows
            self.head_done, self.headers, self._head_bytes, self.status = False, {}, 0, 0
            return
        self.done = True
        self.keep_alive = self._parser.should_keep_alive()

    # reading
    @property
    def reusable(self) -> bool:
        """Whether the connection may carry the next request."""
        return self.done and self.keep_alive and not self._overrun

    def _feed(self, data: bytes) -> None:
        self.received += len(data)
        if not self.head_done:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            raise self._error("upstream switched protocols") from None
        except httptools.HttpParserError as error:
            if self.done:  # garbage after a complete response: it stands, the connection goes
                self._overrun = True
                return
            where = "status line" if self.status == 0 and not self.headers else "response"
            raise self._error(f"upstream sent a malformed {where}: {error}") from None
        if not self.head_done and self._head_bytes > self._max_header:
            raise self._error(f"upstream response headers are over {self._max_header} bytes")
        if self._body_bytes > self._max_body:
            raise self._error(f"upstream response body is over {self._max_body} bytes")

    @property
    def _framed(self) -> bool:
        """The body's end is declared (length, chunks), not the close of the connection."""
        encoding = self.headers.get("transfer-encoding", "").lower()
        return "content-length" in self.headers or "chunked" in encoding

    def _eof(self) -> None:
        """The server closed the connection: the end of a close-delimited body, or an error."""
        if not self.head_done:
            raise _ClosedEarly("closed before the response head was complete")
        if self.done:
            return
        if self._framed:
            raise _ClosedEarly("closed in the middle of the response body")
        self.done, self.keep_alive = True, False

    async def read_head(self, reader: asyncio.StreamReader) -> None:
        """Read until the response head is complete."""
        while not self.head_done:
            data = await reader.read(_READ)
            if not data:
                self._eof()
            self._feed(data)

    async def body(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        """The body's pieces as they arrive (de-chunked), until the response is complete."""
        while True:
            pieces, self._pieces = self._pieces, []
            for piece in pieces:
                yield piece
            if self.done:
                return
            data = await reader.read(_READ)
            if data:
                self._feed(data)
            else:
                self._eof()

    def response(self) -> Response:
        """The status and headers (``connection: close`` when the body ends with the close)."""
        headers = dict(self.headers)
        if (self.done and not self.keep_alive) or not (self.done or self._framed):
            headers["connection"] = "close"
        return Response(self.status, headers)


class Http1Pool:
    """Keep-alive connections to one origin (``http://host:port`` or ``https://...``)."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float,
        timeout_s: float,
        max_connections: int,
        error: type[HttpError] = HttpError,
        timeout_error: type[HttpTimeoutError] = HttpTimeoutError,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
    ) -> None:
        self._max_body = max_body_bytes
        self._max_header = max_header_bytes
        self._error = error
        self._timeout_error = timeout_error
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise error(f"unsupported upstream URL {base_url!r}")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self.host_header = url.netloc.rsplit("@", 1)[-1]
        self._ssl = ssl.create_default_context() if url.scheme == "https" else None
        self.connect_timeout_s = connect_timeout_s
        self.timeout_s = timeout_s
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def _connect(self) -> _Conn:
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                reader, writer = await asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl else None,
                )
        except TimeoutError:
            raise self._timeout_error(
                f"could not connect to {self.host}:{self.port} within {self.connect_timeout_s:g} s"
            ) from None
        except OSError as error:
            raise self._error(f"upstream unreachable at {self.host}:{self.port}: {error}") from None
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Conn(reader, writer)

    def _request_bytes(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        lines = [f"{method} {self.prefix}{path} HTTP/1.1", f"host: {self.host_header}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"content-length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def _send(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[_Conn, _ResponseParser]:
        payload = self._request_bytes(method, path, headers, body)
        for attempt in (0, 1):
            conn = self._idle.pop() if self._idle and attempt == 0 else await self._connect()
            parser = _ResponseParser(self._max_header, self._max_body, self._error)
            try:
                conn.writer.write(payload)
                await conn.writer.drain()
                await parser.read_head(conn.reader)
            except (ConnectionError, _ClosedEarly) as error:
                conn.close()
                if attempt == 0 and parser.received == 0:
                    # closed before any response byte (an idle connection the upstream dropped,
                    # or a connection it refused to serve): retry once on a fresh connection
                    continue
                raise self._error(f"upstream closed the connection: {error!r}") from None
            except BaseException:
                conn.close()  # timeout, cancellation, malformed head: never reuse or leak it
                raise
            return conn, parser
        raise self._error("upstream closed the connection twice")  # pragma: no cover

    def _release(self, conn: _Conn, parser: _ResponseParser) -> None:
        if not parser.reusable:
            conn.close()
            return
        conn.reused = True
        self._idle.append(conn)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes, *, join: bool = True
    ) -> Response:
        """Send a request and read the whole response (within ``timeout_s``).

        With ``join=False`` the body is left in ``Response.pieces`` as received: joining a
        large body is one long copy on the event loop, which a caller may do elsewhere.
        """
        async with self._slots:
            conn: _Conn | None = None
            try:
                async with asyncio.timeout(self.timeout_s):
                    conn, parser = await self._send(method, path, headers, body)
                    pieces = [piece async for piece in parser.body(conn.reader)]
            except TimeoutError:
                if conn is not None:
                    conn.close()
                raise self._timeout_error(
                    f"upstream did not answer within {self.timeout_s:g} s"
                ) from None
            except (ConnectionError, _ClosedEarly) as error:
                if conn is not None:
                    conn.close()
                raise self._error(f"upstream broke off the response: {error!r}") from None
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            head = parser.response()
            if join:
                head.body = b"".join(pieces)
            else:
                head.pieces = pieces
            self._release(conn, parser)
            return head

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> AsyncIterator[tuple[Response, AsyncIterator[bytes]]]:
        """Send a request; yield the head and an iterator of body lines (each read timed)."""
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout_s):
                    conn, parser = await self._send(method, path, headers, body)
            except TimeoutError:
                raise self._timeout_error(
                    f"upstream did not answer within {self.timeout_s:g} s"
                ) from None
            finished = False

            async def lines() -> AsyncIterator[bytes]:
                nonlocal finished
                buffer = b""
                chunks = parser.body(conn.reader).__aiter__()
                while True:
                    try:
                        async with asyncio.timeout(self.timeout_s):
                            piece = await anext(chunks, None)
                    except TimeoutError:
                        raise self._timeout_error(
                            f"upstream stream stalled for {self.timeout_s:g} s"
                        ) from None
                    except (ConnectionError, _ClosedEarly) as error:
                        raise self._error(f"upstream stream broke: {error!r}") from None
                    if piece is None:
                        finished = True
                        if buffer:
                            yield buffer
                        return
                    buffer += piece
                    *complete, buffer = buffer.split(b"\n")
                    for line in complete:
                        yield line.rstrip(b"\r")

            try:
                yield parser.response(), lines()
            finally:
                if finished:
                    self._release(conn, parser)
                else:
                    conn.close()

    async def aclose(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()
