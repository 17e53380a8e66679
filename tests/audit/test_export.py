"""SIEM export: OCSF field names checked against the OCSF schema, CEF escaping, syslog delivery."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.audit import AuditEvent, AuditLog, Decision, EventType
from kastell.audit.cef import cef_escape_extension, cef_escape_header, to_cef
from kastell.audit.export import ExportFormat, export_lines, parse_since
from kastell.audit.interface import AuditConfigError, AuditRecord, ExportDeliveryError
from kastell.audit.ocsf import OCSF_VERSION, to_ocsf
from kastell.audit.syslog import SyslogSender, parse_syslog_url, rfc5424_message
from kastell.types import Digest, Severity

from ._support import FixedClock

EVENTS = [
    AuditEvent(EventType.REQUEST, tenant="acme", request_id="r1"),
    AuditEvent(
        EventType.BLOCK,
        tenant="acme",
        request_id="r2",
        decision=Decision.BLOCK,
        rule_ids=("pi.heuristic", "secret.aws"),
        severity=Severity.HIGH,
        prompt_digest=Digest("sha256", "ab" * 32),
        served_model_digest=Digest("sha256", "cd" * 32),
        upstream="local-smollm2",
        status=400,
        latency_us=812,
        message="blocked: prompt injection | a=b\\c\nnext line",
        details={"score": 97, "stream": False},
        occurred_at=dt.datetime(2026, 1, 1, 11, 59, tzinfo=dt.UTC),
    ),
    AuditEvent(EventType.CANARY_LEAK, severity=Severity.CRITICAL, redacted_text="[canary]"),
]


@pytest.fixture
def records(sqlite_location: str, clock: FixedClock) -> list[AuditRecord]:
    with AuditLog.open(sqlite_location, clock=clock) as log:
        return [log.append(event) for event in EVENTS]


def _assert_no_unknown_fields(model: Any, path: str) -> None:
    from pydantic import BaseModel

    if isinstance(model, BaseModel):
        extra = model.model_extra or {}
        assert not extra, f"{path}: fields not in the OCSF schema: {sorted(extra)}"
        for name in type(model).model_fields:
            if name != "unmapped":
                _assert_no_unknown_fields(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list):
        for index, item in enumerate(model):
            _assert_no_unknown_fields(item, f"{path}[{index}]")


def test_ocsf_detection_finding_matches_the_ocsf_schema(records: list[AuditRecord]) -> None:
    events = pytest.importorskip("ocsf.v1_7_0.events")
    for record in records:
        finding = json.loads(json.dumps(to_ocsf(record)))
        model = events.DetectionFinding.model_validate(finding)
        _assert_no_unknown_fields(model, "detection_finding")
        assert finding["class_uid"] == 2004
        assert finding["type_uid"] == finding["class_uid"] * 100 + finding["activity_id"]
        assert finding["metadata"]["version"] == OCSF_VERSION


def test_ocsf_carries_the_gateway_facts(records: list[AuditRecord]) -> None:
    finding = to_ocsf(records[1])
    facts = finding["unmapped"]["kastell"]
    assert finding["severity_id"] == 4
    assert finding["is_alert"] is True
    assert finding["metadata"]["correlation_uid"] == "r2"
    assert finding["metadata"]["tenant_uid"] == "acme"
    assert finding["time"] == int(dt.datetime(2026, 1, 1, 11, 59, tzinfo=dt.UTC).timestamp() * 1000)
    assert finding["finding_info"]["analytic"]["uid"] == "pi.heuristic"
    assert facts["record_hash"] == f"sha256:{records[1].hash}"
    assert facts["decision"] == "block"
    assert facts["served_model_digest"] == "sha256:" + "cd" * 32
    assert to_ocsf(records[0])["is_alert"] is False


def test_cef_header_and_extension_escaping() -> None:
    assert cef_escape_header("a|b\\c\nd") == "a\\|b\\\\c d"
    assert cef_escape_extension("k=v\\x\r\ny\rz|") == "k\\=v\\\\x\\ny\\rz|"


def _unescape_extension(text: str) -> dict[str, str]:
    """A small CEF extension reader, enough to check that our output round-trips."""
    starts = list(re.finditer(r"(?:^| )([A-Za-z0-9_]+)=", text))
    pairs = {}
    for match, following in zip(starts, [*starts[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        pairs[match.group(1)] = text[match.end() : end]
    escapes = {"n": "\n", "r": "\r"}
    return {
        key: re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(1)), value)
        for key, value in pairs.items()
    }


def test_cef_line_structure(records: list[AuditRecord]) -> None:
    line = to_cef(records[1])
    assert line.startswith("CEF:0|Kastell|Kastell Guard|")
    assert "\n" not in line
    fields = re.split(r"(?<!\\)\|", line)
    assert fields[4] == "block"
    assert fields[6] == "8"  # HIGH
    assert "blocked: prompt injection \\| a=b\\\\c next line" in line
    extension = _unescape_extension(line.split("|8|", 1)[1])
    assert extension["act"] == "block"
    assert extension["cs1Label"] == "tenant"
    assert extension["cs1"] == "acme"
    assert extension["cs2"] == "pi.heuristic,secret.aws"
    assert extension["cn1"] == "400"
    assert extension["externalId"] == f"{records[1].log_id}:2"
    assert extension["msg"] == "blocked: prompt injection | a=b\\c\nnext line"
    assert "[canary]" not in to_cef(records[2])  # no text in SIEM copies


def test_export_lines_in_both_formats(records: list[AuditRecord], sqlite_location: str) -> None:
    from kastell.audit.store import AuditStore

    store = AuditStore.open(sqlite_location, create=False)
    ocsf = [line for _, line in export_lines(store.iter_rows(), ExportFormat.OCSF)]
    cef = [line for _, line in export_lines(store.iter_rows(after_seq=2), ExportFormat.CEF)]
    store.close()
    assert [json.loads(line)["metadata"]["sequence"] for line in ocsf] == [1, 2, 3]
    assert len(cef) == 1
    assert "canary_leak" in cef[0]


def test_parse_since() -> None:
    now = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    assert parse_since("7d", now=now) == dt.datetime(2026, 1, 3, tzinfo=dt.UTC)
    assert parse_since("2026-01-05", now=now) == dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    assert parse_since("2026-01-05T01:00:00+01:00", now=now) == dt.datetime(
        2026, 1, 5, tzinfo=dt.UTC
    )


def test_parse_since_rejects_garbage() -> None:
    with pytest.raises(AuditConfigError, match="neither an ISO 8601") as caught:
        parse_since("last tuesday", now=dt.datetime.now(dt.UTC))
    assert "--since 7d" in caught.value.diagnostics()


@pytest.mark.parametrize(
    "url", ["http://h:514", "udp://:514", "udp://host", "tcp://host:99999", "host:514"]
)
def test_bad_syslog_address_is_a_usage_error(url: str) -> None:
    with pytest.raises(AuditConfigError, match="syslog address") as caught:
        parse_syslog_url(url)
    assert "udp://host:port" in caught.value.diagnostics()


def test_rfc5424_message(records: list[AuditRecord]) -> None:
    message = rfc5424_message(records[1], "CEF:0|x", "gw 1").decode()
    # facility 13 (log audit) * 8 + severity 3 (error) for a HIGH record
    assert message.startswith("<107>1 2026-01-01T12:00:00.000000Z gw1 kastell - block - CEF:0|x")


def test_syslog_over_udp(records: list[AuditRecord]) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    port = server.getsockname()[1]
    with SyslogSender(parse_syslog_url(f"udp://127.0.0.1:{port}")) as sender:
        for record in records:
            sender.send(rfc5424_message(record, to_cef(record), "gw"))
    received = [server.recv(65535).decode() for _ in records]
    server.close()
    assert [m.split(" ")[5] for m in received] == ["request", "block", "canary_leak"]
    assert all(" - CEF:0|Kastell|" in m for m in received)


def _read_octet_counted(data: bytes) -> list[bytes]:
    frames = []
    while data:
        length, _, rest = data.partition(b" ")
        size = int(length)
        frames.append(rest[:size])
        data = rest[size:]
    return frames


def test_syslog_over_tcp_uses_octet_counting(records: list[AuditRecord]) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)
    port = server.getsockname()[1]
    chunks: list[bytes] = []

    def accept() -> None:
        connection, _ = server.accept()
        with connection:
            while block := connection.recv(65536):
                chunks.append(block)

    thread = threading.Thread(target=accept)
    thread.start()
    with SyslogSender(parse_syslog_url(f"tcp://127.0.0.1:{port}")) as sender:
        for record in records:
            sender.send(rfc5424_message(record, to_cef(record), "gw"))
    thread.join(5)
    server.close()
    frames = _read_octet_counted(b"".join(chunks))
    assert len(frames) == 3
    assert frames[1] == rfc5424_message(records[1], to_cef(records[1]), "gw")


def test_unreachable_tcp_collector_is_exit_3() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(ExportDeliveryError, match="cannot reach syslog collector") as caught:
        SyslogSender(parse_syslog_url(f"tcp://127.0.0.1:{port}")).__enter__()
    assert int(caught.value.exit_code) == 3


def test_oversized_udp_message_is_refused(records: list[AuditRecord]) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    with (
        SyslogSender(parse_syslog_url(f"udp://127.0.0.1:{port}")) as sender,
        pytest.raises(ExportDeliveryError, match="does not fit a UDP datagram") as caught,
    ):
        sender.send(b"x" * 70_000)
    server.close()
    assert "tcp://" in caught.value.diagnostics()


@settings(max_examples=200, deadline=1000)
@given(st.text(max_size=60))
def test_fuzz_cef_escaping_leaves_no_controls_or_bare_separators(text: str) -> None:
    header, extension = cef_escape_header(text), cef_escape_extension(text)
    for escaped in (header, extension):
        assert not re.search(r"[\x00-\x1f\x7f]", escaped)
    # every pipe in a header and every equals sign in an extension is escaped
    assert not re.search(r"(?<!\\)(\\\\)*\|", header.replace("\\|", ""))
    assert not re.search(r"(?<!\\)(?:\\\\)*=", extension.replace("\\=", ""))
    # the extension value reads back as the text, line breaks kept, other controls as spaces
    unescaped = re.sub(
        r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), extension
    )
    expected = re.sub(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]", " ", text.replace("\r\n", "\n"))
    assert unescaped == expected


_TEXT = st.text(max_size=20)


@settings(max_examples=60, deadline=2000)
@given(
    st.builds(
        AuditEvent,
        event_type=st.sampled_from(EventType),
        tenant=st.none() | _TEXT,
        request_id=st.none() | _TEXT,
        decision=st.none() | st.sampled_from(Decision),
        rule_ids=st.lists(_TEXT, max_size=2).map(tuple),
        severity=st.sampled_from(Severity),
        prompt_digest=st.none() | st.just(Digest("sha256", "12" * 32)),
        served_model_digest=st.none() | st.just(Digest("sha256", "34" * 32)),
        upstream=st.none() | _TEXT,
        status=st.none() | st.integers(100, 599),
        message=st.none() | _TEXT,
        details=st.dictionaries(
            st.sampled_from(["a", "b_c"]), st.none() | st.booleans(), max_size=2
        ),
    )
)
def test_fuzz_every_event_exports_as_a_schema_valid_detection_finding(event: AuditEvent) -> None:
    events = pytest.importorskip("ocsf.v1_7_0.events")
    from kastell.audit.codec import parse_record, record_body

    record = parse_record(
        record_body(
            log_id="L",
            seq=1,
            time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            prev_hash="0" * 64,
            event=event,
        )
    )
    finding = json.loads(json.dumps(to_ocsf(record)))
    _assert_no_unknown_fields(events.DetectionFinding.model_validate(finding), "finding")
    assert "\n" not in to_cef(record)
