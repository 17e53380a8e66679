"""Syslog over TLS (RFC 5425): a local TLS collector with a test CA made in the test."""

from __future__ import annotations

import pathlib
import socket
import threading

import pytest
from cryptography.hazmat.primitives import serialization

from kastell.audit import AuditEvent, AuditLog, EventType
from kastell.audit.cef import to_cef
from kastell.audit.interface import AuditConfigError, AuditRecord, ExportDeliveryError
from kastell.audit.syslog import SyslogSender, SyslogTls, parse_syslog_url, rfc5424_message
from kastell.cli.main import main

from ._support import FixedClock
from ._tls import Issued, issue, make_ca, tls_listener
from .test_export import _read_octet_counted as octet_frames


@pytest.fixture
def pki(tmp_path: pathlib.Path) -> dict[str, Issued]:
    """Server CA + collector certificate, an unrelated CA, client CA + client certificate."""
    server_ca = make_ca(tmp_path, "server-ca")
    client_ca = make_ca(tmp_path, "client-ca")
    return {
        "server_ca": server_ca[0],
        "collector": issue(tmp_path, "collector", server_ca),
        "misnamed": issue(tmp_path, "misnamed", server_ca, names=("collector.example",)),
        "other_ca": make_ca(tmp_path, "other-ca")[0],
        "client_ca": client_ca[0],
        "client": issue(tmp_path, "client", client_ca, client=True),
    }


@pytest.fixture
def records(sqlite_location: str, clock: FixedClock) -> list[AuditRecord]:
    with AuditLog.open(sqlite_location, clock=clock) as log:
        return [
            log.append(AuditEvent(EventType.REQUEST, tenant="acme", request_id=f"r{n}"))
            for n in range(3)
        ]


def _send(address: str, tls: SyslogTls, records: list[AuditRecord]) -> None:
    with SyslogSender(parse_syslog_url(address, tls=tls)) as sender:
        for record in records:
            sender.send(rfc5424_message(record, to_cef(record) + "\nsecond line", "gw"))
        sender.confirm()


def test_tls_delivers_octet_counted_messages(
    pki: dict[str, Issued], records: list[AuditRecord]
) -> None:
    with tls_listener(pki["collector"]) as collector:
        _send(
            f"tls://127.0.0.1:{collector.port}", SyslogTls(ca_file=pki["server_ca"].cert), records
        )
    frames = octet_frames(bytes(collector.received))
    assert frames == [rfc5424_message(r, to_cef(r) + "\nsecond line", "gw") for r in records]
    assert collector.errors == []


def test_untrusted_collector_ca_is_a_clear_delivery_error(
    pki: dict[str, Issued], records: list[AuditRecord]
) -> None:
    with (
        tls_listener(pki["collector"]) as collector,
        pytest.raises(ExportDeliveryError, match="certificate verify failed") as caught,
    ):
        _send(f"tls://127.0.0.1:{collector.port}", SyslogTls(ca_file=pki["other_ca"].cert), records)
    assert "--syslog-ca" in caught.value.diagnostics()
    assert int(caught.value.exit_code) == 3
    assert collector.received == bytearray()


def test_default_trust_is_the_system_store_not_none(
    pki: dict[str, Issued], records: list[AuditRecord]
) -> None:
    with (
        tls_listener(pki["collector"]) as collector,
        pytest.raises(ExportDeliveryError, match="certificate verify failed"),
    ):
        _send(f"tls://127.0.0.1:{collector.port}", SyslogTls(), records)
    assert collector.received == bytearray()


def test_certificate_for_another_name_is_refused(
    pki: dict[str, Issued], records: list[AuditRecord]
) -> None:
    with (
        tls_listener(pki["misnamed"]) as collector,
        pytest.raises(ExportDeliveryError, match="certificate verify failed") as caught,
    ):
        _send(
            f"tls://127.0.0.1:{collector.port}", SyslogTls(ca_file=pki["server_ca"].cert), records
        )
    assert "does not name 127.0.0.1" in caught.value.diagnostics()
    assert collector.received == bytearray()


def test_mutual_tls_with_a_client_certificate(
    pki: dict[str, Issued], records: list[AuditRecord]
) -> None:
    tls = SyslogTls(pki["server_ca"].cert, pki["client"].cert, pki["client"].key)
    with tls_listener(pki["collector"], client_ca=pki["client_ca"].cert) as collector:
        _send(f"tls://localhost:{collector.port}", tls, records)
    assert len(octet_frames(bytes(collector.received))) == 3
    assert collector.client_subject is not None
    assert "client" in collector.client_subject


def test_collector_requiring_a_client_certificate_refuses_before_anything_is_sent(
    pki: dict[str, Issued], records: list[AuditRecord]
) -> None:
    with (
        tls_listener(pki["collector"], client_ca=pki["client_ca"].cert) as collector,
        pytest.raises(ExportDeliveryError) as caught,
    ):
        _send(f"tls://127.0.0.1:{collector.port}", SyslogTls(pki["server_ca"].cert), records)
    assert "--syslog-cert" in caught.value.diagnostics()
    assert collector.received == bytearray()


def test_client_certificate_the_collector_does_not_trust_is_refused(
    pki: dict[str, Issued], records: list[AuditRecord], tmp_path: pathlib.Path
) -> None:
    stranger = issue(tmp_path, "stranger", make_ca(tmp_path, "stranger-ca"), client=True)
    tls = SyslogTls(pki["server_ca"].cert, stranger.cert, stranger.key)
    with (
        tls_listener(pki["collector"], client_ca=pki["client_ca"].cert) as collector,
        pytest.raises(ExportDeliveryError) as caught,
    ):
        _send(f"tls://127.0.0.1:{collector.port}", tls, records)
    assert "--syslog-cert" in caught.value.diagnostics()
    assert collector.received == bytearray()


def test_tls_options_for_a_plain_transport_are_a_usage_error(pki: dict[str, Issued]) -> None:
    with pytest.raises(AuditConfigError, match="TLS options") as caught:
        parse_syslog_url("tcp://siem:6514", tls=SyslogTls(ca_file=pki["server_ca"].cert))
    assert "tls://siem:6514" in caught.value.diagnostics()


def test_client_key_without_certificate_is_a_usage_error(pki: dict[str, Issued]) -> None:
    with pytest.raises(AuditConfigError, match="without its client certificate"):
        parse_syslog_url("tls://siem:6514", tls=SyslogTls(key_file=pki["client"].key))


@pytest.mark.parametrize("what", ["missing", "not_pem"])
def test_unreadable_ca_bundle_is_a_usage_error(tmp_path: pathlib.Path, what: str) -> None:
    bundle = tmp_path / "ca.pem"
    if what == "not_pem":
        bundle.write_text("not a certificate\n")
    with pytest.raises(AuditConfigError, match="CA bundle") as caught:
        SyslogSender(parse_syslog_url("tls://siem:6514", tls=SyslogTls(ca_file=bundle)))
    assert int(caught.value.exit_code) == 2


def test_encrypted_client_key_is_refused_without_prompting(
    pki: dict[str, Issued], tmp_path: pathlib.Path
) -> None:
    key = serialization.load_pem_private_key(pki["client"].key.read_bytes(), password=None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    tls = SyslogTls(pki["server_ca"].cert, pki["client"].cert, locked)
    with pytest.raises(AuditConfigError, match="encrypted"):
        SyslogSender(parse_syslog_url("tls://siem:6514", tls=tls))


def test_confirm_notices_a_collector_that_closed_the_connection(
    records: list[AuditRecord],
) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)
    closed = threading.Event()

    def accept_and_close() -> None:
        connection, _ = server.accept()
        connection.close()
        closed.set()

    thread = threading.Thread(target=accept_and_close)
    thread.start()
    address = parse_syslog_url(f"tcp://127.0.0.1:{server.getsockname()[1]}")
    with SyslogSender(address) as sender:
        assert closed.wait(5)
        thread.join(5)
        sender.send(rfc5424_message(records[0], "x", "gw"))
        with pytest.raises(ExportDeliveryError, match="closed the connection|reset"):
            sender.confirm()
    server.close()


def _export(log: str, *options: str) -> int:
    return main(["audit", "export", log, "--format", "cef", *options])


@pytest.mark.parametrize(
    ("ca", "code", "said", "delivered"),
    [
        ("server_ca", 0, "exported 3 record(s) to tls://127.0.0.1:", 3),
        ("other_ca", 3, "certificate verify failed: unable to get local issuer", 0),
    ],
)
def test_cli_export_over_tls(
    pki: dict[str, Issued],
    records: list[AuditRecord],
    sqlite_location: str,
    capsys: pytest.CaptureFixture[str],
    ca: str,
    code: int,
    said: str,
    delivered: int,
) -> None:
    with tls_listener(pki["collector"]) as collector:
        url = f"tls://127.0.0.1:{collector.port}"
        exit_code = _export(sqlite_location, "--syslog", url, "--syslog-ca", str(pki[ca].cert))
    err = capsys.readouterr().err
    assert (exit_code, said in err) == (code, True)
    frames = octet_frames(bytes(collector.received))
    assert [frame.split(b" ")[5] for frame in frames] == [b"request"] * delivered
    if code == 3:
        assert "--syslog-ca" in err  # the hint names the option that fixes it


def test_cli_mutual_tls_from_environment(
    pki: dict[str, Issued],
    records: list[AuditRecord],
    sqlite_location: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KASTELL_AUDIT_SYSLOG_CA", str(pki["server_ca"].cert))
    monkeypatch.setenv("KASTELL_AUDIT_SYSLOG_CERT", str(pki["client"].cert))
    monkeypatch.setenv("KASTELL_AUDIT_SYSLOG_KEY", str(pki["client"].key))
    with tls_listener(pki["collector"], client_ca=pki["client_ca"].cert) as collector:
        code = _export(sqlite_location, "--syslog", f"tls://localhost:{collector.port}")
    assert code == 0
    assert len(octet_frames(bytes(collector.received))) == 3


def test_cli_tls_option_mistakes_exit_2(
    pki: dict[str, Issued], sqlite_location: str, tmp_path: pathlib.Path
) -> None:
    ca = str(pki["server_ca"].cert)
    assert _export(sqlite_location, "--syslog-ca", ca) == 2
    assert _export(sqlite_location, "--syslog", "tcp://127.0.0.1:9", "--syslog-ca", ca) == 2
    missing = str(tmp_path / "missing.pem")
    assert _export(sqlite_location, "--syslog", "tls://127.0.0.1:9", "--syslog-ca", missing) == 2
