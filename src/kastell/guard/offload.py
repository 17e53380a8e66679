"""CPU-heavy screening off the event loop: a bounded pool of worker processes.

Screening is pure Python and regular expressions; one large text keeps a CPU busy for seconds,
and a single regular-expression call holds the interpreter lock for all of it, so a thread
would still stall every other tenant's requests (and ``/healthz``). Requests and answers over
``limits.inline_screen_bytes`` are therefore parsed, checked, screened and serialised in a
worker process (``limits.screening_workers`` of them, started on first use, each holding the
tenants' screeners built from the same config); smaller ones are screened inline, where the
hop to a process would cost more than the screening (docs/benchmarks.md).

The same functions run inline and in the workers (``screen_answer``, ``screen_request``), so
a verdict never depends on where it was computed.

A large answer never crosses the process boundary as one object: copying or pickling tens of
megabytes holds the interpreter lock for as long as it takes. It is written into shared memory
a megabyte at a time (the loop runs between the steps), and the screened answer comes back the
same way and is sent to the client in one-megabyte pieces (``send_answer``). The audit record
keeps at most ``AUDIT_TEXT_CHARS`` characters of each choice's text; its digest covers all of
what was sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import multiprocessing
from collections.abc import Callable, Sequence
from multiprocessing import shared_memory
from typing import Any, TypeVar

from kastell.guard import _records as rec
from kastell.guard._asgi import JSON_HEADERS, send_raw_json
from kastell.guard.answer_screen import screen_completion
from kastell.guard.answer_shape import (
    AnswerShapeError,
    UnknownAnswerFields,
    check_answer,
    remove,
    unknown_texts,
)
from kastell.guard.config import GuardConfig
from kastell.guard.interface import Action, Detection, Direction, GuardError, ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.request_body import ChatRequest
from kastell.guard.request_screen import RequestVerdict
from kastell.guard.request_screen import screen_request as _screen_request
from kastell.types import Digest

__all__ = [
    "AUDIT_TEXT_CHARS",
    "ScreenedAnswer",
    "ScreeningPool",
    "ScreeningUnavailableError",
    "screen_answer",
    "send_answer",
]

AUDIT_TEXT_CHARS = 65_536
"""Characters of each choice's sent text kept (redacted) in the audit record."""
_STEP = 1 << 20
"""Bytes copied (or sent) between two turns of the event loop."""

_T = TypeVar("_T")


class ScreeningUnavailableError(GuardError):
    """A screening worker died or the pool was stopped: the exchange fails closed (503)."""

    default_hint = "Check the gateway's memory and CPU limits; it restarts the workers itself."


@dataclasses.dataclass(frozen=True)
class ScreenedAnswer:
    """A non-streamed answer, checked and screened: what to send and what to record."""

    body: bytes
    """The JSON to send (blocked choices withheld, redactions applied); empty if ``shared``."""
    choices: tuple[tuple[Action, tuple[Detection, ...]], ...]
    """The action and detections of every screened choice."""
    unknown: tuple[Action, tuple[Detection, ...]]
    """The verdict on the unknown fields screened under the ``screen`` policy."""
    audit_texts: tuple[str, ...]
    """Per choice sent, its texts and tool calls with personal data and secrets removed."""
    details: dict[str, str]
    digest: Digest
    """SHA-256 of ``body``."""
    error: str | None = None
    """Why the answer is not a well-formed chat completion (then nothing else is set)."""
    shared: tuple[str, int] | None = None
    """(name, size) of the shared memory holding the body (large answers from a worker)."""


def _failed(why: str) -> ScreenedAnswer:
    return ScreenedAnswer(b"", (), (Action.ALLOW, ()), (), {}, rec.sha256_digest(b""), why)


def screen_answer(
    screener: Screener, context: ScanContext, raw: bytes, unknown: UnknownAnswerFields
) -> ScreenedAnswer:
    """Parse, check (``answer_shape``) and screen a non-streamed answer."""
    try:
        answer = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _failed(f"upstream sent invalid JSON: {raw[:200]!r}")
    try:
        fields, dropped = check_answer(answer, unknown)
    except AnswerShapeError as error:
        return _failed(error.message)
    unknown_verdict: tuple[Action, tuple[Detection, ...]] = (Action.ALLOW, ())
    if fields and unknown == "screen":
        joined = screener.screen_joined(unknown_texts(fields), Direction.OUTPUT, context)
        unknown_verdict = (joined.action, joined.detections)
        if joined.action >= Action.REDACT:
            dropped += remove(answer, fields)
    elif fields:
        dropped += remove(answer, fields)
    screened = screen_completion(screener, context, answer)
    details = screened.details()
    if dropped:
        names = sorted({*details.get("dropped_fields", "").split(","), *dropped} - {""})
        details["dropped_fields"] = ",".join(names)
    body = json.dumps(screened.answer, separators=(",", ":")).encode("utf-8", "surrogatepass")
    return ScreenedAnswer(
        body=body,
        choices=tuple((c.action, c.detections) for c in screened.choices),
        unknown=unknown_verdict,
        audit_texts=tuple(rec.audit_copy(_capped(text)) for text in screened.sent_texts),
        details=details,
        digest=rec.sha256_digest(body),
    )


def _capped(text: str) -> str:
    if len(text) <= AUDIT_TEXT_CHARS:
        return text
    return f"{text[:AUDIT_TEXT_CHARS]}[... {len(text) - AUDIT_TEXT_CHARS} characters not kept]"


_SCREENERS: dict[str, Screener] = {}
"""In a worker process: the tenants' screeners (built by ``_start_worker``)."""


def _start_worker(config: GuardConfig) -> None:
    from kastell.guard.runtime import build_screeners

    _SCREENERS.update(build_screeners(config))


def _answer_job(
    tenant: str, context: ScanContext, name: str, size: int, unknown: UnknownAnswerFields
) -> ScreenedAnswer:
    memory = shared_memory.SharedMemory(name)
    try:
        raw = bytes(_view(memory)[:size])
    finally:
        memory.close()
    answer = screen_answer(_SCREENERS[tenant], context, raw, unknown)
    if answer.error is not None or not answer.body:
        return answer
    out = shared_memory.SharedMemory(create=True, size=len(answer.body))
    try:
        _view(out)[: len(answer.body)] = answer.body
    finally:
        out.close()
    return dataclasses.replace(answer, body=b"", shared=(out.name, len(answer.body)))


def _view(memory: shared_memory.SharedMemory) -> memoryview:
    view = memory.buf
    if view is None:  # pragma: no cover - only after close()
        raise ScreeningUnavailableError("shared memory closed")
    return view


async def _to_shared(pieces: Sequence[bytes], size: int) -> shared_memory.SharedMemory:
    """The pieces written into new shared memory, yielding to the loop after each megabyte."""
    memory = shared_memory.SharedMemory(create=True, size=max(size, 1))
    try:
        at = since = 0
        for piece in pieces:
            _view(memory)[at : at + len(piece)] = piece
            at += len(piece)
            since += len(piece)
            if since >= _STEP:
                since = 0
                await asyncio.sleep(0)
    except BaseException:
        memory.close()
        memory.unlink()
        raise
    return memory


async def send_answer(send: Any, answer: ScreenedAnswer) -> None:
    """Send a screened answer (200); a shared one in one-megabyte pieces, then release it."""
    if answer.shared is None:
        await send_raw_json(send, 200, answer.body)
        return
    name, size = answer.shared
    memory = shared_memory.SharedMemory(name)
    try:
        headers = [*JSON_HEADERS, (b"content-length", str(size).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for at in range(0, size, _STEP):
            piece = bytes(_view(memory)[at : min(at + _STEP, size)])
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        memory.close()
        memory.unlink()


def _ready() -> bool:
    return bool(_SCREENERS)


def _request_job(tenant: str, request: ChatRequest) -> RequestVerdict:
    return _screen_request(_SCREENERS[tenant], request)


class ScreeningPool:
    """Runs screening inline for small inputs, in a bounded process pool for large ones."""

    def __init__(self, config: GuardConfig) -> None:
        self._config = config
        self.inline_bytes = config.limits.inline_screen_bytes
        self._workers = config.limits.screening_workers
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None

    def _pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=self._workers,
                # spawn: never fork a process whose other threads hold locks
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self._config,),
            )
        return self._executor

    def warm(self) -> None:
        """Start the workers now (``kastell guard serve`` does at start-up), not on first use."""
        pool = self._pool()
        for _ in range(self._workers):
            pool.submit(_ready)

    async def _run(self, job: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool(), job, *args)
        except concurrent.futures.BrokenExecutor:
            self.close()  # a worker died (killed, out of memory): the next job gets a new pool
            raise ScreeningUnavailableError("a screening worker stopped") from None

    async def answer(
        self,
        screener: Screener,
        tenant: str,
        context: ScanContext,
        pieces: Sequence[bytes],
        unknown: UnknownAnswerFields,
    ) -> ScreenedAnswer:
        """Screen an answer: inline if small, else in a worker (see the module docstring)."""
        size = sum(len(piece) for piece in pieces)
        if size <= self.inline_bytes:
            return screen_answer(screener, context, b"".join(pieces), unknown)
        memory = await _to_shared(pieces, size)
        try:
            return await self._run(_answer_job, tenant, context, memory.name, size, unknown)
        finally:
            memory.close()
            memory.unlink()

    async def request(
        self, screener: Screener, tenant: str, request: ChatRequest
    ) -> RequestVerdict:
        """Screen a request: inline if small, else in a worker."""
        if request.size <= self.inline_bytes:
            return _screen_request(screener, request)
        return await self._run(_request_job, tenant, request)

    def close(self) -> None:
        """Stop the workers at once, abandoning jobs in progress (the gateway is stopping)."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # ProcessPoolExecutor has no public way to stop a running job before Python 3.14
        for process in list(getattr(executor, "_processes", {}).values()):
            process.terminate()
        executor.shutdown(wait=False, cancel_futures=True)
