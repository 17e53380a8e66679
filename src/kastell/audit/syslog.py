"""Syslog delivery of exported events: RFC 5424 messages over UDP or TCP.

Each message is ``<PRI>1 TIMESTAMP HOSTNAME kastell - MSGID - MSG`` (RFC 5424, facility 13
"log audit", severity from the record). Over UDP one message is one datagram (RFC 5426); over
TCP messages are framed by octet counting, ``LENGTH SP MESSAGE`` (RFC 6587 section 3.4.1), which
survives line breaks in the payload.
"""

from __future__ import annotations

import dataclasses
import socket
import urllib.parse
from types import TracebackType

from kastell.audit.codec import format_time
from kastell.audit.interface import AuditConfigError, AuditRecord, ExportDeliveryError
from kastell.types import Severity

__all__ = ["SyslogAddress", "SyslogSender", "parse_syslog_url", "rfc5424_message"]

_FACILITY_LOG_AUDIT = 13
_SYSLOG_SEVERITY = {
    Severity.INFO: 6,
    Severity.LOW: 5,
    Severity.MEDIUM: 4,
    Severity.HIGH: 3,
    Severity.CRITICAL: 2,
}
_MAX_UDP = 65_000


@dataclasses.dataclass(frozen=True)
class SyslogAddress:
    """Where the collector listens."""

    transport: str
    """``udp`` or ``tcp``."""
    host: str
    port: int


def parse_syslog_url(url: str) -> SyslogAddress:
    """Parse ``udp://host:port`` or ``tcp://host:port``.

    Raises:
        AuditConfigError: another scheme, or no host or port.
    """
    parsed = urllib.parse.urlsplit(url)
    hint = "Write the collector as udp://host:port or tcp://host:port, e.g. udp://siem:514."
    if parsed.scheme not in ("udp", "tcp"):
        raise AuditConfigError(f"syslog address {url!r} is not udp:// or tcp://", hint=hint)
    try:
        port = parsed.port
    except ValueError:
        raise AuditConfigError(f"syslog address {url!r} has a bad port", hint=hint) from None
    if not parsed.hostname or port is None:
        raise AuditConfigError(f"syslog address {url!r} needs a host and a port", hint=hint)
    return SyslogAddress(parsed.scheme, parsed.hostname, port)


def rfc5424_message(record: AuditRecord, payload: str, hostname: str) -> bytes:
    """An RFC 5424 syslog message carrying ``payload`` for ``record``."""
    priority = _FACILITY_LOG_AUDIT * 8 + _SYSLOG_SEVERITY[record.event.severity]
    host = "".join(ch for ch in hostname if 33 <= ord(ch) <= 126)[:255] or "-"
    stamp = format_time(record.time)
    msgid = record.event.event_type.value[:32]
    return f"<{priority}>1 {stamp} {host} kastell - {msgid} - {payload}".encode()


class SyslogSender:
    """Sends syslog messages to one collector; use as a context manager."""

    def __init__(self, address: SyslogAddress, *, timeout_s: float = 10.0) -> None:
        self.address = address
        self._timeout = timeout_s
        self._socket: socket.socket | None = None

    def __enter__(self) -> SyslogSender:
        kind = socket.SOCK_DGRAM if self.address.transport == "udp" else socket.SOCK_STREAM
        sock: socket.socket | None = None
        try:
            info = socket.getaddrinfo(self.address.host, self.address.port, type=kind)
            family, socktype, proto, _, target = info[0]
            sock = socket.socket(family, socktype, proto)
            sock.settimeout(self._timeout)
            sock.connect(target)
        except OSError as error:
            if sock is not None:
                sock.close()
            raise ExportDeliveryError(
                f"cannot reach syslog collector {self.address.transport}://"
                f"{self.address.host}:{self.address.port}: {error}"
            ) from None
        self._socket = sock
        return self

    def send(self, message: bytes) -> None:
        """Send one message (framed for TCP).

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
                        hint="Send over tcp:// instead.",
                    )
                self._socket.send(message)
            else:
                self._socket.sendall(f"{len(message)} ".encode("ascii") + message)
        except OSError as error:
            raise ExportDeliveryError(f"syslog delivery failed: {error}") from None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
