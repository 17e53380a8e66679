"""``kastell audit``: verify, export, checkpoint and prune the hash-chained audit log.

``LOG`` is a file path (SQLite) or a PostgreSQL URL; ``KASTELL_AUDIT_LOG`` supplies it when
omitted. The audit modules are imported inside the commands so ``--help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import sys
from typing import TYPE_CHECKING, Any

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, format_option, note

if TYPE_CHECKING:
    from kastell.audit.keys import PublicKeyRing
    from kastell.audit.syslog import SyslogSender
    from kastell.audit.verify import VerificationReport

__all__ = ["audit"]

_Path = click.Path(path_type=pathlib.Path)
_LOG = click.argument("log", envvar="KASTELL_AUDIT_LOG", metavar="LOG")
_KEYS = click.option(
    "--key",
    "keys",
    multiple=True,
    type=_Path,
    envvar="KASTELL_AUDIT_KEYS",
    help="Trusted checkpoint public key (PEM, Ed25519); repeat for several. "
    "KASTELL_AUDIT_KEYS: space-separated paths.",
)


def _ring(paths: tuple[pathlib.Path, ...]) -> PublicKeyRing:
    from kastell.audit.keys import PublicKeyRing, load_public_key

    return PublicKeyRing.of(load_public_key(path) for path in paths)


@click.group("audit")
def audit() -> None:
    """Verify, export, checkpoint and prune the hash-chained audit log.

    Exit codes: 0 intact, 1 tampering found, 2 usage error, 3 could not read the log.
    """


def _print_report(report: VerificationReport, location: str) -> None:
    span = f" (seq {report.first_seq}..{report.last_seq})" if report.records else ""
    click.echo(f"audit log {report.log_id or '-'} at {location}: {report.records} record(s){span}")
    click.echo(f"valid checkpoints: {report.valid_checkpoints}")
    if report.pruned_through:
        click.echo(f"pruned through seq {report.pruned_through} under a signed checkpoint")
    if report.unanchored:
        click.echo(
            f"UNANCHORED: {report.unanchored} record(s) after seq {report.anchored_through} are "
            "not covered by a signed checkpoint yet (their chain is intact, but they could have "
            "been rewritten or truncated without detection)"
        )
    if report.ok:
        click.echo("OK: no modified, deleted, inserted or reordered records; checkpoints valid")
        return
    click.echo(f"TAMPERED: {len(report.issues)} problem(s)")
    for issue in report.issues[:200]:
        where = f" seq {issue.seq}" if issue.seq is not None else ""
        click.echo(f"  [{issue.kind.value}]{where}: {issue.message}")
    if len(report.issues) > 200:
        click.echo(f"  ... and {len(report.issues) - 200} more (use --format json)")


@audit.command("verify")
@_LOG
@_KEYS
@click.option(
    "--min-retention-days",
    type=click.IntRange(min=0),
    default=183,
    show_default=True,
    envvar="KASTELL_AUDIT_MIN_RETENTION_DAYS",
    help="Report a log pruned under a checkpoint younger than this.",
)
@click.option(
    "--require-anchored",
    is_flag=True,
    help="Fail (exit 1) when records after the last checkpoint are unanchored.",
)
@format_option("text", "json", "sarif", "junit")
def verify(
    log: str,
    keys: tuple[pathlib.Path, ...],
    min_retention_days: int,
    require_anchored: bool,
    output_format: str,
) -> int:
    """Verify LOG: detect modified, deleted, inserted or reordered records and bad checkpoints."""
    from kastell.audit.evidence import verify_location

    ring = _ring(keys)
    report, location = verify_location(
        log,
        ring,
        now=dt.datetime.now(dt.UTC),
        min_retention=dt.timedelta(days=min_retention_days),
    )
    if (
        not keys
        and report.valid_checkpoints == 0
        and any(issue.kind.value == "unknown_key" for issue in report.issues)
    ):
        note("note: no --key given, so no checkpoint signer is trusted")
    _emit_report(report, location, output_format)
    if not report.ok:
        return 1
    if require_anchored and report.unanchored:
        note(f"failing: {report.unanchored} record(s) are unanchored (--require-anchored)")
        return 1
    return 0


def _emit_report(report: VerificationReport, location: str, output_format: str) -> None:
    if output_format == "json":
        from kastell.audit.evidence import report_document

        emit_json(report_document(report, location))
    elif output_format in ("sarif", "junit"):
        from kastell import __version__
        from kastell.audit.verify import report_findings
        from kastell.report.interface import ToolInfo
        from kastell.report.junit import JUnitRenderer
        from kastell.report.sarif import SarifRenderer

        renderer = SarifRenderer() if output_format == "sarif" else JUnitRenderer()
        findings = report_findings(report, location)
        click.echo(renderer.render(findings, ToolInfo("kastell-audit", __version__)))
    else:
        _print_report(report, location)


@audit.command("export")
@_LOG
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["ocsf", "cef"]),
    default="ocsf",
    show_default=True,
    envvar="KASTELL_AUDIT_EXPORT_FORMAT",
    help="OCSF Detection Finding JSON lines, or CEF lines.",
)
@click.option("--since", help="Only records from this time on (ISO 8601, or a duration: 7d, 12h).")
@click.option(
    "--after-seq",
    type=click.IntRange(min=0),
    default=0,
    help="Only records after this sequence number (an export cursor).",
)
@click.option(
    "--syslog",
    "syslog_url",
    envvar="KASTELL_AUDIT_SYSLOG",
    help="Send to a collector (udp://, tcp:// or tls://host:port) instead of stdout.",
)
@click.option(
    "--syslog-ca",
    type=_Path,
    envvar="KASTELL_AUDIT_SYSLOG_CA",
    help="tls://: CA bundle (PEM) of the collector's certificate (default: system trust store).",
)
@click.option(
    "--syslog-cert",
    type=_Path,
    envvar="KASTELL_AUDIT_SYSLOG_CERT",
    help="tls://: client certificate (PEM) for mutual TLS.",
)
@click.option(
    "--syslog-key",
    type=_Path,
    envvar="KASTELL_AUDIT_SYSLOG_KEY",
    help="tls://: unencrypted private key (PEM) of --syslog-cert, if not in the same file.",
)
def export(
    log: str,
    export_format: str,
    since: str | None,
    after_seq: int,
    syslog_url: str | None,
    syslog_ca: pathlib.Path | None,
    syslog_cert: pathlib.Path | None,
    syslog_key: pathlib.Path | None,
) -> int:
    """Export LOG to a SIEM: OCSF JSON lines or CEF, on stdout or over syslog."""
    from kastell.audit.export import ExportFormat, export_lines, parse_since
    from kastell.audit.interface import AuditConfigError
    from kastell.audit.store import AuditStore, to_micros
    from kastell.audit.syslog import SyslogSender, SyslogTls, parse_syslog_url

    tls = SyslogTls(syslog_ca, syslog_cert, syslog_key)
    if syslog_url is None and tls != SyslogTls():
        raise AuditConfigError(
            "--syslog-ca, --syslog-cert and --syslog-key need --syslog tls://host:port"
        )
    # a bad address or TLS file is a usage error before the log is opened
    sender = SyslogSender(parse_syslog_url(syslog_url, tls=tls)) if syslog_url else None
    since_us = to_micros(parse_since(since, now=dt.datetime.now(dt.UTC))) if since else None
    store = AuditStore.open(log, create=False)
    try:
        lines = export_lines(
            store.iter_rows(after_seq=after_seq, since_us=since_us), ExportFormat(export_format)
        )
        if sender is None:
            count, last = _write_stdout(lines, after_seq)
        else:
            count, last = _send_syslog(lines, sender, after_seq)
    finally:
        store.close()
    where = f" to {syslog_url}" if syslog_url else ""
    note(f"exported {count} record(s){where}; last seq {last} (resume with --after-seq {last})")
    return 0


def _write_stdout(lines: Any, after_seq: int) -> tuple[int, int]:
    from kastell.audit.interface import ExportDeliveryError

    count, last = 0, after_seq
    try:
        for record, line in lines:
            sys.stdout.write(line + "\n")
            count, last = count + 1, record.seq
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        raise ExportDeliveryError(
            f"stdout was closed after about {count} record(s)",
            hint=f"Resume with --after-seq {last} (or read the whole output).",
        ) from None
    return count, last


def _send_syslog(lines: Any, sender: SyslogSender, after_seq: int) -> tuple[int, int]:
    import socket

    from kastell.audit.interface import ExportDeliveryError
    from kastell.audit.syslog import rfc5424_message

    count, last = 0, after_seq
    hostname = socket.gethostname()
    with sender:
        for record, line in lines:
            try:
                sender.send(rfc5424_message(record, line, hostname))
            except ExportDeliveryError as error:
                raise ExportDeliveryError(
                    f"{error.message} after {count} record(s)",
                    hint=f"{error.diagnostics()} Then resume with --after-seq {last}.",
                ) from None
            count, last = count + 1, record.seq
        try:
            sender.confirm()
        except ExportDeliveryError as error:
            raise ExportDeliveryError(
                f"{error.message} (after {count} record(s) were handed over)",
                hint=f"{error.diagnostics()} Then resume with --after-seq {after_seq}: "
                "the collector may have dropped any of them (a SIEM can deduplicate by "
                "LOG_ID:SEQ).",
            ) from None
    return count, last


@audit.command("checkpoint")
@_LOG
@click.option(
    "--key",
    "private_key",
    type=_Path,
    required=True,
    envvar="KASTELL_AUDIT_SIGNING_KEY",
    help="Ed25519 private key (PEM, PKCS#8) that signs the checkpoint.",
)
@click.option(
    "--passphrase-env",
    metavar="VAR",
    help="Read the private key's passphrase from environment variable VAR.",
)
@click.option(
    "--passphrase-file",
    type=_Path,
    help="Read the private key's passphrase from this file (one line).",
)
@FORMAT_OPTION
def checkpoint(
    log: str,
    private_key: pathlib.Path,
    passphrase_env: str | None,
    passphrase_file: pathlib.Path | None,
    output_format: str,
) -> int:
    """Sign a checkpoint over the current head of LOG now (anchors the latest records)."""
    from kastell.audit.codec import format_time
    from kastell.audit.keys import Ed25519Signer
    from kastell.audit.log import AuditLog
    from kastell.audit.store import AuditStore
    from kastell.cli.signing import read_passphrase

    signer = Ed25519Signer.from_pem(private_key, read_passphrase(passphrase_env, passphrase_file))
    AuditStore.open(log, create=False).close()  # refuse to create a log by accident
    audit_log = AuditLog.open(log, signer=signer)
    try:
        made = audit_log.checkpoint()
    finally:
        audit_log.store.close()
    result = {
        "checkpoint_seq": made.seq if made else None,
        "head_hash": made.head_hash if made else None,
        "time": format_time(made.time) if made else None,
        "key_id": signer.key_id,
    }
    if output_format == "json":
        emit_json(result)
    elif made is None:
        click.echo("nothing to anchor: the head is already covered by a checkpoint")
    else:
        click.echo(f"checkpoint at seq {made.seq} signed by key {signer.key_id[:16]}")
    return 0


@audit.command("prune")
@_LOG
@_KEYS
@click.option(
    "--keep-days",
    type=click.IntRange(min=1),
    default=183,
    show_default=True,
    envvar="KASTELL_AUDIT_KEEP_DAYS",
    help="Keep records this many days (AI Act: at least six months).",
)
@click.option("--force", is_flag=True, help="Allow a retention shorter than six months.")
@FORMAT_OPTION
def prune(
    log: str, keys: tuple[pathlib.Path, ...], keep_days: int, force: bool, output_format: str
) -> int:
    """Remove records of LOG older than the retention, up to a signed checkpoint."""
    from kastell.audit.interface import AuditConfigError
    from kastell.audit.retention import RetentionPolicy
    from kastell.audit.retention import prune as prune_log
    from kastell.audit.store import AuditStore

    policy = RetentionPolicy(keep=dt.timedelta(days=keep_days), force=force)
    if not keys:
        raise AuditConfigError(
            "prune needs the checkpoint public key(s): the log is verified before anything goes",
            hint="Pass --key PUB.pem (repeat for rotated keys) or set KASTELL_AUDIT_KEYS.",
        )
    ring = _ring(keys)
    store = AuditStore.open(log, create=False)
    try:
        result = prune_log(store, policy, ring, now=dt.datetime.now(dt.UTC))
    finally:
        store.close()
    if output_format == "json":
        emit_json(
            {
                "cutoff": result.cutoff.isoformat(),
                "pruned_through": result.pruned_through,
                "records_deleted": result.records_deleted,
            }
        )
    else:
        click.echo(
            f"deleted {result.records_deleted} record(s); the log now starts after seq "
            f"{result.pruned_through} (cut-off {result.cutoff:%Y-%m-%d %H:%M} UTC)"
        )
    return 0


@audit.command("keygen")
@click.option("--private", "private_path", type=_Path, required=True, help="Private key (PEM).")
@click.option("--public", "public_path", type=_Path, required=True, help="Public key (PEM).")
@FORMAT_OPTION
def keygen(private_path: pathlib.Path, public_path: pathlib.Path, output_format: str) -> int:
    """Generate an Ed25519 key pair for signing audit checkpoints."""
    from kastell.audit.keys import write_key_pair

    key_id = write_key_pair(private_path, public_path)
    if output_format == "json":
        emit_json({"key_id": key_id, "private": str(private_path), "public": str(public_path)})
    else:
        click.echo(f"wrote {private_path} (keep secret) and {public_path}; key id {key_id}")
    return 0
