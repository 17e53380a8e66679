"""``kastell audit ...``: exit codes, output formats and helpful errors."""

from __future__ import annotations

import json
import pathlib
import socket
from typing import Any

import pytest
import sqlalchemy as sa

from kastell.audit import AuditEvent, AuditLog, EventType
from kastell.audit.keys import Ed25519Signer
from kastell.cli.main import main


@pytest.fixture
def keys(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    private, public = tmp_path / "audit.key", tmp_path / "audit.pub"
    assert main(["audit", "keygen", "--private", str(private), "--public", str(public)]) == 0
    return private, public


@pytest.fixture
def log_path(tmp_path: pathlib.Path, keys: tuple[pathlib.Path, pathlib.Path]) -> str:
    path = str(tmp_path / "audit.db")
    signer = Ed25519Signer.from_pem(keys[0])
    log = AuditLog.open(path, signer=signer, checkpoint_every=3)
    for index in range(5):
        log.append(AuditEvent(EventType.REQUEST, tenant="acme", request_id=f"r{index}"))
    log.store.close()  # leave records 4..5 unanchored
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # drop what fixtures printed
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_verify_intact_log_reports_unanchored_tail(
    capsys: pytest.CaptureFixture[str], log_path: str, keys: Any
) -> None:
    code, out, _ = _run(capsys, "audit", "verify", log_path, "--key", str(keys[1]))
    assert code == 0
    assert "OK: no modified" in out
    assert "UNANCHORED: 2 record(s) after seq 3" in out


def test_verify_require_anchored_fails_then_checkpoint_fixes_it(
    capsys: pytest.CaptureFixture[str], log_path: str, keys: Any
) -> None:
    args = ("audit", "verify", log_path, "--key", str(keys[1]), "--require-anchored")
    assert _run(capsys, *args)[0] == 1
    code, out, _ = _run(capsys, "audit", "checkpoint", log_path, "--key", str(keys[0]))
    assert (code, out.startswith("checkpoint at seq 5")) == (0, True)
    assert _run(capsys, *args)[0] == 0


def test_verify_json(capsys: pytest.CaptureFixture[str], log_path: str, keys: Any) -> None:
    code, out, _ = _run(
        capsys, "audit", "verify", log_path, "--key", str(keys[1]), "--format", "json"
    )
    report = json.loads(out)
    assert code == 0
    assert (report["ok"], report["records"], report["anchored_through"]) == (True, 5, 3)


def test_verify_tampered_log_exits_1_with_sarif(
    capsys: pytest.CaptureFixture[str], log_path: str, keys: Any
) -> None:
    engine = sa.create_engine(f"sqlite:///{log_path}")
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM kastell_audit_records WHERE seq = 2"))
    engine.dispose()
    code, out, _ = _run(capsys, "audit", "verify", log_path, "--key", str(keys[1]))
    assert code == 1
    assert "[deleted] seq 2: record 2 is missing" in out
    code, out, _ = _run(
        capsys, "audit", "verify", log_path, "--key", str(keys[1]), "--format", "sarif"
    )
    sarif = json.loads(out)
    assert code == 1
    assert sarif["runs"][0]["results"][0]["ruleId"] == "audit/deleted"
    code, out, _ = _run(
        capsys, "audit", "verify", log_path, "--key", str(keys[1]), "--format", "junit"
    )
    assert code == 1
    assert 'failures="1"' in out
    assert "record 2 is missing" in out


def test_verify_missing_log_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    code, _, err = _run(capsys, "audit", "verify", str(tmp_path / "nope.db"))
    assert code == 3
    assert "no audit log at" in err
    assert "what to do:" in err


def test_verify_file_that_is_not_a_log_exits_3(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    other = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{other}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    code, _, err = _run(capsys, "audit", "verify", str(other))
    assert code == 3
    assert "holds no Kastell audit log" in err


def test_verify_garbage_file_exits_3(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    code, _, err = _run(capsys, "audit", "verify", str(garbage))
    assert code == 3
    assert "not a database" in err
    assert "internal error" not in err


def test_verify_bad_key_file_exits_2(
    capsys: pytest.CaptureFixture[str], log_path: str, tmp_path: pathlib.Path
) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key")
    code, _, err = _run(capsys, "audit", "verify", log_path, "--key", str(bad))
    assert code == 2
    assert "cannot load public key" in err
    assert "PEM Ed25519 public key" in err


def test_verify_with_a_private_key_as_trust_root_exits_2(
    capsys: pytest.CaptureFixture[str], log_path: str, keys: Any
) -> None:
    code, _, err = _run(capsys, "audit", "verify", log_path, "--key", str(keys[0]))
    assert code == 2
    assert "public key" in err


def test_log_from_environment(
    capsys: pytest.CaptureFixture[str],
    log_path: str,
    keys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KASTELL_AUDIT_LOG", log_path)
    monkeypatch.setenv("KASTELL_AUDIT_KEYS", str(keys[1]))
    assert _run(capsys, "audit", "verify")[0] == 0


def test_export_ocsf_to_stdout_with_cursor(
    capsys: pytest.CaptureFixture[str], log_path: str
) -> None:
    code, out, err = _run(capsys, "audit", "export", log_path, "--after-seq", "3")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [line["metadata"]["sequence"] for line in lines] == [4, 5]
    assert "resume with --after-seq 5" in err


def test_export_since_filters(capsys: pytest.CaptureFixture[str], log_path: str) -> None:
    code, out, _ = _run(capsys, "audit", "export", log_path, "--since", "2999-01-01")
    assert (code, out) == (0, "")


def test_export_cef_over_udp(capsys: pytest.CaptureFixture[str], log_path: str) -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    port = server.getsockname()[1]
    code, out, err = _run(
        capsys,
        "audit",
        "export",
        log_path,
        "--format",
        "cef",
        "--syslog",
        f"udp://127.0.0.1:{port}",
    )
    received = [server.recv(65535) for _ in range(5)]
    server.close()
    assert (code, out) == (0, "")
    assert "exported 5 record(s) to udp://" in err
    assert all(b" kastell - request - CEF:0|Kastell|" in message for message in received)


def test_export_bad_syslog_url_exits_2(capsys: pytest.CaptureFixture[str], log_path: str) -> None:
    code, _, err = _run(capsys, "audit", "export", log_path, "--syslog", "syslog.example:514")
    assert code == 2
    assert "udp://host:port" in err


def test_export_bad_since_exits_2(capsys: pytest.CaptureFixture[str], log_path: str) -> None:
    code, _, err = _run(capsys, "audit", "export", log_path, "--since", "yesterday-ish")
    assert code == 2
    assert "--since" in err


def test_export_to_dead_collector_exits_3(
    capsys: pytest.CaptureFixture[str], log_path: str
) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    code, _, err = _run(capsys, "audit", "export", log_path, "--syslog", f"tcp://127.0.0.1:{port}")
    assert code == 3
    assert "cannot reach syslog collector" in err


def test_prune_short_retention_needs_force(
    capsys: pytest.CaptureFixture[str], log_path: str, keys: Any
) -> None:
    args = ["audit", "prune", log_path, "--key", str(keys[1]), "--keep-days", "30"]
    code, _, err = _run(capsys, *args)
    assert code == 2
    assert "six-month minimum" in err
    code, out, _ = _run(capsys, *args, "--force")
    assert code == 0
    assert "deleted 0 record(s)" in out  # everything is younger than 30 days


def test_prune_tampered_log_exits_1(
    capsys: pytest.CaptureFixture[str], log_path: str, keys: Any
) -> None:
    engine = sa.create_engine(f"sqlite:///{log_path}")
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE kastell_audit_records SET tenant = 'x' WHERE seq = 1"))
    engine.dispose()
    code, _, err = _run(capsys, "audit", "prune", log_path, "--key", str(keys[1]))
    assert code == 1
    assert "refusing to prune" in err


def test_checkpoint_needs_an_existing_log(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, keys: Any
) -> None:
    target = tmp_path / "new.db"
    code, _, err = _run(capsys, "audit", "checkpoint", str(target), "--key", str(keys[0]))
    assert code == 3
    assert not target.exists()
    assert "no audit log" in err


def test_checkpoint_with_public_key_exits_2(
    capsys: pytest.CaptureFixture[str], log_path: str, keys: Any
) -> None:
    code, _, err = _run(capsys, "audit", "checkpoint", log_path, "--key", str(keys[1]))
    assert code == 2
    assert "private key" in err


def test_keygen_refuses_to_overwrite(capsys: pytest.CaptureFixture[str], keys: Any) -> None:
    code, _, err = _run(
        capsys, "audit", "keygen", "--private", str(keys[0]), "--public", str(keys[1])
    )
    assert code == 2
    assert "do not exist yet" in err


def test_help_is_fast_and_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "audit", "--help")
    assert code == 0
    for name in ("verify", "export", "checkpoint", "prune", "keygen"):
        assert name in out


def test_prune_without_keys_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], log_path: str
) -> None:
    code, _, err = _run(capsys, "audit", "prune", log_path)
    assert code == 2
    assert "--key" in err


def test_collector_failing_mid_export_tells_where_to_resume(
    capsys: pytest.CaptureFixture[str], log_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kastell.audit import syslog
    from kastell.audit.interface import ExportDeliveryError

    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    real_send = syslog.SyslogSender.send
    sent: list[bytes] = []

    def failing_third(self: syslog.SyslogSender, message: bytes) -> None:
        if len(sent) == 2:
            raise ExportDeliveryError("syslog delivery failed: connection reset")
        sent.append(message)
        real_send(self, message)

    monkeypatch.setattr(syslog.SyslogSender, "send", failing_third)
    code, _, err = _run(capsys, "audit", "export", log_path, "--syslog", f"udp://127.0.0.1:{port}")
    server.close()
    assert code == 3
    assert "after 2 record(s)" in err
    assert "resume with --after-seq 2" in err


def test_checkpoint_with_an_encrypted_key_from_kastell_keygen(
    capsys: pytest.CaptureFixture[str],
    log_path: str,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUDIT_PASS", "correct horse")
    prefix = str(tmp_path / "enc")
    keygen = ["keygen", "--type", "ed25519", "-o", prefix, "--passphrase-env", "AUDIT_PASS"]
    assert _run(capsys, *keygen)[0] == 0
    base = ["audit", "checkpoint", log_path, "--key", f"{prefix}.pem"]
    code, _, err = _run(capsys, *base)
    assert code == 2
    assert "password" in err.lower() or "encrypted" in err.lower()
    code, out, _ = _run(capsys, *base, "--passphrase-env", "AUDIT_PASS")
    assert (code, out.startswith("checkpoint at seq 5")) == (0, True)
    code, _, _ = _run(capsys, "audit", "verify", log_path, "--key", f"{prefix}.pub")
    assert code == 1  # the gateway's own checkpoint (other key) is now unknown


def test_unreachable_postgres_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there
    code, _, err = _run(capsys, "audit", "verify", f"postgresql://kastell@127.0.0.1:{port}/x")
    assert code == 3
    assert "cannot open" in err
    assert "reachable" in err


def test_unsupported_database_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "audit", "verify", "mysql://u@127.0.0.1/db")
    assert code == 2
    assert "postgresql://" in err


def test_password_in_url_is_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    code, out, err = _run(capsys, "audit", "verify", f"postgresql://u:s3cret@127.0.0.1:{port}/x")
    assert code == 3
    assert "s3cret" not in out + err
