"""Interface of the model-file scanner: verdicts, results, the scanner protocol, errors.

Every file handed to the scanner ends in exactly one :class:`Verdict`: ``clean``, ``findings``
or ``unscannable`` (with the reason). Unknown formats are unscannable; nothing is skipped.

Errors::

    KastellError
     └── ScanError                                   base of every scanner error
          ├── ScanTargetError (UsageError)           a path to scan does not exist
          ├── PolicyFileError (UsageError)           the allowlist config file is invalid
          ├── ScanOutputError (UsageError)           the report cannot be written
          ├── UnscannableInputError (CheckError)     a file could not be analysed (malformed,
          │                                          truncated, unsupported, over a limit)
          └── UnsafeModelFileError (VerificationError) a file meant to be loaded is not clean
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from typing import IO, Any, ClassVar, Protocol

from kastell.errors import CheckError, KastellError, UsageError, VerificationError
from kastell.types import Finding, Location, Severity

__all__ = [
    "Blob",
    "FileResult",
    "PolicyFileError",
    "ScanContext",
    "ScanError",
    "ScanLimits",
    "ScanOutcome",
    "ScanOutputError",
    "ScanReport",
    "ScanTargetError",
    "Scanner",
    "ScannerMeta",
    "UnsafeModelFileError",
    "UnscannableInputError",
    "Verdict",
]


class ScanError(KastellError):
    """Base of the errors raised by the model-file scanner."""


class ScanTargetError(ScanError, UsageError):
    """A path given to the scanner does not exist or cannot be listed."""

    default_hint = "Check the path; pass files, directories or archives that exist."


class ScanOutputError(ScanError, UsageError):
    """The report cannot be written where the user asked."""

    default_hint = "Check that the --output directory exists and is writable."


class PolicyFileError(ScanError, UsageError):
    """The user's allowlist policy file is missing, malformed or tries something forbidden."""

    default_hint = (
        "A policy file is YAML: {version: 1, allow: [module.name, ...], deny: [...]}; "
        "see docs/scan.md."
    )


class UnscannableInputError(ScanError, CheckError):
    """A file (or a member of it) could not be analysed; its verdict is ``unscannable``."""

    default_hint = (
        "The file is malformed, truncated, of an unsupported variant or over a limit. Do not load "
        "it; obtain it again from a trusted source, or pass --allow-unscannable if you accept it."
    )


class UnsafeModelFileError(ScanError, VerificationError):
    """A file that is about to be loaded did not scan clean."""

    default_hint = "Run `kastell scan FILE` to see the findings; do not load the file."


class Verdict(enum.StrEnum):
    """The one outcome every scanned file gets."""

    CLEAN = "clean"
    FINDINGS = "findings"
    UNSCANNABLE = "unscannable"


@dataclasses.dataclass(frozen=True)
class ScanLimits:
    """Bounds that keep the scanner safe on hostile input (sizes in bytes)."""

    max_nesting: int = 6
    """Archives in archives and pickles in pickles, deeper than this: unscannable."""
    max_members: int = 100_000
    """Archives with more members than this are unscannable."""
    max_member_bytes: int = 8 << 30
    """Largest declared size of an archive member that is read."""
    max_total_uncompressed: int = 64 << 30
    """Largest total declared uncompressed size of one archive."""
    max_compression_ratio: int = 200
    """Uncompressed / compressed size above which an archive member is a bomb."""
    bomb_min_bytes: int = 16 << 20
    """Members smaller than this are never bombs by ratio alone."""
    max_header_bytes: int = 100 << 20
    """Largest JSON/metadata header (safetensors, GGUF strings, npy headers are smaller)."""
    max_json_bytes: int = 64 << 20
    """Largest JSON file identified and parsed."""
    max_pickle_ops: int = 50_000_000
    """Largest number of pickle opcodes emulated in one stream."""
    max_pickle_stack: int = 1_000_000
    """Largest emulated pickle stack (items)."""
    max_pickle_memo: int = 2_000_000
    """Largest emulated pickle memo (entries)."""
    cpu_seconds: float = 1.2
    """CPU budget of one file (the larger of this and ``cpu_seconds_per_mib`` x size)."""
    cpu_seconds_per_mib: float = 0.05
    """CPU budget per MiB of file, for large files."""
    max_stream_ratio: int = 200
    """A decompressed stream or member may hold at most this many bytes per compressed byte,
    plus ``bomb_min_bytes`` (counted as it is inflated, whatever the declared sizes)."""

    def cpu_budget(self, size: int | None) -> float:
        """CPU seconds one file of ``size`` bytes may take."""
        return max(self.cpu_seconds, (size or 0) / (1 << 20) * self.cpu_seconds_per_mib)


@dataclasses.dataclass(frozen=True)
class Blob:
    """A byte source to scan: a file on disk or a member of a container.

    Attributes:
        path: the display path of the outermost file.
        member: the member inside the container (``a.zip!b/c.pkl`` style), or None.
        size: the size in bytes, when known.
        opener: opens the bytes for reading (a binary file object; the caller closes it).
        local_path: the path on disk when the blob is a real file (used by formats that
            refer to sibling files, such as ONNX external data and HDF5 via h5py).
    """

    path: str
    member: str | None
    size: int | None
    opener: Callable[[], IO[bytes]]
    local_path: str | None = None

    def location(self, byte_offset: int | None = None) -> Location:
        """The shared ``Location`` of this blob (optionally at a byte offset)."""
        return Location(path=self.path, member=self.member, byte_offset=byte_offset)

    def child(self, member: str, size: int | None, opener: Callable[[], IO[bytes]]) -> Blob:
        """A member of this blob (for containers)."""
        name = f"{self.member}!{member}" if self.member else member
        return Blob(path=self.path, member=name, size=size, opener=opener)


@dataclasses.dataclass(frozen=True)
class ScanOutcome:
    """What one scanner found in one blob."""

    findings: tuple[Finding, ...] = ()
    unscannable: tuple[str, ...] = ()
    """Reasons why (parts of) the blob could not be analysed."""
    format: str = ""

    def merge(self, other: ScanOutcome) -> ScanOutcome:
        """Both outcomes together (the format of ``self`` is kept)."""
        return ScanOutcome(
            findings=self.findings + other.findings,
            unscannable=self.unscannable + other.unscannable,
            format=self.format or other.format,
        )


class ScanContext(Protocol):
    """What a scanner receives: the policy, the limits and a way to scan nested blobs."""

    @property
    def limits(self) -> ScanLimits:
        """The active limits."""
        ...

    @property
    def depth(self) -> int:
        """How deep in containers the current blob is (0 for a file on disk)."""
        ...

    @property
    def deadline(self) -> float | None:
        """``time.process_time()`` value at which the file's CPU budget is used up."""
        ...

    def pickle_policy(self) -> Any:
        """The active pickle allowlist policy (a ``PicklePolicy``)."""
        ...

    def scan_nested(self, blob: Blob) -> ScanOutcome:
        """Identify and scan a nested blob (archive member) with the right scanner."""
        ...

    def finding(
        self, rule_id: str, message: str, blob: Blob, *, offset: int | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        """Make a finding of a registered rule at ``blob``."""
        ...


@dataclasses.dataclass(frozen=True)
class ScannerMeta:
    """Typed metadata every registered scanner carries."""

    name: str
    formats: tuple[str, ...]
    version: str
    rules: tuple[str, ...]
    """Rule ids the scanner may emit (each defined in ``kastell.scan.rules``)."""
    description: str


class Scanner(Protocol):
    """A scanner of one family of formats."""

    meta: ClassVar[ScannerMeta]

    def scan(self, blob: Blob, fmt: str, ctx: ScanContext) -> ScanOutcome:
        """Scan ``blob`` (identified as ``fmt``) and report what was found.

        Raises:
            UnscannableInputError: the blob could not be analysed.
        """
        ...


_UNSCANNABLE_RULES = frozenset({"KS-SCAN-UNSCANNABLE", "KS-SCAN-UNKNOWN-FORMAT"})


@dataclasses.dataclass(frozen=True)
class FileResult:
    """The verdict on one file (or one archive member scanned on its own)."""

    path: str
    format: str
    verdict: Verdict
    findings: tuple[Finding, ...]
    reasons: tuple[str, ...] = ()
    """Why the file (or parts of it) could not be scanned; empty when everything was."""
    size: int | None = None

    @property
    def worst(self) -> Severity | None:
        """The highest severity among the findings, or None."""
        return max((f.severity for f in self.findings), default=None)

    def fails(self, *, allow_unscannable: bool = False) -> bool:
        """Whether this file fails the gate."""
        if any(f.rule_id not in _UNSCANNABLE_RULES for f in self.findings):
            return True
        return self.verdict is not Verdict.CLEAN and not allow_unscannable

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "path": self.path,
            "format": self.format,
            "verdict": self.verdict.value,
            "size": self.size,
            "reasons": list(self.reasons),
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """The result of one scan run: one ``FileResult`` per file, in a stable order."""

    files: tuple[FileResult, ...]
    policy_version: str
    tool_version: str

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding of every file."""
        return tuple(f for result in self.files for f in result.findings)

    def counts(self) -> Mapping[str, int]:
        """How many files got each verdict (every verdict present, zero included)."""
        counts = {verdict.value: 0 for verdict in Verdict}
        for result in self.files:
            counts[result.verdict.value] += 1
        return counts

    def passed(self, *, allow_unscannable: bool = False) -> bool:
        """True when no file fails the gate."""
        return not any(r.fails(allow_unscannable=allow_unscannable) for r in self.files)

    def to_dict(self, *, allow_unscannable: bool = False) -> dict[str, Any]:
        """A JSON-ready dictionary (the ``model_file_scan`` evidence payload)."""
        return {
            "tool": f"kastell-scan {self.tool_version}",
            "policy_version": self.policy_version,
            "passed": self.passed(allow_unscannable=allow_unscannable),
            "allow_unscannable": allow_unscannable,
            "summary": {"files": len(self.files), **self.counts()},
            "files": [result.to_dict() for result in self.files],
        }

