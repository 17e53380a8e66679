"""A lean HTTP/1.1 client on asyncio streams, shared by the guard gateway and red-team targets.

Why not httpx: a general-purpose client spends milliseconds per request in pool bookkeeping
(measured in benchmarks/bench_guard.py and bench_redteam.py), which is the whole latency budget
of the gateway and most of a red-team campaign's time against a fast endpoint. This client does
only what an OpenAI-compatible endpoint needs: keep-alive connection pool, one write per request
with TCP_NODELAY, Content-Length, chunked or close-delimited bodies, streamed bodies for SSE,
HTTPS, and timeouts. No proxies, redirects or cookies. Anything it cannot parse is an
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

from kastell.errors import CheckError

__all__ = ["Http1Pool", "HttpError", "HttpTimeoutError", "Response"]

_MAX_HEADER = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024


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
    ) -> None:
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
                    limit=_MAX_HEADER,
                )
        except TimeoutError:
            raise self._timeout_error(
                f"could not connect to {self.host}:{self.port} within {self.connect_timeout_s:g} s"
            ) from None
        except OSError as error:
            raise self._error(
                f"upstream unreachable at {self.host}:{self.port}: {error}"
            ) from None
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
    ) -> tuple[_Conn, Response]:
        payload = self._request_bytes(method, path, headers, body)
        for attempt in (0, 1):
            conn = self._idle.pop() if self._idle and attempt == 0 else await self._connect()
            try:
                conn.writer.write(payload)
                await conn.writer.drain()
                head = await self._read_head(conn)
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                conn.close()
                nothing_read = not getattr(error, "partial", b"")
                if attempt == 0 and nothing_read:
                    # closed before any response byte (an idle connection the upstream dropped,
                    # or a connection it refused to serve): retry once on a fresh connection
                    continue
                raise self._error(f"upstream closed the connection: {error!r}") from None
            except BaseException:
                conn.close()  # timeout, cancellation, malformed head: never reuse or leak it
                raise
            return conn, head
        raise self._error("upstream closed the connection twice")  # pragma: no cover

    async def _read_head(self, conn: _Conn) -> Response:
        try:
            raw = await conn.reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise self._error("upstream response headers are too large") from None
        lines = raw.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise self._error(f"upstream sent a malformed status line {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return Response(int(parts[1]), headers)

    async def _body_chunks(self, conn: _Conn, head: Response) -> AsyncIterator[bytes]:
        reader = conn.reader
        if "chunked" in head.headers.get("transfer-encoding", "").lower():
            while True:
                try:
                    size_line = await reader.readuntil(b"\r\n")
                except asyncio.LimitOverrunError:
                    raise self._error("upstream sent an oversized chunk header") from None
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise self._error("upstream sent a malformed chunk size") from None
                if size == 0:
                    try:
                        while (await reader.readuntil(b"\r\n")) != b"\r\n":
                            pass  # trailers
                    except asyncio.LimitOverrunError:
                        raise self._error("upstream sent oversized trailers") from None
                    return
                data = await reader.readexactly(size + 2)
                yield data[:-2]
        elif "content-length" in head.headers:
            try:
                remaining = int(head.headers["content-length"])
            except ValueError:
                raise self._error("upstream sent a malformed Content-Length") from None
            if remaining > _MAX_BODY:
                raise self._error("upstream response body is too large")
            while remaining > 0:
                data = await reader.read(min(remaining, 65536))
                if not data:
                    raise self._error("upstream closed the connection mid-body")
                remaining -= len(data)
                yield data
        else:
            head.headers["connection"] = "close"
            while data := await reader.read(65536):
                yield data

    def _release(self, conn: _Conn, head: Response) -> None:
        if head.headers.get("connection", "").lower() == "close":
            conn.close()
            return
        conn.reused = True
        self._idle.append(conn)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Response:
        """Send a request and read the whole response (within ``timeout_s``)."""
        async with self._slots:
            conn: _Conn | None = None
            try:
                async with asyncio.timeout(self.timeout_s):
                    conn, head = await self._send(method, path, headers, body)
                    pieces = [piece async for piece in self._body_chunks(conn, head)]
            except TimeoutError:
                if conn is not None:
                    conn.close()
                raise self._timeout_error(
                    f"upstream did not answer within {self.timeout_s:g} s"
                ) from None
            except (ConnectionError, asyncio.IncompleteReadError) as error:
                if conn is not None:
                    conn.close()
                raise self._error(f"upstream broke off the response: {error!r}") from None
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            head.body = b"".join(pieces)
            self._release(conn, head)
            return head

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> AsyncIterator[tuple[Response, AsyncIterator[bytes]]]:
        """Send a request; yield the head and an iterator of body lines (each read timed)."""
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout_s):
                    conn, head = await self._send(method, path, headers, body)
            except TimeoutError:
                raise self._timeout_error(
                    f"upstream did not answer within {self.timeout_s:g} s"
                ) from None
            finished = False

            async def lines() -> AsyncIterator[bytes]:
                nonlocal finished
                buffer = b""
                chunks = self._body_chunks(conn, head).__aiter__()
                while True:
                    try:
                        async with asyncio.timeout(self.timeout_s):
                            piece = await anext(chunks, None)
                    except TimeoutError:
                        raise self._timeout_error(
                            f"upstream stream stalled for {self.timeout_s:g} s"
                        ) from None
                    except (ConnectionError, asyncio.IncompleteReadError) as error:
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
                yield head, lines()
            finally:
                if finished:
                    self._release(conn, head)
                else:
                    conn.close()

    async def aclose(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()
