"""Refused requests (401, 429) in the audit log: one record each, coalesced under a flood."""

from __future__ import annotations

import datetime as dt
import hashlib
import pathlib
import time

import httpx

from kastell.audit.interface import AuditRecord, EventType
from kastell.cli.main import main
from kastell.guard.keys import hash_api_key
from kastell.guard.refusals import (
    OVERFLOW_SOURCE,
    Admission,
    Refusal,
    RefusalCoalescer,
    client_source,
)

from ._servers import MockUpstream
from .conftest import KEY, Gateway, read_records

CHAT = {"model": "mock-gpt", "messages": [{"role": "user", "content": "hi"}]}
WRONG = "kst-wrong-key-0123456789abcdef"


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _coalescer(clock: _Clock, **settings: int) -> RefusalCoalescer:
    values = {"window_s": 60, "per_source": 3, "max_sources": 4, **settings}
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return RefusalCoalescer(clock=clock, wall_clock=lambda: start, **values)


def _bad_key(source: str, key: str | None = "ab12cd34") -> Refusal:
    return Refusal(
        EventType.AUTH_FAILURE,
        source=source,
        request_id="r",
        path="/v1/chat/completions",
        reason="unknown_key",
        key_sha256=key,
    )


def test_first_refusals_are_recorded_then_counted_until_the_window_ends() -> None:
    clock = _Clock()
    coalescer = _coalescer(clock)
    admitted = [coalescer.admit(_bad_key("10.0.0.1")) for _ in range(7)]
    assert [a.admission for a in admitted] == [Admission.RECORD] * 2 + [Admission.RECORD_LAST] + [
        Admission.COUNT
    ] * 4
    assert admitted[2].coalesced_until == dt.datetime(2026, 1, 1, 0, 1, tzinfo=dt.UTC)
    assert coalescer.next_close_in() == 60.0
    assert coalescer.closed() == []  # the window has not ended
    clock.now += 60
    again = coalescer.admit(_bad_key("10.0.0.1"))
    assert again.admission is Admission.RECORD  # a new window
    (summary,) = again.closed
    assert (summary.source, summary.count, summary.key_sha256) == ("10.0.0.1", 4, ("ab12cd34",))


def test_sources_are_coalesced_separately_and_expired_windows_summarised() -> None:
    clock = _Clock()
    coalescer = _coalescer(clock, per_source=1)
    for source in ("10.0.0.1", "10.0.0.2", "10.0.0.2"):
        coalescer.admit(_bad_key(source))
    assert coalescer.next_close_in() == 60.0
    clock.now += 61
    summaries = coalescer.closed()
    assert [(s.source, s.count) for s in summaries] == [("10.0.0.2", 1)]
    assert coalescer.next_close_in() is None


def test_table_full_puts_new_sources_in_the_overflow_bucket() -> None:
    clock = _Clock()
    coalescer = _coalescer(clock, max_sources=2, per_source=1)
    coalescer.admit(_bad_key("10.0.0.1"))
    coalescer.admit(_bad_key("10.0.0.2"))
    first = coalescer.admit(_bad_key("10.0.0.3"))
    second = coalescer.admit(_bad_key("10.0.0.4"))
    assert (first.admission, second.admission) == (Admission.RECORD_LAST, Admission.COUNT)
    (summary,) = coalescer.drain()
    assert (summary.source, summary.count) == (OVERFLOW_SOURCE, 1)


def test_key_fingerprints_are_bounded_and_summaries_can_be_restored() -> None:
    clock = _Clock()
    coalescer = _coalescer(clock, per_source=1)
    for index in range(12):
        coalescer.admit(_bad_key("10.0.0.1", f"{index:08x}"))
    (summary,) = coalescer.drain()
    assert summary.count == 11
    assert len(summary.key_sha256) == 8
    assert summary.more_keys
    coalescer.restore(summary)  # the log did not take it: merged into the next summary
    assert coalescer.admit(_bad_key("10.0.0.1")).admission is Admission.RECORD_LAST
    coalescer.admit(_bad_key("10.0.0.1", "ffffffff"))
    (merged,) = coalescer.drain()
    assert merged.count == 12
    assert merged.window_start == summary.window_start
    assert merged.key_sha256 == summary.key_sha256


def test_client_source_groups_ipv6_by_64() -> None:
    assert client_source("2001:db8:1:2:aaaa::1") == client_source("2001:db8:1:2:bbbb::9")
    assert client_source("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_source("::ffff:10.0.0.7") == "10.0.0.7"
    assert client_source("10.0.0.7") == "10.0.0.7"
    assert client_source(None) == "-"


def _records_of(location: pathlib.Path, kind: EventType) -> list[AuditRecord]:
    return [r for r in read_records(location) if r.event.event_type is kind]


def test_401_is_audited_without_the_key(gateway: Gateway, audit_path: pathlib.Path) -> None:
    with gateway() as (url, _):
        for headers in (
            {},
            {"Authorization": f"Bearer {WRONG}", "X-Request-Id": "attempt-1"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
        ):
            response = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=headers)
            assert response.status_code == 401
        assert httpx.get(f"{url}/v1/models").status_code == 401
    records = _records_of(audit_path, EventType.AUTH_FAILURE)
    assert [r.event.details["reason"] for r in records] == [
        "missing_key",
        "unknown_key",
        "not_bearer",
        "missing_key",
    ]
    for record in records:
        assert record.event.tenant is None
        assert record.event.status == 401
        assert record.event.rule_ids == ("guard.auth.invalid_api_key",)
        assert record.event.details["client"] == "127.0.0.1"
    wrong = records[1].event
    assert wrong.request_id == "attempt-1"
    assert wrong.details["key_sha256_prefix"] == hashlib.sha256(WRONG.encode()).hexdigest()[:8]
    assert "key_sha256_prefix" not in records[0].event.details
    assert records[3].event.details["path"] == "/v1/models"
    assert WRONG.encode() not in audit_path.read_bytes()


def test_429_is_audited_with_tenant_and_retry_after(
    gateway: Gateway, audit_path: pathlib.Path
) -> None:
    tenants = {
        "acme": {
            "key_hashes": [hash_api_key(KEY)],
            "upstream": "main",
            "rate_limit": {"per_minute": 1, "burst": 1},
        }
    }
    with gateway(tenants=tenants) as (url, _):
        auth = {"Authorization": f"Bearer {KEY}"}
        assert httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=auth).is_success
        refused = httpx.post(f"{url}/v1/chat/completions", json=CHAT, headers=auth)
    assert refused.status_code == 429
    (record,) = _records_of(audit_path, EventType.RATE_LIMITED)
    assert record.event.tenant == "acme"
    assert record.event.status == 429
    assert record.event.details["retry_after_s"] == int(refused.headers["retry-after"])
    assert record.event.details["source"] == "acme"


def test_flood_of_bad_keys_is_coalesced_and_the_log_verifies(
    gateway: Gateway, audit_path: pathlib.Path
) -> None:
    audit = {"url": str(audit_path), "refused": {"window_s": 1, "per_source": 2}}
    with (
        gateway(audit=audit, metrics={"public": True}) as (url, _),
        httpx.Client(base_url=url) as client,
    ):
        codes = [
            client.post(
                "/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {WRONG}{n}"}
            ).status_code
            for n in range(6)
        ]
        metrics = client.get("/metrics").text
        deadline = time.monotonic() + 10
        while len(_records_of(audit_path, EventType.AUTH_FAILURE)) < 3:
            assert time.monotonic() < deadline, "no summary record after the window"
            time.sleep(0.1)
    assert codes == [401] * 6
    assert 'kastell_guard_requests_total{status="401",tenant=""} 6' in metrics
    first, last, summary = _records_of(audit_path, EventType.AUTH_FAILURE)
    assert "coalesced_until" not in first.event.details
    assert "coalesced_until" in last.event.details
    assert summary.event.details["coalesced"] is True
    assert summary.event.details["count"] == 4
    assert summary.event.details["source"] == "127.0.0.1"
    assert len(str(summary.event.details["key_sha256_prefixes"]).split(",")) == 4
    assert main(["audit", "verify", str(audit_path), "--min-retention-days", "0"]) == 0


def test_pending_summary_is_written_on_shutdown(gateway: Gateway, audit_path: pathlib.Path) -> None:
    audit = {"url": str(audit_path), "refused": {"window_s": 3600, "per_source": 1}}
    with gateway(audit=audit) as (url, _):
        for _ in range(3):
            httpx.post(f"{url}/v1/chat/completions", json=CHAT)
        assert len(_records_of(audit_path, EventType.AUTH_FAILURE)) == 1
    records = _records_of(audit_path, EventType.AUTH_FAILURE)
    assert [r.event.details.get("count") for r in records] == [None, 2]


def test_refusal_without_a_durable_record_is_503(upstream: tuple[MockUpstream, str]) -> None:
    from kastell.guard.app import GuardApp
    from kastell.guard.config import parse_config
    from kastell.guard.runtime import build_runtime

    from ._servers import serve_in_thread
    from .conftest import make_config
    from .test_gateway import _BrokenAudit

    app = GuardApp(build_runtime(parse_config(make_config(upstream[1])), audit=_BrokenAudit()))
    with serve_in_thread(app) as url:
        response = httpx.post(f"{url}/v1/chat/completions", json=CHAT)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "audit_unavailable"
