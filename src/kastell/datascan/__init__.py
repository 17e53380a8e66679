"""Dataset screening against poisoning: ``kastell data scan``.

Public API::

    from kastell.datascan import list_dataset, screen, ScreenOptions
    report = screen(list_dataset(Path("corpus/")), ScreenOptions(label_field="label"))
    report.outcome(Family.FLOODING).hits
"""

from __future__ import annotations

from kastell.datascan.engine import screen
from kastell.datascan.interface import (
    DatascanError,
    DatasetMismatchError,
    Family,
    FamilyOutcome,
    MalformedDatasetError,
    RecordHit,
    ScreeningReport,
    ScreenOptions,
)
from kastell.datascan.readers import list_dataset, read_records

__all__ = [
    "DatascanError",
    "DatasetMismatchError",
    "Family",
    "FamilyOutcome",
    "MalformedDatasetError",
    "RecordHit",
    "ScreenOptions",
    "ScreeningReport",
    "list_dataset",
    "read_records",
    "screen",
]
