"""Helpers shared by the audit tests."""

from __future__ import annotations

import datetime as dt


class FixedClock:
    """A clock the test moves by hand."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


def build_log(
    location: str, signer: object, clock: FixedClock, *, count: int = 12, every: int = 4
) -> list[object]:
    """A log of ``count`` request records, checkpointed every ``every`` and closed."""
    from kastell.audit import AuditEvent, AuditLog, EventType
    from kastell.types import Digest

    records = []
    with AuditLog.open(location, signer=signer, checkpoint_every=every, clock=clock) as log:  # type: ignore[arg-type]
        for index in range(count):
            clock.advance(seconds=1)
            records.append(
                log.append(
                    AuditEvent(
                        EventType.REQUEST,
                        tenant="acme",
                        request_id=f"req-{index + 1}",
                        prompt_digest=Digest("sha256", f"{index:064x}"),
                    )
                )
            )
    return records
