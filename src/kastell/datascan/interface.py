"""Interface of dataset screening: records, options, findings, the report, errors.

Dataset screening reads every record of a training, evaluation or retrieval corpus once, visits
every text field, and reports poisoning signals by family (injected instructions, backdoor
triggers, flooding, label flips, personal data and secrets). A family that did not run is
reported as not run, never as clean.

Errors::

    KastellError
     └── DatascanError                              base of every screening error
          ├── DatascanUsageError (UsageError)       bad option, path, attestation or exclusion
          ├── MalformedDatasetError (CheckError)    a record or file cannot be parsed (names it)
          ├── DatasetReadError (CheckError)         a file cannot be read, or changed while read
          ├── DetectorUnavailableError (CheckError) a requested detector cannot run here
          └── DatasetMismatchError (VerificationError) the bytes read differ from the attested
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, NewType, Protocol

from kastell.errors import CheckError, KastellError, UsageError, VerificationError
from kastell.types import ControlId

__all__ = [
    "DatascanError",
    "DatascanUsageError",
    "DatasetMismatchError",
    "DatasetReadError",
    "FAMILY_MAPPINGS",
    "DetectorUnavailableError",
    "Family",
    "FamilyOutcome",
    "FileSummary",
    "MalformedDatasetError",
    "Record",
    "RecordDetector",
    "RecordHit",
    "RecordId",
    "ScreenOptions",
    "ScreeningReport",
    "TextField",
]

RecordId = NewType("RecordId", str)
"""``<file>#<index>``: the file (relative to the dataset root) and the record's 0-based index."""


class DatascanError(KastellError):
    """Base of the errors raised by dataset screening."""


class DatascanUsageError(DatascanError, UsageError):
    """An option, path, exclusion or attestation given by the user is wrong."""

    default_hint = "Check the path and options; see docs/datascan.md."


class MalformedDatasetError(DatascanError, CheckError):
    """A record or a file of the dataset cannot be parsed; the file and record are named."""

    default_hint = (
        "Repair or remove the named record and screen again; a dataset with unreadable records "
        "was not screened (nothing is skipped)."
    )


class DatasetReadError(DatascanError, CheckError):
    """A dataset file cannot be read, or it changed while it was read."""

    default_hint = "Check file permissions and stop any process writing to the dataset."


class DetectorUnavailableError(DatascanError, CheckError):
    """A detector that was asked for cannot run on this installation."""

    default_hint = "Install the named extra, or leave the family out with --skip."


class DatasetMismatchError(DatascanError, VerificationError):
    """The bytes read differ from the attested manifest (file digest, size or file set)."""

    default_hint = (
        "The dataset on disk is not the attested one: attest it again or find out who changed it."
    )


class Family(enum.StrEnum):
    """The poisoning signal families a screening reports on."""

    INJECTION = "injection"
    TRIGGER = "trigger"
    FLOODING = "flooding"
    LABEL_FLIP = "label_flip"
    PERSONAL_DATA = "personal_data"


FAMILY_MAPPINGS: Mapping[Family, tuple[ControlId, ...]] = {
    Family.INJECTION: (ControlId("AIA-15.5.DP"), ControlId("OWASP-LLM01"),
                       ControlId("ATLAS-AML.T0051")),
    Family.TRIGGER: (ControlId("AIA-15.5.DP"), ControlId("OWASP-LLM04"),
                     ControlId("ATLAS-AML.T0020")),
    Family.FLOODING: (ControlId("AIA-10.2"), ControlId("AIA-15.5.DP"), ControlId("OWASP-LLM04")),
    Family.LABEL_FLIP: (ControlId("AIA-10.2"), ControlId("AIA-15.5.DP"),
                        ControlId("ATLAS-AML.T0020")),
    Family.PERSONAL_DATA: (ControlId("AIA-10.2"), ControlId("OWASP-LLM02")),
}
"""Catalog control ids each family's findings bear on."""


@dataclasses.dataclass(frozen=True)
class TextField:
    """One text value of a record: its path inside the record and the text."""

    path: str
    """``text``, ``messages[1].content``, ``meta.title``: how to find the value in the record."""
    text: str


@dataclasses.dataclass(frozen=True)
class Record:
    """One record of a dataset file, as read.

    Attributes:
        file: the file, relative to the dataset root (POSIX).
        index: 0-based index of the record in the file.
        line: 1-based line where the record starts (line formats), else None.
        fields: every text value of the record, in document order.
        digest: hex SHA-256 of the record's canonical form (see ``kastell.datascan.records``).
        value: the decoded record (JSON-like), used for labels and responses.
    """

    file: str
    index: int
    line: int | None
    fields: tuple[TextField, ...]
    digest: str
    value: Any

    @property
    def id(self) -> RecordId:
        """``<file>#<index>``."""
        return RecordId(f"{self.file}#{self.index}")


@dataclasses.dataclass(frozen=True)
class RecordHit:
    """One flagged record: which record, which field and span, why, and how strongly."""

    family: Family
    rule_id: str
    record: RecordId
    message: str
    field: str | None = None
    start: int | None = None
    end: int | None = None
    score: float | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {key: (value.value if isinstance(value, enum.Enum) else value)
                for key, value in dataclasses.asdict(self).items()}


@dataclasses.dataclass(frozen=True)
class FamilyOutcome:
    """What one detector family concluded.

    Attributes:
        family: the family.
        ran: False when the family did not run (then it is not clean: it is unknown).
        hits: flagged records.
        details: family-specific summary (clusters, candidates, counts), JSON-ready.
        note: why it did not run, or what it ran with (e.g. the embedding used).
    """

    family: Family
    ran: bool
    hits: tuple[RecordHit, ...] = ()
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    note: str = ""

    @property
    def flagged_records(self) -> frozenset[RecordId]:
        """The distinct records this family flagged."""
        return frozenset(hit.record for hit in self.hits)


@dataclasses.dataclass(frozen=True)
class ScreenOptions:
    """How to screen (every threshold is documented in docs/datascan.md).

    Attributes:
        label_field: record field holding a class label (``None``: look for ``label``).
        response_field: record field holding the answer of an instruction record
            (``None``: the first of ``output``, ``response``, ``completion``, ``answer``,
            ``chosen`` present, or the last assistant message of ``messages``).
        skip: families not to run (reported as not run).
        minhash_threshold: Jaccard similarity above which two records are near duplicates.
        minhash_perm: MinHash permutations.
        flood_min_size: smallest near-duplicate cluster reported as flooding.
        flood_min_share: a cluster is flooding when it also holds at least this share of the
            records, or when its records share one answer / label.
        trigger_min_support: least number of records an n-gram must occur in to be a
            trigger candidate.
        trigger_max_share: most a trigger candidate may occur in (a trigger is rare).
        trigger_alpha: family-wise significance level (Bonferroni over the tests made).
        trigger_min_purity: least share of an n-gram's records that must carry its answer.
        knn: neighbours considered for label consistency.
        label_flip_min_score: least share of disagreeing neighbours to flag a label.
        label_sample: most labelled records kept for the neighbour search.
        embedding: ``hashed-tfidf`` (no torch) or ``minilm`` (needs torch).
    """

    label_field: str | None = None
    response_field: str | None = None
    skip: frozenset[Family] = frozenset()
    minhash_threshold: float = 0.7
    minhash_perm: int = 64
    flood_min_size: int = 5
    flood_min_share: float = 0.001
    trigger_min_support: int = 5
    trigger_max_share: float = 0.02
    trigger_alpha: float = 0.01
    trigger_min_purity: float = 0.9
    knn: int = 10
    label_flip_min_score: float = 0.7
    label_sample: int = 50_000
    embedding: str = "hashed-tfidf"

    def __post_init__(self) -> None:
        checks = [
            (0.0 < self.minhash_threshold < 1.0, "minhash threshold must be in (0, 1)"),
            (16 <= self.minhash_perm <= 512, "minhash permutations must be in [16, 512]"),
            (self.flood_min_size >= 2, "flooding clusters have at least 2 records"),
            (self.trigger_min_support >= 2, "trigger support must be at least 2"),
            (0.0 < self.trigger_max_share <= 0.5, "trigger max share must be in (0, 0.5]"),
            (0.0 < self.trigger_alpha < 1.0, "trigger alpha must be in (0, 1)"),
            (0.5 <= self.trigger_min_purity <= 1.0, "trigger purity must be in [0.5, 1]"),
            (self.knn >= 1, "knn must be at least 1"),
            (0.5 <= self.label_flip_min_score <= 1.0, "label flip score must be in [0.5, 1]"),
            (self.label_sample >= 10, "label sample must be at least 10"),
            (self.embedding in ("hashed-tfidf", "minilm"), "embedding: hashed-tfidf or minilm"),
        ]
        for ok, message in checks:
            if not ok:
                raise DatascanUsageError(message)


class RecordDetector(Protocol):
    """A detector that sees every record once, then concludes."""

    family: Family

    def observe(self, ordinal: int, record: Record) -> None:
        """Take one record into account (``ordinal``: its 0-based position in the run)."""
        ...

    def finish(self) -> FamilyOutcome:
        """Conclude, after the last record."""
        ...


@dataclasses.dataclass(frozen=True)
class FileSummary:
    """One screened file: format, manifest size and digest, records read."""

    path: str
    format: str
    size: int
    digest: str
    records: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ScreeningReport:
    """The result of one screening run.

    Attributes:
        name: the dataset name.
        dataset_digest: ``ALGORITHM:HEX`` of the manifest root (the attestation subject).
        files: every screened file, in path order.
        excluded: files left out by ``--exclude`` (listed, not screened).
        records: records read.
        outcomes: one per family, in :class:`Family` order.
        options: the options used.
        tool: ``kastell-datascan <version>``.
        delta_of: when only a version delta was screened, the earlier dataset digest.
    """

    name: str
    dataset_digest: str
    files: tuple[FileSummary, ...]
    excluded: tuple[str, ...]
    records: int
    outcomes: tuple[FamilyOutcome, ...]
    options: ScreenOptions
    tool: str
    delta_of: str | None = None

    def outcome(self, family: Family) -> FamilyOutcome:
        """The outcome of one family."""
        for outcome in self.outcomes:
            if outcome.family is family:
                return outcome
        raise KeyError(family)

    @property
    def complete(self) -> bool:
        """True when every family that was not skipped on purpose ran."""
        return all(o.ran or o.family in self.options.skip for o in self.outcomes)

    def flagged_share(self, family: Family) -> float:
        """Share of the records the family flagged (0 when there are no records)."""
        flagged = len(self.outcome(family).flagged_records)
        return flagged / self.records if self.records else 0.0
