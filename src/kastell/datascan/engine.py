"""The screening run: read every record once, feed every detector, conclude, name the records.

``screen`` takes the dataset files (``kastell.datascan.readers.list_dataset``) and the options,
and returns a :class:`ScreeningReport`. Detectors are built per run (no global state); families
in ``options.skip`` and families whose detector is not available are reported as not run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence

from kastell import __version__
from kastell.datascan.flooding import FloodingDetector
from kastell.datascan.interface import (
    Family,
    FamilyOutcome,
    FileSummary,
    Record,
    RecordDetector,
    RecordHit,
    ScreeningReport,
    ScreenOptions,
)
from kastell.datascan.readers import DatasetFiles, read_records
from kastell.datascan.records import label_of, response_of
from kastell.datascan.textchecks import InjectionDetector, PersonalDataDetector
from kastell.datascan.triggers import TriggerDetector, answer_class

__all__ = ["DetectorFactory", "answer_fields", "build_detectors", "screen"]

DetectorFactory = Callable[[ScreenOptions], Sequence[RecordDetector]]
"""Builds extra detectors for a run (the text-core families, or a test's own)."""


def answer_fields(options: ScreenOptions) -> frozenset[str]:
    """Field paths that hold the label or the answer (left out of the prompt side)."""
    names = {options.label_field or "label"}
    if options.response_field:
        names.add(options.response_field)
    else:
        names.update(("output", "response", "completion", "answer", "chosen"))
    return frozenset(names)


def build_detectors(options: ScreenOptions) -> list[RecordDetector]:
    """The datascan-own detectors for the families not skipped."""
    leave_out = answer_fields(options)

    def answer(record: Record) -> str | None:
        return response_of(record, options.response_field) or \
            label_of(record, options.label_field)

    def klass(record: Record) -> str | None:
        return answer_class(label_of(record, options.label_field),
                            response_of(record, options.response_field))

    detectors: list[RecordDetector] = []
    if Family.INJECTION not in options.skip:
        detectors.append(InjectionDetector())
    if Family.PERSONAL_DATA not in options.skip:
        detectors.append(PersonalDataDetector())
    if Family.FLOODING not in options.skip:
        detectors.append(FloodingDetector(options, answer,
                                          frozenset({options.label_field or "label"})))
    if Family.TRIGGER not in options.skip:
        detectors.append(TriggerDetector(options, klass, leave_out))
    if Family.LABEL_FLIP not in options.skip:
        from kastell.datascan.labels import LabelFlipDetector

        detectors.append(LabelFlipDetector(options, leave_out))
    return detectors


def _records(dataset: DatasetFiles, on_bytes: Callable[[int], None],
             only: Mapping[str, frozenset[int]] | None) -> Iterator[Record]:
    for item in dataset.files:
        if only is None:
            yield from read_records(dataset, item, on_bytes)
        elif item.path in only:
            wanted = only[item.path]
            yield from (r for r in read_records(dataset, item, on_bytes) if r.index in wanted)


def _second_pass(dataset: DatasetFiles, triggers: TriggerDetector,
                 on_bytes: Callable[[int], None],
                 only: Mapping[str, frozenset[int]] | None) -> tuple[RecordHit, ...]:
    hits: list[RecordHit] = []
    for record in _records(dataset, on_bytes, only):
        hits.extend(triggers.attribute(record))
    return tuple(hits)


def _explain_by_flooding(triggers: TriggerDetector,
                         outcomes: dict[Family, FamilyOutcome]) -> None:
    """A flooding cluster's repeated wording is not a trigger: drop its answer's candidates."""
    classes = {answer_class(None, cluster["dominant_answer"])
               for cluster in outcomes[Family.FLOODING].details["near_duplicate_clusters"]
               if cluster["flooding"] and cluster["dominant_answer"]}
    narrowed = triggers.drop_classes({c for c in classes if c is not None}, "flooding")
    if narrowed is not None:
        found = outcomes[Family.TRIGGER]
        outcomes[Family.TRIGGER] = dataclasses.replace(
            found, details={**found.details, **narrowed.details})


def screen(
    dataset: DatasetFiles,
    options: ScreenOptions | None = None,
    *,
    name: str = "dataset",
    extra: DetectorFactory | None = None,
    on_bytes: Callable[[int], None] = lambda n: None,
    delta_of: str | None = None,
    only: Mapping[str, frozenset[int]] | None = None,
) -> ScreeningReport:
    """Screen every record of ``dataset`` (or only the ``only`` records) and return the report.

    ``only`` maps a file to the indices of its records to screen (a version delta, see
    ``kastell.datascan.diff``); ``delta_of`` then names the earlier version's digest.

    Raises:
        MalformedDatasetError: a record cannot be parsed (nothing is skipped).
        DatasetReadError: a file cannot be read or changed while it was read.
        DetectorUnavailableError: a detector's dependency is missing and it was not skipped.
    """
    options = options or ScreenOptions()
    detectors = build_detectors(options)
    if extra is not None:
        detectors.extend(d for d in extra(options) if d.family not in options.skip)
    counts = dict.fromkeys((item.path for item in dataset.files), 0)
    ordinal = 0
    for record in _records(dataset, on_bytes, only):
        counts[record.file] += 1
        for detector in detectors:
            detector.observe(ordinal, record)
        ordinal += 1
    outcomes = {d.family: d.finish() for d in detectors}
    for detector in detectors:
        if isinstance(detector, TriggerDetector) and Family.FLOODING in outcomes:
            _explain_by_flooding(detector, outcomes)
        if isinstance(detector, TriggerDetector) and detector.needs_second_pass:
            found = outcomes[Family.TRIGGER]
            extra_hits = _second_pass(dataset, detector, on_bytes, only)
            outcomes[Family.TRIGGER] = dataclasses.replace(found, hits=found.hits + extra_hits)
    for family in Family:
        if family not in outcomes:
            outcomes[family] = FamilyOutcome(family, False, note="skipped on request")
    files = tuple(FileSummary(item.path, item.format, item.size, str(item.digest),
                              counts[item.path]) for item in dataset.files)
    return ScreeningReport(
        name=name,
        dataset_digest=str(dataset.digest),
        files=files,
        excluded=dataset.excluded,
        records=ordinal,
        outcomes=tuple(outcomes[f] for f in Family),
        options=options,
        tool=f"kastell-datascan {__version__}",
        delta_of=delta_of,
    )
