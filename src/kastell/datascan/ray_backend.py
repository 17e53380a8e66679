"""Ray backend: the per-record text families (injection, personal data) on Ray workers.

The text core's detectors are most of a screening's cost and need no state across records,
so each dataset file is screened for them by one Ray task (it reads the file itself and checks
its digest against the manifest, as the local run does). The driver merges the outcomes in file
order, which makes them identical to a local run's, and runs the families that need the whole
dataset (triggers, flooding, label flips) in its own single pass. Work is split per file: a
corpus in many Parquet or JSONL shards spreads well, one big file does not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.datascan.interface import (
    DatascanUsageError,
    DatasetReadError,
    Family,
    FamilyOutcome,
)
from kastell.datascan.readers import DataFile, DatasetFiles, read_records
from kastell.datascan.textchecks import InjectionDetector, PersonalDataDetector

__all__ = ["RAY_FAMILIES", "merge_outcomes", "screen_file_text", "text_families_on_ray"]

RAY_FAMILIES = (Family.INJECTION, Family.PERSONAL_DATA)
"""The families a Ray worker screens."""

_EXAMPLES = 20


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DatascanUsageError("the Ray backend needs the ray package",
                                 hint="pip install 'kastell[ray]', or run without --workers.",
                                 ) from None
    return ray


def screen_file_text(dataset: DatasetFiles, item: DataFile,
                     families: Sequence[Family]) -> dict[Family, FamilyOutcome]:
    """The text families' outcomes for one file (what a Ray task runs)."""
    detectors = [d for d in (InjectionDetector(), PersonalDataDetector()) if d.family in families]
    for record in read_records(dataset, item):
        for detector in detectors:
            detector.observe(0, record)
    return {d.family: d.finish() for d in detectors}


def _merge_counts(parts: list[Mapping[str, Any]]) -> dict[str, Any]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(sorted(total.items()))


def merge_outcomes(family: Family, parts: list[FamilyOutcome]) -> FamilyOutcome:
    """One family's outcomes of several files, in the order given (file order)."""
    hits = tuple(hit for part in parts for hit in part.hits)
    details: dict[str, Any] = {"detector": parts[0].details["detector"]} if parts else {}
    if family is Family.INJECTION:
        details["by_kind"] = _merge_counts([p.details.get("by_kind", {}) for p in parts])
    else:
        fields: dict[str, list[Mapping[str, Any]]] = {}
        for part in parts:
            for path, kinds in part.details.get("per_field", {}).items():
                fields.setdefault(path, []).append(kinds)
        details["per_field"] = {path: _merge_counts(kinds)
                                for path, kinds in sorted(fields.items())}
        examples = [e for part in parts for e in part.details.get("examples", [])]
        details["examples"] = examples[:_EXAMPLES]
    return FamilyOutcome(family, True, hits, details)


def text_families_on_ray(dataset: DatasetFiles, families: Sequence[Family], workers: int,
                         address: str | None = None) -> dict[Family, FamilyOutcome]:
    """Screen every file of ``dataset`` for ``families`` on Ray; merged in file order.

    Raises:
        DatascanUsageError: ray is not installed.
        DatasetReadError: a worker failed (its error is named).
    """
    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        local = {} if address else {"num_cpus": workers, "_node_ip_address": "127.0.0.1"}
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False, **local)
    try:
        task = ray.remote(screen_file_text)
        refs = [task.remote(dataset, item, tuple(families)) for item in dataset.files]
        try:
            results = ray.get(refs)
        except ray.exceptions.RayTaskError as error:
            cause = getattr(error, "cause", None)
            if isinstance(cause, Exception) and hasattr(cause, "exit_code"):
                raise cause from None
            raise DatasetReadError(f"a Ray worker failed: {error}") from None
    finally:
        if started_here:
            ray.shutdown()
    return {family: merge_outcomes(family, [r[family] for r in results]) for family in families}
