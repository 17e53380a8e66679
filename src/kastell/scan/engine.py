"""The scan driver: walks paths, identifies each file by content and gives it one verdict.

Library API used by other capabilities::

    report = scan_paths(["model/"], policy)       # -> ScanReport (to_dict() is the evidence)
    result = scan_file("model.bin")               # -> FileResult
    require_clean("model.bin")                    # raises UnsafeModelFileError unless clean
"""

from __future__ import annotations

import dataclasses
import lzma
import os
import pathlib
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from kastell import __version__
from kastell.scan.identify import (
    HEAD_BYTES,
    identify,
    identify_tar,
    identify_zip,
    looks_like_pickle,
)
from kastell.scan.interface import (
    Blob,
    FileResult,
    ScanLimits,
    ScanOutcome,
    ScanReport,
    ScanTargetError,
    UnsafeModelFileError,
    UnscannableInputError,
    Verdict,
)
from kastell.scan.pickle_policy import PicklePolicy
from kastell.scan.registry import scanner_for
from kastell.scan.rules import RULES
from kastell.types import Finding, Severity

__all__ = ["expand_paths", "require_clean", "scan_blob", "scan_file", "scan_paths"]


@dataclasses.dataclass(frozen=True)
class _Context:
    """The ``ScanContext`` handed to scanners."""

    policy: PicklePolicy
    limits: ScanLimits
    depth: int = 0
    deadline: float | None = None

    def pickle_policy(self) -> PicklePolicy:
        return self.policy

    def finding(self, rule_id: str, message: str, blob: Blob, *, offset: int | None = None,
                severity: Severity | None = None) -> Finding:
        rule = RULES[rule_id]
        return Finding(
            rule_id=rule_id,
            severity=severity if severity is not None else rule.severity,
            title=rule.title,
            message=message,
            location=blob.location(offset),
            mappings=rule.mappings,
        )

    def scan_nested(self, blob: Blob) -> ScanOutcome:
        if self.depth + 1 > self.limits.max_nesting:
            return ScanOutcome(unscannable=(
                f"{blob.member}: nested deeper than {self.limits.max_nesting} containers",))
        inner = dataclasses.replace(self, depth=self.depth + 1)
        outcome = _scan_outcome(blob, inner)
        if not outcome.unscannable or not blob.member:
            return outcome
        # say which member could not be scanned
        reasons = tuple(r if r.startswith(f"{blob.member}:") else f"{blob.member}: {r}"
                        for r in outcome.unscannable)
        return dataclasses.replace(outcome, unscannable=reasons)


def _read_head(blob: Blob) -> bytes:
    with blob.opener() as stream:
        return stream.read(HEAD_BYTES)


def _refine(blob: Blob, fmt: str) -> str:
    if fmt == "tar":
        try:
            with blob.opener() as stream, tarfile.open(fileobj=stream, mode="r:") as archive:
                return identify_tar(archive.getnames())
        except (tarfile.TarError, OSError, EOFError, ValueError):
            return "tar"  # the archive scanner reports why it cannot be read
    if fmt != "zip":
        return fmt
    try:
        with blob.opener() as stream, zipfile.ZipFile(stream) as archive:
            return identify_zip(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return "zip"  # the archive scanner reports why it cannot be read


# What the standard-library parsers raise on hostile bytes; each one means "unscannable".
_PARSE_ERRORS = (
    OSError, EOFError, ValueError, zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError,
    zlib.error, lzma.LZMAError, struct.error, NotImplementedError, KeyError, IndexError,
    OverflowError, RecursionError, MemoryError,
)


def _scan_outcome(blob: Blob, ctx: _Context) -> ScanOutcome:
    try:
        head = _read_head(blob)
    except _PARSE_ERRORS as error:
        return ScanOutcome(unscannable=(f"cannot read: {type(error).__name__}: {error}",),
                           format="unreadable")
    fmt = _refine(blob, identify(head, blob.size))
    if fmt == "unknown":
        return ScanOutcome(findings=(ctx.finding(
            "KS-SCAN-UNKNOWN-FORMAT", "content matches no supported model format "
            "(identified by content, not by name)", blob),), format="unknown")
    if fmt == "empty":
        return ScanOutcome(unscannable=("empty file",), format="empty")
    outcome = _run_scanner(blob, fmt, ctx)
    if fmt in ("tar", "pytorch-tar") and looks_like_pickle(head):
        # torch.load opens it with tarfile, pickle.load runs it: scan both readings
        both = ScanOutcome(findings=(ctx.finding(
            "KS-SCAN-AMBIGUOUS", "file is both a tar archive (torch.load) and a pickle "
            "(pickle.load)", blob),))
        outcome = outcome.merge(both).merge(_run_scanner(blob, "pickle", ctx))
    return outcome


def _run_scanner(blob: Blob, fmt: str, ctx: _Context) -> ScanOutcome:
    scanner = scanner_for(fmt)
    try:
        outcome = scanner.scan(blob, fmt, ctx)
    except UnscannableInputError as error:
        return ScanOutcome(unscannable=(error.message,), format=fmt)
    except _PARSE_ERRORS as error:
        return ScanOutcome(unscannable=(f"{fmt}: {type(error).__name__}: {error}",), format=fmt)
    return outcome if outcome.format else dataclasses.replace(outcome, format=fmt)


def scan_blob(blob: Blob, policy: PicklePolicy | None = None,
              limits: ScanLimits | None = None) -> FileResult:
    """Scan one blob (a file or any byte source) and give it its verdict."""
    limits = limits or ScanLimits()
    deadline = time.process_time() + limits.cpu_budget(blob.size)
    ctx = _Context(policy or PicklePolicy(), limits, deadline=deadline)
    outcome = _scan_outcome(blob, ctx)
    findings = list(outcome.findings)
    known_bad = any(f.rule_id != "KS-SCAN-UNKNOWN-FORMAT" for f in findings)
    reasons = list(outcome.unscannable)
    if any(f.rule_id == "KS-SCAN-UNKNOWN-FORMAT" for f in findings):
        reasons.append("unknown format")
    if outcome.unscannable:
        findings.append(ctx.finding(
            "KS-SCAN-UNSCANNABLE", "; ".join(outcome.unscannable), blob))
    # a file with real findings is known bad: "findings" wins over "unscannable" (the reasons
    # why parts of it could not be scanned are still listed)
    if known_bad:
        verdict = Verdict.FINDINGS
    elif reasons:
        verdict = Verdict.UNSCANNABLE
    else:
        verdict = Verdict.CLEAN
    return FileResult(
        path=blob.path, format=outcome.format, verdict=verdict,
        findings=tuple(findings), reasons=tuple(reasons), size=blob.size,
    )


def _file_blob(path: pathlib.Path, display: str) -> Blob:
    resolved = str(path)

    def opener() -> IO[bytes]:
        return open(resolved, "rb")  # noqa: SIM115 - the caller closes it

    try:
        size: int | None = path.stat().st_size
    except OSError:
        size = None
    return Blob(path=display, member=None, size=size, opener=opener, local_path=resolved)


def scan_file(path: str | os.PathLike[str], policy: PicklePolicy | None = None,
              limits: ScanLimits | None = None) -> FileResult:
    """Scan one file on disk.

    Raises:
        ScanTargetError: the path does not exist or is not a regular file.
    """
    target = pathlib.Path(path)
    if not target.is_file():
        raise ScanTargetError(f"{target} is not a file")
    return scan_blob(_file_blob(target, str(path)), policy, limits)


def _walk(root: pathlib.Path) -> Iterator[pathlib.Path]:
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            yield pathlib.Path(folder) / name
        for name in dirs:
            candidate = pathlib.Path(folder) / name
            if candidate.is_symlink():
                yield candidate


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[pathlib.Path]:
    """Every file to scan under ``paths`` (directories walked; links not followed into dirs).

    Raises:
        ScanTargetError: a path does not exist.
    """
    found: list[pathlib.Path] = []
    for raw in paths:
        path = pathlib.Path(raw)
        if path.is_dir() and not path.is_symlink():
            found.extend(_walk(path))
        elif path.exists() or path.is_symlink():
            found.append(path)
        else:
            raise ScanTargetError(f"{path} does not exist")
    return found


def _special(path: pathlib.Path) -> FileResult | None:
    if path.is_file():
        return None
    reason = ("directory symlink not followed" if path.is_symlink() and path.is_dir()
              else "dangling symlink" if path.is_symlink() and not path.exists()
              else "not a regular file")
    blob = _file_blob(path, str(path))
    finding = _Context(PicklePolicy(), ScanLimits()).finding(
        "KS-SCAN-UNSCANNABLE", reason, blob)
    return FileResult(path=str(path), format="special", verdict=Verdict.UNSCANNABLE,
                      findings=(finding,), reasons=(reason,), size=None)


def scan_paths(
    paths: Iterable[str | os.PathLike[str]],
    policy: PicklePolicy | None = None,
    limits: ScanLimits | None = None,
    *,
    on_file: Callable[[FileResult], None] | None = None,
) -> ScanReport:
    """Scan files, directories (recursively) and archives; every file gets one verdict.

    Args:
        paths: files or directories.
        policy: the pickle allowlist policy (the default policy when None).
        limits: safety limits (defaults when None).
        on_file: called after each file (progress reporting).

    Raises:
        ScanTargetError: a path does not exist.
    """
    policy = policy or PicklePolicy()
    results: list[FileResult] = []
    for path in expand_paths(paths):
        result = _special(path) or scan_blob(_file_blob(path, str(path)), policy, limits)
        results.append(result)
        if on_file is not None:
            on_file(result)
    return ScanReport(files=tuple(results), policy_version=policy.version,
                      tool_version=__version__)


def require_clean(path: str | os.PathLike[str], policy: PicklePolicy | None = None) -> FileResult:
    """Scan a file that is about to be loaded; raise unless its verdict is ``clean``.

    This is the verify-at-load gate: a pickle-bearing file whose scan is not clean must not be
    loaded.

    Raises:
        UnsafeModelFileError: the file has findings or could not be scanned.
        ScanTargetError: the path is not a file.
    """
    result = scan_file(path, policy)
    if result.verdict is not Verdict.CLEAN:
        worst = result.worst.name if result.worst is not None else "none"
        raise UnsafeModelFileError(
            f"{path} is not safe to load: verdict {result.verdict.value}, "
            f"{len(result.findings)} finding(s), worst {worst}"
        )
    return result
