"""Audit records of refused requests (401, 429) that a flood cannot turn into the bottleneck.

Every refused request is counted in ``/metrics``. In the audit log, refusals are grouped by
*source*: the client address for a missing or unknown API key (an IPv6 client by its /64,
which one host usually holds whole), the tenant for a rate-limit refusal. Per source, a window
of ``window_s`` seconds opens with its first refusal:

- the first ``per_source`` refusals of the window get one record each, committed before the
  response is sent (the rule of the log); the last of them says, in
  ``details.coalesced_until``, that further refusals of the source are summarised until then;
- further refusals are answered at once and only counted; once the window has ended, one
  summary record (``details.coalesced: true``, ``count``) is written by the next refusal of the
  source, by a background task, or on shutdown.

So every refused response is covered by its own durable record or by a durable record,
written before it was sent, that announced the summary. If the process dies, the count of a
window not summarised yet is lost (``/metrics`` had it). A summary the log could not take is
merged into the next one. At most ``max_sources`` sources are tracked at once; refusals of
further sources share the source ``*`` until tracked windows end. The state is per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import enum
import ipaddress
import time
from collections.abc import Callable, Sequence

from kastell.audit.codec import format_time
from kastell.audit.interface import AuditError, AuditEvent, Clock, EventType, utc_now
from kastell.guard import _records as rec
from kastell.guard.interface import Action, AuditSink
from kastell.types import Severity

__all__ = [
    "OVERFLOW_SOURCE",
    "Admission",
    "Admitted",
    "Refusal",
    "RefusalCoalescer",
    "RefusalRecorder",
    "RefusalSummary",
    "client_source",
    "refusal_event",
    "summary_event",
]

OVERFLOW_SOURCE = "*"
"""The shared source of refusals that arrive while ``max_sources`` sources are tracked."""

_KEPT_KEYS = 8
_REASONS = {
    "missing_key": "no API key",
    "not_bearer": "credentials that are not a Bearer API key",
    "unknown_key": "an unknown API key",
}
_RULES = {
    EventType.AUTH_FAILURE: "guard.auth.invalid_api_key",
    EventType.RATE_LIMITED: "guard.rate_limit",
}


class Admission(enum.Enum):
    """What to do with one refused request."""

    RECORD = "record"
    """Write its own record before responding."""
    RECORD_LAST = "record_last"
    """Write its own record, saying the rest of the window is summarised, before responding."""
    COUNT = "count"
    """Respond at once; it is counted in the window's summary record."""


@dataclasses.dataclass(frozen=True)
class Refusal:
    """One refused request, as the audit log may see it (never the presented key)."""

    kind: EventType
    """``auth_failure`` (401) or ``rate_limited`` (429)."""
    source: str
    request_id: str
    path: str
    reason: str
    """``missing_key``, ``not_bearer``, ``unknown_key`` or ``rate_limit``."""
    tenant: str | None = None
    client: str | None = None
    key_sha256: str | None = None
    """Short SHA-256 prefix of the presented key (``_records.key_fingerprint``)."""
    retry_after_s: int | None = None


@dataclasses.dataclass(frozen=True)
class RefusalSummary:
    """The refusals of one source in one window that got no record of their own."""

    kind: EventType
    source: str
    count: int
    window_start: dt.datetime
    window_s: int
    tenant: str | None = None
    key_sha256: tuple[str, ...] = ()
    """Distinct key fingerprints seen (at most eight)."""
    more_keys: bool = False
    retry_after_s: int | None = None


@dataclasses.dataclass(frozen=True)
class Admitted:
    """The coalescer's answer for one refusal."""

    admission: Admission
    coalesced_until: dt.datetime
    """When the window of the refusal's source ends (UTC)."""
    closed: tuple[RefusalSummary, ...] = ()
    """Summaries of windows that ended meanwhile (write them first)."""


@dataclasses.dataclass
class _Window:
    started: float
    started_at: dt.datetime
    tenant: str | None
    recorded: int = 0
    counted: int = 0
    keys: dict[str, None] = dataclasses.field(default_factory=dict)
    more_keys: bool = False
    retry_after_s: int | None = None

    def remember(self, key: str | None) -> None:
        if key is None or key in self.keys:
            return
        if len(self.keys) < _KEPT_KEYS:
            self.keys[key] = None
        else:
            self.more_keys = True


def client_source(host: str | None) -> str:
    """The coalescing source of a client address: the address, or its /64 for IPv6."""
    if not host:
        return "-"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


class RefusalCoalescer:
    """Decides, per source and window, which refusals get a record (pure: no I/O)."""

    def __init__(
        self,
        *,
        window_s: int,
        per_source: int,
        max_sources: int,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Clock = utc_now,
    ) -> None:
        self.window_s = window_s
        self.per_source = per_source
        self.max_sources = max_sources
        self._clock = clock
        self._wall = wall_clock
        self._windows: dict[tuple[EventType, str], _Window] = {}

    def admit(self, refusal: Refusal) -> Admitted:
        """Admit one refusal: record it, or count it for its window's summary."""
        now = self._clock()
        closed: list[RefusalSummary] = []
        key = (refusal.kind, refusal.source)
        window = self._windows.get(key)
        if window is not None and now >= window.started + self.window_s:
            closed += self._close(key, window)
            window = None
        if window is None:
            if len(self._windows) >= self.max_sources:
                closed += self.closed()
            if len(self._windows) >= self.max_sources:
                key = (refusal.kind, OVERFLOW_SOURCE)
            window = self._windows.get(key) or self._open(key, now, refusal.tenant)
        until = window.started_at + dt.timedelta(seconds=self.window_s)
        if window.recorded < self.per_source:
            window.recorded += 1
            last = window.recorded == self.per_source
            return Admitted(Admission.RECORD_LAST if last else Admission.RECORD, until, (*closed,))
        window.counted += 1
        window.retry_after_s = refusal.retry_after_s
        window.remember(refusal.key_sha256)
        return Admitted(Admission.COUNT, until, (*closed,))

    def closed(self) -> list[RefusalSummary]:
        """Forget the windows that have ended; return the summaries of those with counts."""
        now = self._clock()
        ended = [(k, w) for k, w in self._windows.items() if now >= w.started + self.window_s]
        return [summary for key, window in ended for summary in self._close(key, window)]

    def drain(self) -> list[RefusalSummary]:
        """Forget every window; return the summaries of those with counts (on shutdown)."""
        windows = list(self._windows.items())
        return [summary for key, window in windows for summary in self._close(key, window)]

    def next_close_in(self) -> float | None:
        """Seconds until the earliest window with counted refusals ends (None: there is none)."""
        ends = [w.started + self.window_s for w in self._windows.values() if w.counted]
        return max(0.0, min(ends) - self._clock()) if ends else None

    def restore(self, summary: RefusalSummary) -> None:
        """Merge the counts of a summary the log could not take into its source's window."""
        key = (summary.kind, summary.source)
        window = self._windows.get(key) or self._open(key, self._clock(), summary.tenant)
        window.started_at = min(window.started_at, summary.window_start)
        window.counted += summary.count
        window.more_keys = window.more_keys or summary.more_keys
        if window.retry_after_s is None:
            window.retry_after_s = summary.retry_after_s
        for fingerprint in summary.key_sha256:
            window.remember(fingerprint)

    def _open(self, key: tuple[EventType, str], now: float, tenant: str | None) -> _Window:
        window = _Window(started=now, started_at=self._wall(), tenant=tenant)
        self._windows[key] = window
        return window

    def _close(self, key: tuple[EventType, str], window: _Window) -> list[RefusalSummary]:
        del self._windows[key]
        if not window.counted:
            return []
        return [
            RefusalSummary(
                kind=key[0],
                source=key[1],
                count=window.counted,
                window_start=window.started_at,
                window_s=self.window_s,
                tenant=window.tenant if key[1] != OVERFLOW_SOURCE else None,
                key_sha256=tuple(window.keys),
                more_keys=window.more_keys,
                retry_after_s=window.retry_after_s,
            )
        ]


def refusal_event(
    refusal: Refusal, admission: Admission, coalesced_until: dt.datetime
) -> AuditEvent:
    """The record of one refused request (``auth_failure`` or ``rate_limited``)."""
    details: dict[str, str | int | bool | None] = {
        "reason": refusal.reason,
        "source": refusal.source,
        "client": refusal.client,
        "path": refusal.path,
    }
    if refusal.key_sha256 is not None:
        details["key_sha256_prefix"] = refusal.key_sha256
    if refusal.retry_after_s is not None:
        details["retry_after_s"] = refusal.retry_after_s
    if admission is Admission.RECORD_LAST:
        details["coalesced_until"] = format_time(coalesced_until)
    auth = refusal.kind is EventType.AUTH_FAILURE
    message = (
        f"refused: {_REASONS.get(refusal.reason, refusal.reason)}"
        if auth
        else f"rate limit of tenant {refusal.tenant} reached; retry after {refusal.retry_after_s} s"
    )
    return rec.event(
        refusal.kind,
        tenant=refusal.tenant,
        request_id=refusal.request_id,
        action=Action.BLOCK,
        rules=[_RULES[refusal.kind]],
        severity=Severity.LOW,
        status=401 if auth else 429,
        message=message,
        details=details,
    )


def summary_event(summary: RefusalSummary) -> AuditEvent:
    """The record of the refusals of one source and window that got no record of their own."""
    auth = summary.kind is EventType.AUTH_FAILURE
    details: dict[str, str | int | bool | None] = {
        "coalesced": True,
        "count": summary.count,
        "source": summary.source,
        "window_s": summary.window_s,
    }
    if summary.key_sha256:
        details["key_sha256_prefixes"] = ",".join(summary.key_sha256)
        details["more_keys"] = summary.more_keys
    if summary.retry_after_s is not None:
        details["retry_after_s"] = summary.retry_after_s
    what = "missing or unknown API key" if auth else "rate limit"
    return rec.event(
        summary.kind,
        tenant=summary.tenant,
        request_id=None,
        action=Action.BLOCK,
        rules=[_RULES[summary.kind]],
        severity=Severity.MEDIUM if auth else Severity.LOW,
        status=401 if auth else 429,
        occurred_at=summary.window_start,
        message=f"{summary.count} further refused request(s) ({what}) from {summary.source} "
        f"in the {summary.window_s} s window summarised",
        details=details,
    )


class RefusalRecorder:
    """Writes refused requests to the audit log as the coalescer decides (I/O side)."""

    def __init__(self, coalescer: RefusalCoalescer, sink: AuditSink | None) -> None:
        self.coalescer = coalescer
        self._sink = sink
        self._flusher: asyncio.Task[None] | None = None

    async def refused(self, refusal: Refusal) -> None:
        """Audit one refusal; returns once its record (if it gets one) is durable.

        Raises:
            AuditError: the log did not take a record (the caller answers 503, fail closed).
        """
        if self._sink is None:
            return
        admitted = self.coalescer.admit(refusal)
        await self._write(self._sink, admitted.closed)
        if admitted.admission is Admission.COUNT:
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.get_running_loop().create_task(self._flush_when_due())
            return
        event = refusal_event(refusal, admitted.admission, admitted.coalesced_until)
        await self._sink.record(event)

    async def _write(self, sink: AuditSink, summaries: Sequence[RefusalSummary]) -> None:
        for index, summary in enumerate(summaries):
            try:
                await sink.record(summary_event(summary))
            except AuditError:
                for unwritten in summaries[index:]:
                    self.coalescer.restore(unwritten)
                raise

    async def _flush_when_due(self) -> None:
        while self._sink is not None and (wait := self.coalescer.next_close_in()) is not None:
            await asyncio.sleep(wait)
            try:
                await self._write(self._sink, self.coalescer.closed())
            except AuditError:
                return  # kept: the next refusal or the shutdown writes them

    async def aclose(self) -> None:
        """Stop the background task and write every pending summary (before the log closes)."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._sink is not None:
            await self._write(self._sink, self.coalescer.drain())
