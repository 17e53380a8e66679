"""The record codec: canonical form, round trips, and fuzzing of the stored-record parser."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.audit.codec import (
    canonical_json,
    checkpoint_payload,
    parse_record,
    record_body,
    sha256_hex,
)
from kastell.audit.interface import (
    GENESIS_HASH,
    AuditConfigError,
    AuditEvent,
    Decision,
    EventType,
    RecordFormatError,
)
from kastell.types import Digest, Severity

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _body(**fields: object) -> bytes:
    event = AuditEvent(EventType.RESPONSE, **fields)  # type: ignore[arg-type]
    return record_body(log_id="abc", seq=1, time=T0, prev_hash=GENESIS_HASH, event=event)


def test_canonical_json_is_sorted_compact_utf8() -> None:
    expected = '{"a":["é",null,true],"b":1}'.encode()
    assert canonical_json({"b": 1, "a": ["é", None, True]}) == expected


def test_canonical_json_refuses_floats() -> None:
    with pytest.raises(AuditConfigError, match="floating-point"):
        canonical_json({"x": [1.5]})


def test_record_round_trip_keeps_every_field() -> None:
    event = AuditEvent(
        EventType.BLOCK,
        tenant="t",
        request_id="r",
        occurred_at=T0,
        decision=Decision.BLOCK,
        rule_ids=("a", "b"),
        severity=Severity.CRITICAL,
        prompt_digest=Digest("sha256", "1" * 64),
        response_digest=Digest("sha256", "2" * 64),
        redacted_text="x",
        full_text="y",
        served_model_digest=Digest("blake3", "3" * 64),
        upstream="u",
        status=400,
        latency_us=5,
        message="m",
        details={"k": "v", "n": 1, "b": True, "z": None},
    )
    body = record_body(log_id="abc", seq=7, time=T0, prev_hash="f" * 64, event=event)
    record = parse_record(body)
    assert record.event == event
    assert (record.seq, record.prev_hash, record.time) == (7, "f" * 64, T0)
    assert record.hash == sha256_hex(body)


def test_hash_covers_every_byte() -> None:
    body = _body(status=200)
    assert parse_record(body).hash != parse_record(_body(status=201)).hash


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("prev"), "record fields"),
        (lambda d: d.update(v=2), "unsupported record version"),
        (lambda d: d.update(seq=0), "positive integer"),
        (lambda d: d.update(seq=True), "positive integer"),
        (lambda d: d.update(prev="xyz"), "previous hash"),
        (lambda d: d.update(time="2026-01-01"), "record time"),
        (lambda d: d["event"].update(type="nope"), "malformed record event"),
        (lambda d: d["event"].update(extra=1), "unknown event field"),
        (lambda d: d["event"].update(status="200"), "must be an integer"),
        (lambda d: d["event"].update(rule_ids=[1]), "rule_ids"),
        (lambda d: d["event"].update(details={"k": 1.5}), "floating-point"),
        (lambda d: d["event"].update(prompt_digest="md5:00"), "malformed record event"),
        (lambda d: d["event"].update(rule_ids=[]), "not in canonical form"),
        (lambda d: d["event"].update(status=2**53), "beyond 2\\*\\*53"),
        (lambda d: d["event"].update(details={"k": -(2**60)}), "beyond 2\\*\\*53"),
        (lambda d: d.update(seq=2**53), "positive integer"),
    ],
)
def test_malformed_stored_records_are_rejected(mutate: object, message: str) -> None:
    data = json.loads(_body())
    mutate(data)  # type: ignore[operator]
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with pytest.raises(RecordFormatError, match=message):
        parse_record(text)


def test_non_canonical_spacing_is_rejected() -> None:
    text = json.dumps(json.loads(_body()), sort_keys=True)  # with spaces
    with pytest.raises(RecordFormatError, match="canonical"):
        parse_record(text)


def test_checkpoint_payload_binds_log_seq_head_and_time() -> None:
    payload = checkpoint_payload(log_id="L", seq=3, head_hash="a" * 64, time=T0)
    assert json.loads(payload) == {
        "type": "kastell-audit-checkpoint/v1",
        "log": "L",
        "seq": 3,
        "head": "a" * 64,
        "time": "2026-01-01T00:00:00.000000Z",
    }


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_parse_record_bytes_raises_only_record_format_error(data: bytes) -> None:
    with contextlib.suppress(RecordFormatError):
        parse_record(data)


@settings(max_examples=200, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.fixed_dictionaries(
        {
            "v": st.sampled_from([1, 2, "1", True]),
            "log": st.text(max_size=70) | _JSON,
            "seq": st.integers(min_value=-2, max_value=2**63) | _JSON,
            "time": st.sampled_from(["2026-01-01T00:00:00.000000Z", "2026-02-30T00:00:00.000000Z"])
            | _JSON,
            "prev": st.sampled_from([GENESIS_HASH, "A" * 64]) | _JSON,
            "event": st.dictionaries(
                st.sampled_from(
                    [
                        "type",
                        "severity",
                        "tenant",
                        "status",
                        "details",
                        "rule_ids",
                        "prompt_digest",
                        "occurred_at",
                        "decision",
                        "zzz",
                    ]
                ),
                _JSON | st.sampled_from(["request", "info", "block", "sha256:" + "0" * 64]),
                max_size=6,
            ),
        }
    )
)
def test_fuzz_structured_records(data: dict[str, object]) -> None:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        record = parse_record(text)
    except RecordFormatError:
        return
    # anything accepted re-encodes to exactly the bytes that were hashed
    again = record_body(
        log_id=record.log_id,
        seq=record.seq,
        time=record.time,
        prev_hash=record.prev_hash,
        event=record.event,
    )
    assert again == text.encode("utf-8")


_TEXT = st.text(max_size=30)


_EVENTS = st.builds(
    AuditEvent,
    event_type=st.sampled_from(EventType),
    tenant=st.none() | _TEXT,
    request_id=st.none() | _TEXT,
    decision=st.none() | st.sampled_from(Decision),
    rule_ids=st.lists(_TEXT, max_size=3).map(tuple),
    severity=st.sampled_from(Severity),
    redacted_text=st.none() | st.text(max_size=200),
    status=st.none() | st.integers(min_value=100, max_value=599),
    latency_us=st.none() | st.integers(min_value=0, max_value=2**53 - 1),
    details=st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
        st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | _TEXT,
        max_size=3,
    ),
)


@settings(max_examples=200, deadline=1000)
@given(_EVENTS)
def test_fuzz_any_event_round_trips(event: AuditEvent) -> None:
    body = record_body(log_id="L", seq=1, time=T0, prev_hash=GENESIS_HASH, event=event)
    record = parse_record(body)
    assert record.hash == sha256_hex(body)
    assert (
        record_body(log_id="L", seq=1, time=T0, prev_hash=GENESIS_HASH, event=record.event) == body
    )


def test_huge_integers_are_refused_at_append() -> None:
    with pytest.raises(AuditConfigError, match="beyond"):
        _body(latency_us=2**60)


def test_record_bytes_are_rfc8785_canonical() -> None:
    """Hand-checked JCS form: sorted keys, compact, non-ASCII as UTF-8, controls as \\u00xx."""
    body = _body(message="é\u0001\n", status=200)
    assert '"message":"é\\u0001\\n"' in body.decode()
    assert body.decode().startswith('{"event":{"message":')


@settings(max_examples=100, deadline=1000)
@given(_EVENTS)
def test_fuzz_bytes_match_an_independent_rfc8785_implementation(event: AuditEvent) -> None:
    rfc8785 = pytest.importorskip("rfc8785")  # installed by the test extra (via model-signing)
    body = record_body(log_id="L", seq=1, time=T0, prev_hash=GENESIS_HASH, event=event)
    assert rfc8785.dumps(json.loads(body)) == body
