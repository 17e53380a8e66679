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
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import multiprocessing
from collections.abc import Callable
from typing import Any, TypeVar

from kastell.guard import _records as rec
from kastell.guard.answer_screen import screen_completion
from kastell.guard.answer_shape import (
    AnswerShapeError,
    UnknownAnswerFields,
    check_answer,
    remove,
    unknown_texts,
)
from kastell.guard.config import GuardConfig
from kastell.guard.interface import Action, Detection, Direction, ScanContext
from kastell.guard.pipeline import Screener
from kastell.guard.request_body import ChatRequest
from kastell.guard.request_screen import RequestVerdict
from kastell.guard.request_screen import screen_request as _screen_request
from kastell.types import Digest

__all__ = ["ScreenedAnswer", "ScreeningPool", "screen_answer"]

_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True)
class ScreenedAnswer:
    """A non-streamed answer, checked and screened: what to send and what to record."""

    body: bytes
    """The JSON to send (blocked choices withheld, redactions applied)."""
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
        audit_texts=tuple(rec.audit_copy(text) for text in screened.sent_texts),
        details=details,
        digest=rec.sha256_digest(body),
    )


_SCREENERS: dict[str, Screener] = {}
"""In a worker process: the tenants' screeners (built by ``_start_worker``)."""


def _start_worker(config: GuardConfig) -> None:
    from kastell.guard.runtime import build_screeners

    _SCREENERS.update(build_screeners(config))


def _answer_job(
    tenant: str, context: ScanContext, raw: bytes, unknown: UnknownAnswerFields
) -> ScreenedAnswer:
    return screen_answer(_SCREENERS[tenant], context, raw, unknown)


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

    async def _run(self, job: Callable[..., _T], *args: Any) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool(), job, *args)
        except concurrent.futures.BrokenExecutor:
            self.close()  # a worker died (killed, out of memory): the next job gets a new pool
            raise

    async def answer(
        self,
        screener: Screener,
        tenant: str,
        context: ScanContext,
        raw: bytes,
        unknown: UnknownAnswerFields,
    ) -> ScreenedAnswer:
        """Screen an answer: inline if small, else in a worker."""
        if len(raw) <= self.inline_bytes:
            return screen_answer(screener, context, raw, unknown)
        return await self._run(_answer_job, tenant, context, raw, unknown)

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
