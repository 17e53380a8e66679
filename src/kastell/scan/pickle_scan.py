"""Scanner of pickle streams: raw pickles, joblib files and legacy PyTorch files.

The emulator (``pickle_emulator``) says what a stream imports and calls; this module applies
the allowlist policy, follows nested pickles and turns all of it into findings.
"""

from __future__ import annotations

import lzma
import time
import zlib
from collections.abc import Callable
from typing import IO, ClassVar

from kastell.scan._decompress import guarded_stream, zlib_stream
from kastell.scan._stream import IN_MEMORY_LIMIT, BoundedReader, MemoryReader
from kastell.scan.interface import (
    Blob,
    ScanContext,
    ScannerMeta,
    ScanOutcome,
    UnscannableInputError,
)
from kastell.scan.pickle_emulator import PickleAnalysis, PickleBounds, analyse_pickle
from kastell.scan.pickle_policy import CallableClass, PicklePolicy
from kastell.types import Finding

__all__ = ["PickleScanner", "findings_of_analysis", "pickle_bounds", "scan_pickle_stream"]

# torch.save(..., _use_new_zipfile_serialization=False) starts with this magic number pickle
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_TORCH_LEGACY_PICKLES = 5
_MAX_CONCATENATED = 1024
_POLICY_RULES = {
    CallableClass.DANGEROUS: "KS-PICKLE-DANGEROUS-CALLABLE",
    CallableClass.UNLISTED: "KS-PICKLE-UNLISTED-CALLABLE",
}


def pickle_bounds(ctx: ScanContext) -> PickleBounds:
    """The emulation bounds of the context's limits (with the file's CPU deadline)."""
    limits = ctx.limits
    return PickleBounds(max_ops=limits.max_pickle_ops, max_stack=limits.max_pickle_stack,
                        max_memo=limits.max_pickle_memo, deadline=ctx.deadline)


def findings_of_analysis(
    analysis: PickleAnalysis, blob: Blob, ctx: ScanContext, *, base: int = 0, label: str = "",
    policy: PicklePolicy | None = None,
) -> tuple[list[Finding], list[str]]:
    """Findings (and unscannable reasons) for one emulated stream, nested pickles included."""
    policy = policy or ctx.pickle_policy()
    findings: list[Finding] = []
    reasons: list[str] = []
    seen: set[tuple[str, str]] = set()
    prefix = f"{label}: " if label else ""
    for ref in analysis.globals:
        key = (ref.module, ref.name)
        if key in seen:
            continue
        seen.add(key)
        verdict = policy.classify(ref.module, ref.name)
        rule = _POLICY_RULES.get(verdict)
        if rule is not None:
            findings.append(ctx.finding(
                rule, f"{prefix}{ref.opcode} imports {ref.module}.{ref.name} ({verdict}; "
                f"policy {policy.version})", blob, offset=base + ref.offset))
    for anomaly in analysis.anomalies:
        findings.append(ctx.finding(
            f"KS-PICKLE-{anomaly.kind}", f"{prefix}{anomaly.detail}", blob,
            offset=base + anomaly.offset))
    for nested in analysis.nested:
        where = base + nested.offset
        if nested.data is None:
            findings.append(ctx.finding(
                "KS-PICKLE-NESTED", f"{prefix}{nested.loader} is called on bytes that cannot be "
                "recovered statically", blob, offset=where))
            continue
        findings.append(ctx.finding(
            "KS-PICKLE-NESTED", f"{prefix}{nested.loader} loads a nested pickle of "
            f"{len(nested.data)} bytes (scanned below)", blob, offset=where))
        if label.count("nested") >= ctx.limits.max_nesting:
            reasons.append(f"nested pickles deeper than {ctx.limits.max_nesting} levels")
            continue
        import io

        inner_label = f"{label + ' > ' if label else ''}nested pickle at byte {where}"
        try:
            inner = analyse_pickle(io.BytesIO(nested.data), size=len(nested.data),
                                   bounds=pickle_bounds(ctx))
        except UnscannableInputError as error:
            reasons.append(f"{inner_label}: {error.message}")
            continue
        more, more_reasons = findings_of_analysis(inner, blob, ctx, base=where,
                                                  label=inner_label, policy=policy)
        findings.extend(more)
        reasons.extend(more_reasons)
    return findings, reasons


def scan_pickle_stream(
    reader: BoundedReader | MemoryReader, blob: Blob, ctx: ScanContext, *,
    concatenated: bool = True, policy: PicklePolicy | None = None,
) -> ScanOutcome:
    """Scan the pickle(s) at the reader's position, to the end of the stream.

    With ``concatenated`` the stream may hold several pickles one after the other (as legacy
    PyTorch files do; each starts where the unpickler leaves the file, at the end of a frame
    when STOP was inside one); bytes after the last pickle that are no pickle are a finding.
    A legacy PyTorch file's raw storages are walked record by record to the end.

    Raises:
        UnscannableInputError: the first pickle is malformed.
    """
    findings: list[Finding] = []
    reasons: list[str] = []
    fmt = "pickle"
    analyses: list[PickleAnalysis] = []
    bounds = pickle_bounds(ctx)
    while True:
        start = reader.tell()
        try:
            analysis = analyse_pickle(reader, size=None, bounds=bounds)
        except UnscannableInputError as error:
            if not analyses or fmt == "pytorch-legacy" or "(bound " in error.message:
                if not analyses:
                    raise
                reasons.append(error.message)
            else:
                findings.append(ctx.finding(
                    "KS-PICKLE-TRAILING-DATA", f"bytes after pickle {len(analyses)} are no "
                    f"pickle ({error.message})", blob, offset=start))
            break
        analyses.append(analysis)
        if len(analyses) == 1 and analysis.first_value == _TORCH_LEGACY_MAGIC:
            fmt = "pytorch-legacy"
        elif fmt == "pickle" and any(r.module.startswith("joblib.") for r in analysis.globals):
            fmt = "joblib"
        more, more_reasons = findings_of_analysis(analysis, blob, ctx, policy=policy)
        findings.extend(more)
        reasons.extend(more_reasons)
        if fmt == "pytorch-legacy" and len(analyses) == _TORCH_LEGACY_PICKLES:
            from kastell.scan.pytorch_legacy import walk_legacy_storages

            found, why = walk_legacy_storages(reader, analyses[3], analysis, blob, ctx)
            findings.extend(found)
            reasons.extend(why)
            break
        if not concatenated or reader.at_end():
            break
        if len(analyses) >= _MAX_CONCATENATED:
            reasons.append(f"more than {_MAX_CONCATENATED} concatenated pickles (bound "
                           "max_concatenated_pickles)")
            break
        if ctx.deadline is not None and time.process_time() > ctx.deadline:
            reasons.append(f"CPU budget of the file used up after {len(analyses)} "
                           "concatenated pickles (bound cpu_seconds)")
            break
    return ScanOutcome(findings=tuple(findings), unscannable=tuple(reasons), format=fmt)


def _gzip(raw: IO[bytes]) -> IO[bytes]:
    import gzip

    return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]


def _bz2(raw: IO[bytes]) -> IO[bytes]:
    import bz2

    return bz2.BZ2File(raw, mode="rb")


def _xz(raw: IO[bytes]) -> IO[bytes]:
    return lzma.LZMAFile(raw, mode="rb")


_DECOMPRESSORS: dict[str, Callable[[IO[bytes]], IO[bytes]]] = {
    "joblib-zlib": zlib_stream,
    "joblib-gzip": _gzip,
    "joblib-bz2": _bz2,
    "joblib-xz": _xz,
    "joblib-lzma": _xz,
}


class PickleScanner:
    """Raw pickles (protocols 0-5), joblib files (plain or compressed), legacy PyTorch files."""

    meta: ClassVar[ScannerMeta] = ScannerMeta(
        name="pickle",
        formats=("pickle", *sorted(_DECOMPRESSORS)),
        version="1.0.0",
        rules=("KS-PICKLE-DANGEROUS-CALLABLE", "KS-PICKLE-UNLISTED-CALLABLE",
               "KS-PICKLE-DYNAMIC-GLOBAL", "KS-PICKLE-EXTENSION-CODE",
               "KS-PICKLE-COMPUTED-CALL", "KS-PICKLE-SETSTATE-OVERRIDE", "KS-PICKLE-NESTED",
               "KS-PICKLE-TRAILING-DATA", "KS-PICKLE-AMBIGUOUS"),
        description="Emulates the pickle machine over the opcodes; never unpickles.",
    )

    def scan(self, blob: Blob, fmt: str, ctx: ScanContext) -> ScanOutcome:
        """Scan a pickle-bearing blob."""
        with blob.opener() as raw:
            if fmt in _DECOMPRESSORS:
                try:
                    with guarded_stream(raw, _DECOMPRESSORS[fmt], ctx.limits) as stream:
                        reader = BoundedReader(stream, None,
                                               max_read=ctx.limits.max_member_bytes)
                        outcome = scan_pickle_stream(reader, blob, ctx)
                except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:
                    raise UnscannableInputError(f"cannot decompress: {error}") from None
                return ScanOutcome(outcome.findings, outcome.unscannable, fmt)
            if blob.size is not None and blob.size <= IN_MEMORY_LIMIT:
                return scan_pickle_stream(MemoryReader(raw.read(blob.size)), blob, ctx)
            return scan_pickle_stream(BoundedReader(raw, blob.size), blob, ctx)
