"""SIEM export: records of the log as OCSF JSON lines or CEF, to a stream or a syslog collector.

Pure: ``export_lines`` turns stored rows into (record, text) pairs; the CLI decides where the
text goes. A row that does not parse stops the export with ``RecordFormatError``: a SIEM must not
receive a silently incomplete copy (run ``kastell audit verify`` to see what happened).
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Iterable, Iterator

from kastell.audit.cef import to_cef
from kastell.audit.codec import parse_record
from kastell.audit.interface import AuditConfigError, AuditRecord, StoredRow
from kastell.audit.ocsf import to_ocsf_line

__all__ = ["ExportFormat", "export_lines", "parse_since"]

_RELATIVE = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class ExportFormat(enum.StrEnum):
    """The SIEM formats Kastell writes."""

    OCSF = "ocsf"
    CEF = "cef"


_RENDERERS: dict[ExportFormat, Callable[[AuditRecord], str]] = {
    ExportFormat.OCSF: to_ocsf_line,
    ExportFormat.CEF: to_cef,
}


def export_lines(
    rows: Iterable[StoredRow], export_format: ExportFormat
) -> Iterator[tuple[AuditRecord, str]]:
    """Each stored row as its parsed record and its rendering in ``export_format``.

    Raises:
        RecordFormatError: a stored row is not a valid record.
    """
    render = _RENDERERS[export_format]
    for row in rows:
        record = parse_record(row.body)
        yield record, render(record)


def parse_since(text: str, *, now: dt.datetime) -> dt.datetime:
    """Parse ``--since``: an ISO 8601 date or time (UTC if no zone) or a duration like ``7d``.

    Raises:
        AuditConfigError: neither form.
    """
    relative = _RELATIVE.match(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return now - dt.timedelta(**{_UNITS[unit]: amount})
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise AuditConfigError(
            f"--since {text!r} is neither an ISO 8601 time nor a duration",
            hint="For example --since 2026-01-31, --since 2026-01-31T12:00:00+01:00 or --since 7d.",
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
