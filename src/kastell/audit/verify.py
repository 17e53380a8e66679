"""Verification of an audit log: chain, sequence, stored columns and signed checkpoints.

Pure: ``verify_log`` takes the rows and checkpoints as read from the database (in storage
order), the trusted keys and the time, and returns a ``VerificationReport``. It detects

- **modified** records: the body does not hash to the stored hash, a derived column differs from
  the body, a body is malformed, or a record no longer links to its predecessor;
- **deleted** records: gaps in the sequence, a missing start without a signed anchor, or a
  signed checkpoint beyond the end of the log (truncation);
- **inserted** records: two records with one sequence number, or a record of another log;
- **reordered** records: a record stored after a record with a higher sequence number;
- **checkpoint** problems: a signature by an unknown key, an invalid signature, or a signed head
  hash that the records no longer produce (the chain was rewritten);
- **premature pruning**: the log starts after a checkpoint younger than the retention minimum.

Records after the last valid checkpoint are *unanchored*: their chain is intact, but someone
with write access to the database could have rewritten or truncated them undetectably.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import enum
import heapq
from collections.abc import Iterable, Sequence

from kastell.audit.codec import checkpoint_payload, parse_record, parse_time
from kastell.audit.interface import (
    GENESIS_HASH,
    AuditRecord,
    RecordFormatError,
    StoredCheckpoint,
    StoredRow,
)
from kastell.audit.keys import PublicKeyRing
from kastell.audit.store import to_micros
from kastell.types import ControlId, Finding, Location, Severity

__all__ = ["Issue", "IssueKind", "VerificationReport", "report_findings", "verify_log"]

_WINDOW = 4096
"""Records put back into sequence order before the chain check (reorders within this window)."""


class IssueKind(enum.StrEnum):
    """The kinds of tampering verification reports."""

    MODIFIED = "modified"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    PREMATURE_PRUNE = "premature_prune"


@dataclasses.dataclass(frozen=True)
class Issue:
    """One problem found, at a sequence number when there is one."""

    kind: IssueKind
    seq: int | None
    message: str


@dataclasses.dataclass(frozen=True)
class VerificationReport:
    """What verification found."""

    log_id: str | None
    records: int
    first_seq: int | None
    last_seq: int | None
    valid_checkpoints: int
    anchored_through: int
    """Highest sequence number covered by a valid checkpoint that matches the records (0: none)."""
    unanchored: int
    """Records after ``anchored_through``: intact chain, but not protected by a signature."""
    pruned_through: int
    """Records up to this sequence number were pruned under a signed anchor (0: none)."""
    issues: tuple[Issue, ...]
    head_hash: str | None = None
    """Hash of the last record, in sequence order (None for an empty log)."""

    @property
    def ok(self) -> bool:
        """True when no tampering was found (unanchored records are not tampering)."""
        return not self.issues


@dataclasses.dataclass
class _Chain:
    """Mutable state of one verification pass."""

    checkpoint_seqs: frozenset[int]
    issues: list[Issue] = dataclasses.field(default_factory=list)
    log_id: str | None = None
    count: int = 0
    first: AuditRecord | None = None
    last_seq: int = 0
    last_hashes: set[str] = dataclasses.field(default_factory=set)
    hash_at: dict[int, str] = dataclasses.field(default_factory=dict)
    gaps: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    late: set[int] = dataclasses.field(default_factory=set)
    stored_max: int = 0

    def add(self, kind: IssueKind, seq: int | None, message: str) -> None:
        self.issues.append(Issue(kind, seq, message))


def _check_row(chain: _Chain, row: StoredRow) -> AuditRecord | None:
    """Checks of one stored row on its own; the parsed record if it is usable for the chain."""
    try:
        record = parse_record(row.body)
    except RecordFormatError as error:
        chain.add(IssueKind.MODIFIED, row.seq, f"record at position {row.seq}: {error.message}")
        return None
    if record.hash != row.hash:
        chain.add(IssueKind.MODIFIED, record.seq, f"record {record.seq} does not match its hash")
        # chain on from the stored hash, so one edited body is reported once
        record = dataclasses.replace(record, hash=row.hash)
    derived = (to_micros(record.time), record.event.event_type.value, record.event.tenant)
    if derived != (row.time_us, row.event_type, row.tenant):
        chain.add(
            IssueKind.MODIFIED, record.seq, f"record {record.seq}: stored columns differ from it"
        )
    if chain.log_id is None:
        chain.log_id = record.log_id
    elif record.log_id != chain.log_id:
        chain.add(IssueKind.INSERTED, record.seq, f"record {record.seq} belongs to another log")
        return None
    if record.seq < chain.stored_max:
        chain.add(
            IssueKind.REORDERED,
            record.seq,
            f"record {record.seq} is stored after record {chain.stored_max}",
        )
    chain.stored_max = max(chain.stored_max, record.seq)
    return record


def _link(chain: _Chain, record: AuditRecord) -> None:
    """Check one record against its predecessor, records taken in sequence order."""
    seq = record.seq
    chain.count += 1
    if chain.first is None:
        chain.first = record
    elif seq == chain.last_seq:
        chain.add(IssueKind.INSERTED, seq, f"two records claim sequence number {seq}")
        chain.last_hashes.add(record.hash)
        return
    elif seq < chain.last_seq:
        chain.late.add(seq)  # stored far out of order: reported by _check_row already
        return
    elif seq > chain.last_seq + 1:
        chain.gaps.append((chain.last_seq + 1, seq - 1))
    elif record.prev_hash not in chain.last_hashes:
        chain.add(
            IssueKind.MODIFIED,
            seq - 1,
            f"record {seq} does not link to record {seq - 1}: one of them was rewritten",
        )
    chain.last_seq = seq
    chain.last_hashes = {record.hash}
    if seq in chain.checkpoint_seqs:
        chain.hash_at[seq] = record.hash


def _signed_checkpoints(
    issues: list[Issue], checkpoints: Sequence[StoredCheckpoint], keys: PublicKeyRing
) -> list[StoredCheckpoint]:
    valid = []
    for checkpoint in checkpoints:
        seq = checkpoint.seq
        try:
            signature = base64.b64decode(checkpoint.signature, validate=True)
            payload = checkpoint_payload(
                log_id=checkpoint.log_id,
                seq=seq,
                head_hash=checkpoint.head_hash,
                time=parse_time(checkpoint.time),
            )
        except (binascii.Error, ValueError, RecordFormatError):
            issues.append(Issue(IssueKind.BAD_SIGNATURE, seq, f"checkpoint at {seq} is malformed"))
            continue
        verdict = keys.verify(checkpoint.key_id, signature, payload)
        if verdict is None:
            issues.append(
                Issue(
                    IssueKind.UNKNOWN_KEY,
                    seq,
                    f"checkpoint at {seq} is signed by unknown key {checkpoint.key_id[:16]}",
                )
            )
        elif not verdict:
            issues.append(
                Issue(IssueKind.BAD_SIGNATURE, seq, f"checkpoint at {seq} has a bad signature")
            )
        else:
            valid.append(checkpoint)
    return valid


def _check_start(
    chain: _Chain, signed: Sequence[StoredCheckpoint], now: dt.datetime, minimum: dt.timedelta
) -> StoredCheckpoint | None:
    """Check how the log starts; return the checkpoint it was pruned under, if any."""
    first = chain.first
    if first is None:
        anchor = signed[-1] if signed else None
    elif first.seq == 1:
        if first.prev_hash != GENESIS_HASH:
            chain.add(IssueKind.MODIFIED, 1, "record 1 does not start a chain")
        return None
    else:
        anchor = next((c for c in signed if c.seq == first.seq - 1), None)
        if anchor is None or anchor.head_hash != first.prev_hash:
            chain.add(
                IssueKind.DELETED,
                1,
                f"records 1..{first.seq - 1} are missing and no signed checkpoint anchors "
                f"record {first.seq}",
            )
            return None
    if anchor is not None:
        age = now - parse_time(anchor.time)
        if age < minimum:
            chain.add(
                IssueKind.PREMATURE_PRUNE,
                anchor.seq,
                f"records up to {anchor.seq} were removed {age.days} days after they were "
                f"anchored; the retention minimum is {minimum.days} days",
            )
    return anchor


def _check_checkpoints(chain: _Chain, signed: Sequence[StoredCheckpoint], pruned: int) -> int:
    """Compare signed heads with the records; return the highest anchored sequence number."""
    anchored = pruned
    last = max(chain.last_seq, pruned)
    for checkpoint in signed:
        seq = checkpoint.seq
        if seq <= pruned:
            continue
        if chain.log_id is not None and checkpoint.log_id != chain.log_id:
            chain.add(IssueKind.INSERTED, seq, f"checkpoint at {seq} belongs to another log")
        elif seq in chain.hash_at:
            if chain.hash_at[seq] == checkpoint.head_hash:
                anchored = max(anchored, seq)
            else:
                chain.add(
                    IssueKind.CHECKPOINT_MISMATCH,
                    seq,
                    f"record {seq} no longer has the hash its checkpoint signed: the chain "
                    "up to it was rewritten",
                )
        elif seq > last:
            chain.add(
                IssueKind.DELETED,
                last + 1,
                f"a checkpoint signs record {seq} but the log ends at {last}: "
                f"records {last + 1}..{seq} were removed",
            )
    return anchored


def _check_head(chain: _Chain, head_seq: int | None, pruned: int) -> None:
    last = max(chain.last_seq, pruned)
    if head_seq is None or head_seq == last:
        return
    if head_seq > last:
        chain.add(
            IssueKind.DELETED,
            last + 1,
            f"the log head says {head_seq} records were written but the log ends at {last}",
        )
    else:
        chain.add(
            IssueKind.INSERTED,
            head_seq + 1,
            f"records after {head_seq} were written behind the log's back (head is at "
            f"{head_seq}, records go to {last})",
        )


def _report_gaps(chain: _Chain) -> None:
    for low, high in chain.gaps:
        late = sum(1 for seq in chain.late if low <= seq <= high)
        if late < high - low + 1:
            what = f"record {low} is" if low == high else f"records {low}..{high} are"
            chain.add(IssueKind.DELETED, low, f"{what} missing")


def verify_log(
    rows: Iterable[StoredRow],
    checkpoints: Sequence[StoredCheckpoint],
    keys: PublicKeyRing,
    *,
    now: dt.datetime,
    min_retention: dt.timedelta = dt.timedelta(days=183),
    head_seq: int | None = None,
) -> VerificationReport:
    """Verify an audit log from its stored rows (storage order) and checkpoints (seq order).

    Args:
        rows: record rows as stored, in storage order.
        checkpoints: checkpoint rows, in sequence order.
        keys: the public keys trusted to sign checkpoints.
        now: the current time (for the retention check).
        min_retention: a log pruned under a checkpoint younger than this is reported.
        head_seq: the sequence number the head row claims (untrusted; a hint for truncation).
    """
    issues: list[Issue] = []
    signed = _signed_checkpoints(issues, checkpoints, keys)
    chain = _Chain(checkpoint_seqs=frozenset(c.seq for c in signed), issues=issues)
    pending: list[tuple[int, int, AuditRecord]] = []
    for index, row in enumerate(rows):
        record = _check_row(chain, row)
        if record is not None:
            heapq.heappush(pending, (record.seq, index, record))
            if len(pending) > _WINDOW:
                _link(chain, heapq.heappop(pending)[2])
    while pending:
        _link(chain, heapq.heappop(pending)[2])
    _report_gaps(chain)
    anchor = _check_start(chain, signed, now, min_retention)
    pruned = anchor.seq if anchor is not None else 0
    anchored = _check_checkpoints(chain, signed, pruned)
    _check_head(chain, head_seq, pruned)
    first_seq = chain.first.seq if chain.first is not None else None
    return VerificationReport(
        log_id=chain.log_id,
        records=chain.count,
        first_seq=first_seq,
        last_seq=chain.last_seq if chain.first is not None else None,
        valid_checkpoints=len(signed),
        anchored_through=anchored,
        unanchored=max(0, chain.last_seq - anchored) if chain.first is not None else 0,
        pruned_through=pruned,
        issues=tuple(sorted(chain.issues, key=lambda i: (i.seq or 0, i.kind.value))),
        head_hash=next(iter(chain.last_hashes)) if chain.last_hashes else None,
    )


_MAPPINGS = (ControlId("AIA-12.1"), ControlId("AIA-19"), ControlId("CRA-AI-I.2.l"))


def report_findings(report: VerificationReport, location: str) -> list[Finding]:
    """The issues of a report as shared ``Finding`` values (for SARIF/JUnit)."""
    return [
        Finding(
            rule_id=f"audit/{issue.kind.value}",
            severity=Severity.HIGH,
            title=f"Audit log {issue.kind.value.replace('_', ' ')}",
            message=issue.message,
            location=Location(location, member=f"seq {issue.seq}" if issue.seq else None),
            mappings=_MAPPINGS,
        )
        for issue in report.issues
    ]
