"""Cost of the tamper-evident audit log against a plain durable insert, in the same run.

No anchor tool has a tamper-evident log (LLM Guard, NeMo Guardrails, LiteLLM log plain rows or
lines), so the reference is the least any durable log must do: one SQLite row per event,
committed in WAL mode with synchronous=FULL, the same settings Kastell uses. Printed: append
latency at concurrency 1 (p50/p99), throughput with 16 writer threads (Kastell group-commits),
and verification speed. Optionally the same on PostgreSQL (--postgres URL; a scratch schema is
created and dropped).

    python benchmarks/bench_audit.py [--records 300] [--postgres postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import pathlib
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable

from kastell.audit import AuditEvent, AuditLog, Decision, Ed25519Signer, EventType
from kastell.audit.evidence import verify_location
from kastell.audit.keys import PublicKeyRing
from kastell.types import Digest, Severity

EVENT = AuditEvent(
    EventType.RESPONSE,
    tenant="acme",
    request_id="req-0123456789abcdef",
    decision=Decision.ALLOW,
    rule_ids=("guard.pii.email",),
    severity=Severity.INFO,
    prompt_digest=Digest("sha256", "ab" * 32),
    served_model_digest=Digest("sha256", "cd" * 32),
    redacted_text="Please summarise the message from [EMAIL] about the invoice. " * 3,
    upstream="local",
    status=200,
    latency_us=1834,
)
PLAIN_ROW = json.dumps({"type": "response", "tenant": "acme", "text": EVENT.redacted_text})


class PlainLog:
    """The reference: one durable SQLite row per event, nothing chained or signed."""

    def __init__(self, path: pathlib.Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, body TEXT)")
        self._lock = threading.Lock()

    def append(self) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute("INSERT INTO log (body) VALUES (?)", (PLAIN_ROW,))
            self._db.execute("COMMIT")


def _latencies(append: Callable[[], object], count: int) -> tuple[float, float]:  # PostgreSQL
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        append()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples) * 1e3, samples[int(len(samples) * 0.99) - 1] * 1e3


def _throughput(append: Callable[[], object], threads: int, each: int) -> float:
    return _side_by_side([append], threads, each)[0]


def _side_by_side(appenders: list[Callable[[], object]], threads: int, each: int) -> list[float]:
    """Rates of appenders run at the same time, ``threads`` writers each (same disk, same load)."""
    finished = [0.0] * len(appenders)
    start = time.perf_counter()

    def group(index: int) -> None:
        workers = [
            threading.Thread(target=lambda: [appenders[index]() for _ in range(each)])
            for _ in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        finished[index] = time.perf_counter() - start

    groups = [threading.Thread(target=group, args=(i,)) for i in range(len(appenders))]
    for thread in groups:
        thread.start()
    for thread in groups:
        thread.join()
    return [threads * each / elapsed for elapsed in finished]


def _interleaved(
    first: Callable[[], object], second: Callable[[], object], count: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Latencies of two appenders called alternately (the disk's mood hits both alike)."""
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(count):
        for index, append in enumerate((first, second)):
            start = time.perf_counter()
            append()
            samples[index].append(time.perf_counter() - start)
    out = []
    for series in samples:
        series.sort()
        out.append((statistics.median(series) * 1e3, series[int(len(series) * 0.99) - 1] * 1e3))
    return out[0], out[1]


def _kastell_run(location: str, records: int, plain: PlainLog | None = None) -> dict[str, float]:
    signer = Ed25519Signer.generate()
    log = AuditLog.open(location, signer=signer, checkpoint_every=1000)
    if plain is not None:
        (plain_p50, plain_p99), (p50, p99) = _interleaved(
            plain.append, lambda: log.append(EVENT), records
        )
    else:
        plain_p50 = plain_p99 = float("nan")
        p50, p99 = _latencies(lambda: log.append(EVENT), records)
    each = max(records // 8, 10)
    if plain is not None:
        plain_rate, rate = _side_by_side([plain.append, lambda: log.append(EVENT)], 16, each)
    else:
        plain_rate, rate = float("nan"), _throughput(lambda: log.append(EVENT), 16, each)
    log.close()
    start = time.perf_counter()
    report, _ = verify_location(
        location, PublicKeyRing.of([signer.public_key]), now=dt.datetime.now(dt.UTC)
    )
    verify_rate = report.records / (time.perf_counter() - start)
    if not report.ok:
        raise SystemExit(f"benchmark log does not verify: {report.issues[:3]}")
    return {
        "p50": p50,
        "p99": p99,
        "rate": rate,
        "verify": verify_rate,
        "plain_p50": plain_p50,
        "plain_p99": plain_p99,
        "plain_rate": plain_rate,
    }


def _postgres(url: str, records: int) -> dict[str, float]:
    import sqlalchemy as sa

    schema = f"kastell_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        separator = "&" if "?" in url else "?"
        return _kastell_run(f"{url}{separator}options=-csearch_path%3D{schema}", records)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        plain = PlainLog(pathlib.Path(scratch) / "plain.db")
        kastell = _kastell_run(str(pathlib.Path(scratch) / "audit.db"), args.records, plain)
        plain_p50, plain_p99 = kastell["plain_p50"], kastell["plain_p99"]
        plain_rate = kastell["plain_rate"]
    print(
        f"SQLite, {args.records} appends at concurrency 1 (the two logs alternating), "
        "then 16 writer threads on each log at the same time"
    )
    print(
        f"  plain durable insert: p50 {plain_p50:.2f} ms  p99 {plain_p99:.2f} ms  "
        f"{plain_rate:.0f} rows/s"
    )
    print(
        f"  kastell audit append: p50 {kastell['p50']:.2f} ms  p99 {kastell['p99']:.2f} ms  "
        f"{kastell['rate']:.0f} records/s  (verify {kastell['verify']:.0f} records/s)"
    )
    print(
        f"  ratio kastell/plain: p50 x{kastell['p50'] / plain_p50:.2f}, "
        f"throughput x{kastell['rate'] / plain_rate:.2f}"
    )
    if args.postgres:
        pg = _postgres(args.postgres, args.records)
        print(
            f"PostgreSQL: p50 {pg['p50']:.2f} ms  p99 {pg['p99']:.2f} ms  "
            f"{pg['rate']:.0f} records/s  (verify {pg['verify']:.0f} records/s)"
        )


if __name__ == "__main__":
    main()
