"""Syslog delivery of exported events: RFC 5424 messages over UDP, TCP or TLS.

Each message is ``<PRI>1 TIMESTAMP HOSTNAME kastell - MSGID - MSG`` (RFC 5424, facility 13
"log audit", severity from the record). Over UDP one message is one datagram (RFC 5426); over
TCP and TLS messages are framed by octet counting, ``LENGTH SP MESSAGE`` (RFC 6587 section
3.4.1, RFC 5425 section 4.3), which survives line breaks in the payload.

TLS (``tls://host:port``, RFC 5425) needs TLS 1.2 or newer and always verifies the collector's
certificate chain (``SyslogTls.ca_file``, else the system trust store) and that it names
``host``. A client certificate (``cert_file``, ``key_file``) gives mutual TLS. A TLS 1.3 client
finishes its handshake before the server has judged the client certificate, so the sender waits
briefly for that verdict (an alert, or the server's session ticket) before sending anything.
"""

from __future__ import annotations

import dataclasses
import pathlib
import socket
import ssl
import time
import urllib.parse
from types import TracebackType

from kastell.audit.codec import format_time
from kastell.audit.interface import AuditConfigError, AuditRecord, ExportDeliveryError
from kastell.types import Severity

__all__ = [
    "SyslogAddress",
    "SyslogSender",
    "SyslogTls",
    "parse_syslog_url",
    "rfc5424_message",
    "tls_context",
]

_FACILITY_LOG_AUDIT = 13
_SYSLOG_SEVERITY = {
    Severity.INFO: 6,
    Severity.LOW: 5,
    Severity.MEDIUM: 4,
    Severity.HIGH: 3,
    Severity.CRITICAL: 2,
}
_MAX_UDP = 65_000
_TRANSPORTS = ("udp", "tcp", "tls")
_VERDICT_WAIT_S = 0.5
_VERDICT_POLL_S = 0.05
# OpenSSL X509_V_ERR_* codes of certificate verification failures
_NAME_MISMATCH = {62, 64}
_UNTRUSTED_ISSUER = {2, 18, 19, 20, 21}
_EXPIRED = {10}
_PEER_REFUSED = ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_UNKNOWN")


@dataclasses.dataclass(frozen=True)
class SyslogTls:
    """TLS settings of a ``tls://`` collector (RFC 5425)."""

    ca_file: pathlib.Path | None = None
    """CA bundle (PEM) that issued the collector's certificate; None: the system trust store."""
    cert_file: pathlib.Path | None = None
    """Client certificate (PEM) for mutual TLS; may hold the key too."""
    key_file: pathlib.Path | None = None
    """Unencrypted private key (PEM) of ``cert_file``, when not in the same file."""


@dataclasses.dataclass(frozen=True)
class SyslogAddress:
    """Where the collector listens."""

    transport: str
    """``udp``, ``tcp`` or ``tls``."""
    host: str
    port: int
    tls: SyslogTls | None = None
    """TLS settings (only for ``tls``)."""


def parse_syslog_url(url: str, *, tls: SyslogTls | None = None) -> SyslogAddress:
    """Parse ``udp://host:port``, ``tcp://host:port`` or ``tls://host:port``.

    Args:
        url: the collector address.
        tls: TLS settings; only for ``tls://`` (default: system trust store, no client cert).

    Raises:
        AuditConfigError: another scheme, no host or port, or TLS settings for plain transport.
    """
    parsed = urllib.parse.urlsplit(url)
    hint = "Write the collector as udp://host:port, tcp://host:port or tls://host:port."
    if parsed.scheme not in _TRANSPORTS:
        raise AuditConfigError(f"syslog address {url!r} is not udp://, tcp:// or tls://", hint=hint)
    try:
        port = parsed.port
    except ValueError:
        raise AuditConfigError(f"syslog address {url!r} has a bad port", hint=hint) from None
    if not parsed.hostname or port is None:
        raise AuditConfigError(f"syslog address {url!r} needs a host and a port", hint=hint)
    if parsed.scheme != "tls":
        if tls is not None and tls != SyslogTls():
            raise AuditConfigError(
                f"TLS options were given for the {parsed.scheme}:// collector {url!r}",
                hint=f"Use tls://{parsed.hostname}:{port} (RFC 5425), or drop the TLS options.",
            )
        return SyslogAddress(parsed.scheme, parsed.hostname, port)
    settings = tls or SyslogTls()
    if settings.key_file is not None and settings.cert_file is None:
        raise AuditConfigError(
            "a client key was given without its client certificate",
            hint="Pass the client certificate too (--syslog-cert), or drop --syslog-key.",
        )
    return SyslogAddress("tls", parsed.hostname, port, settings)


def _encrypted_key() -> bytes:
    raise AuditConfigError(
        "the syslog client key is encrypted",
        hint="Give an unencrypted key file readable only by the exporting user (mode 0600).",
    )


def tls_context(settings: SyslogTls) -> ssl.SSLContext:
    """A client context: TLS 1.2 or newer, chain and host name always verified.

    Raises:
        AuditConfigError: the CA bundle, certificate or key cannot be read or loaded.
    """
    ca = settings.ca_file
    try:
        context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    except (OSError, ssl.SSLError) as error:
        raise AuditConfigError(
            f"cannot load the syslog CA bundle {ca}: {error}",
            hint="Give a readable PEM file with the CA certificate(s) (--syslog-ca).",
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if settings.cert_file is not None:
        cert, key = settings.cert_file, settings.key_file
        try:
            context.load_cert_chain(cert, key, password=_encrypted_key)
        except (OSError, ssl.SSLError) as error:
            raise AuditConfigError(
                f"cannot load the syslog client certificate {cert} / key {key or cert}: {error}",
                hint="Give the client certificate and its private key as PEM files "
                "(--syslog-cert, --syslog-key).",
            ) from None
    return context


def _tls_failure(address: SyslogAddress, error: ssl.SSLError) -> ExportDeliveryError:
    """An actionable delivery error for a failed or refused TLS handshake."""
    where = f"tls://{address.host}:{address.port}"
    if isinstance(error, ssl.SSLCertVerificationError):
        code = error.verify_code
        if code in _NAME_MISMATCH:
            hint = (
                f"The collector's certificate does not name {address.host}. Connect with a "
                f"name it holds (tls://NAME:{address.port}) or have it reissued with "
                f"{address.host} as a subject alternative name (name checks stay on)."
            )
        elif code in _UNTRUSTED_ISSUER:
            hint = (
                "The collector's certificate is not issued by a trusted CA: pass the CA that "
                "issued it with --syslog-ca CA.pem (without it the system trust store is used)."
            )
        elif code in _EXPIRED:
            hint = "The collector's certificate has expired (or this machine's clock is wrong)."
        else:
            hint = "Check the collector's certificate chain with openssl s_client."
        return ExportDeliveryError(
            f"TLS handshake with syslog collector {where} failed: certificate verify "
            f"failed: {error.verify_message}",
            hint=hint,
        )
    reason = str(error.reason or error)
    if any(marker in reason.upper() for marker in _PEER_REFUSED):
        hint = (
            "The collector refused this client's certificate (or its absence): pass "
            "--syslog-cert and --syslog-key with a certificate the collector trusts (mutual TLS)."
        )
    else:
        hint = "Check that the collector speaks TLS (RFC 5425) on this port, with TLS 1.2 or newer."
    return ExportDeliveryError(f"TLS with syslog collector {where} failed: {reason}", hint=hint)


def rfc5424_message(record: AuditRecord, payload: str, hostname: str) -> bytes:
    """An RFC 5424 syslog message carrying ``payload`` for ``record``."""
    priority = _FACILITY_LOG_AUDIT * 8 + _SYSLOG_SEVERITY[record.event.severity]
    host = "".join(ch for ch in hostname if 33 <= ord(ch) <= 126)[:255] or "-"
    stamp = format_time(record.time)
    msgid = record.event.event_type.value[:32]
    return f"<{priority}>1 {stamp} {host} kastell - {msgid} - {payload}".encode()


def _close(sock: socket.socket | None) -> None:
    if sock is not None:
        sock.close()


class SyslogSender:
    """Sends syslog messages to one collector; use as a context manager."""

    def __init__(
        self,
        address: SyslogAddress,
        *,
        timeout_s: float = 10.0,
        verdict_wait_s: float = _VERDICT_WAIT_S,
    ) -> None:
        """Prepare a sender (a ``tls`` address gets its TLS context now).

        Raises:
            AuditConfigError: the TLS CA bundle, certificate or key cannot be loaded.
        """
        self.address = address
        self._timeout = timeout_s
        self._verdict_wait = verdict_wait_s
        self._socket: socket.socket | None = None
        self._context = (
            tls_context(address.tls or SyslogTls()) if address.transport == "tls" else None
        )

    def _url(self) -> str:
        return f"{self.address.transport}://{self.address.host}:{self.address.port}"

    def __enter__(self) -> SyslogSender:
        kind = socket.SOCK_DGRAM if self.address.transport == "udp" else socket.SOCK_STREAM
        sock: socket.socket | None = None
        try:
            info = socket.getaddrinfo(self.address.host, self.address.port, type=kind)
            family, socktype, proto, _, target = info[0]
            sock = socket.socket(family, socktype, proto)
            sock.settimeout(self._timeout)
            sock.connect(target)
            if self._context is not None:
                sock = self._context.wrap_socket(sock, server_hostname=self.address.host)
                self._await_verdict(sock)
        except ssl.SSLError as error:
            _close(sock)
            raise _tls_failure(self.address, error) from None
        except OSError as error:
            _close(sock)
            raise ExportDeliveryError(
                f"cannot reach syslog collector {self._url()}: {error}"
            ) from None
        except ExportDeliveryError:
            _close(sock)
            raise
        self._socket = sock
        return self

    def _await_verdict(self, sock: socket.socket) -> None:
        """TLS 1.3: wait for the server's verdict on the client certificate before sending.

        A refusal arrives as an alert; acceptance usually as a session ticket. A server that
        sends neither is given ``verdict_wait_s``.
        """
        if not isinstance(sock, ssl.SSLSocket) or sock.version() != "TLSv1.3":
            return  # up to TLS 1.2 the handshake itself carries the verdict
        deadline = time.monotonic() + self._verdict_wait
        try:
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(min(left, _VERDICT_POLL_S))
                try:
                    data = sock.recv(1)
                except TimeoutError:
                    session = sock.session
                    if session is not None and session.has_ticket:
                        return
                    continue
                if not data:
                    raise ExportDeliveryError(
                        f"syslog collector {self._url()} closed the connection after the "
                        "TLS handshake",
                        hint="Check the collector's log: it may require a client certificate.",
                    )
        finally:
            sock.settimeout(self._timeout)

    def send(self, message: bytes) -> None:
        """Send one message (framed for TCP and TLS).

        Raises:
            ExportDeliveryError: the collector refused the message or went away.
        """
        if self._socket is None:
            raise ExportDeliveryError("syslog sender used outside its `with` block")
        try:
            if self.address.transport == "udp":
                if len(message) > _MAX_UDP:
                    raise ExportDeliveryError(
                        f"a syslog message of {len(message)} bytes does not fit a UDP datagram",
                        hint="Send over tcp:// or tls:// instead.",
                    )
                self._socket.send(message)
            else:
                self._socket.sendall(f"{len(message)} ".encode("ascii") + message)
        except ssl.SSLError as error:
            raise _tls_failure(self.address, error) from None
        except OSError as error:
            raise ExportDeliveryError(f"syslog delivery failed: {error}") from None

    def confirm(self) -> None:
        """Check, without waiting, that a TCP or TLS collector has not dropped the connection.

        A collector that closed the connection or sent a TLS alert may have lost messages
        already handed to the kernel. Call it after the last message.

        Raises:
            ExportDeliveryError: the collector closed or refused the connection.
        """
        sock = self._socket
        if sock is None or self.address.transport == "udp":
            return
        sock.settimeout(0.0)
        try:
            data = sock.recv(1)
        except (ssl.SSLWantReadError, BlockingIOError):
            return  # nothing from the collector: the connection is open
        except ssl.SSLError as error:
            raise _tls_failure(self.address, error) from None
        except OSError as error:
            raise ExportDeliveryError(f"syslog collector {self._url()}: {error}") from None
        finally:
            sock.settimeout(self._timeout)
        if not data:
            raise ExportDeliveryError(
                f"syslog collector {self._url()} closed the connection; messages sent on it "
                "may be lost"
            )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
