"""PyTorch checkpoints: the zip format (``archive/data.pkl`` + tensor records) and legacy tar.

Only the pickles are read; tensor payloads (``archive/data/N``) are never opened, so a 2 GiB
checkpoint costs one zip directory read and one small pickle. The legacy non-zip format (five
concatenated pickles followed by raw storages) is handled by the pickle scanner; the legacy tar
format's interleaved ``storages``/``tensors`` members by ``pytorch_legacy``.
"""

from __future__ import annotations

import posixpath
import tarfile
import zipfile
from typing import ClassVar

from kastell.scan._stream import IN_MEMORY_LIMIT, BoundedReader, MemoryReader
from kastell.scan.archive import (
    BUDGET_REASON,
    list_tar,
    open_zip,
    over_budget,
    scan_tar,
    zip_member_findings,
)
from kastell.scan.interface import (
    Blob,
    ScanContext,
    ScannerMeta,
    ScanOutcome,
    UnscannableInputError,
)
from kastell.scan.pickle_policy import PicklePolicy
from kastell.scan.pickle_scan import scan_pickle_stream

__all__ = ["PyTorchScanner"]

# Members of a torch zip that hold no code: tensor payloads and small text records.
_DATA_DIRS = ("data", ".data")
_TEXT_RECORDS = frozenset({"version", "byteorder", ".format_version", ".storage_alignment"})
# TorchScript archives also carry code/ (TorchScript source) and constants.pkl.
_LEGACY_TAR_PICKLES = ("sys_info", "pickle")


def _is_payload(name: str) -> bool:
    parts = name.split("/")
    inner = parts[1:] if len(parts) > 1 else parts
    if inner and inner[0] in _DATA_DIRS:
        return True
    return posixpath.basename(name) in _TEXT_RECORDS


def _is_torchscript_code(name: str) -> bool:
    parts = name.split("/")
    return len(parts) > 2 and parts[1] == "code" and name.endswith(".py")


def _scan_member_pickle(archive: zipfile.ZipFile, info: zipfile.ZipInfo, child: Blob,
                        ctx: ScanContext, policy: PicklePolicy) -> ScanOutcome:
    with archive.open(info) as member:
        reader: BoundedReader | MemoryReader = (
            MemoryReader(member.read(info.file_size)) if info.file_size <= IN_MEMORY_LIMIT
            else BoundedReader(member, info.file_size))
        try:
            return scan_pickle_stream(reader, child, ctx, concatenated=False, policy=policy)
        except UnscannableInputError as error:
            return ScanOutcome(unscannable=(f"{info.filename}: {error.message}",))


class PyTorchScanner:
    """``torch.save`` zip checkpoints (and TorchScript zips) and legacy tar checkpoints."""

    meta: ClassVar[ScannerMeta] = ScannerMeta(
        name="pytorch",
        formats=("pytorch-zip", "pytorch-tar"),
        version="1.0.0",
        rules=("KS-PICKLE-DANGEROUS-CALLABLE", "KS-PICKLE-UNLISTED-CALLABLE",
               "KS-TORCHSCRIPT-CODE", "KS-ARCHIVE-PATH-TRAVERSAL", "KS-ARCHIVE-LINK",
               "KS-ARCHIVE-BOMB", "KS-SCAN-AMBIGUOUS", "KS-PICKLE-AMBIGUOUS"),
        description="Scans every pickle of a checkpoint; never reads tensor payloads.",
    )

    def scan(self, blob: Blob, fmt: str, ctx: ScanContext) -> ScanOutcome:
        """Scan a PyTorch checkpoint."""
        if fmt == "pytorch-tar":
            return self._scan_tar(blob, ctx)
        with blob.opener() as stream, open_zip(stream) as archive:
            outcome = ScanOutcome(tuple(zip_member_findings(archive, blob, ctx)), (), fmt)
            members = [i for i in archive.infolist() if not i.is_dir()]
            code = [i.filename for i in members if _is_torchscript_code(i.filename)]
            policy = ctx.pickle_policy()
            if code:
                policy = policy.with_torchscript_classes()
                outcome = outcome.merge(ScanOutcome((ctx.finding(
                    "KS-TORCHSCRIPT-CODE", f"{len(code)} TorchScript source file(s), e.g. "
                    f"{code[0]!r}: loading runs them in the TorchScript runtime", blob),)))
            for info in members:
                if _is_payload(info.filename) or info.filename in code:
                    continue
                if over_budget(ctx):
                    outcome = outcome.merge(ScanOutcome(unscannable=(BUDGET_REASON,)))
                    break
                child = blob.child(info.filename, info.file_size, lambda: stream)
                if info.filename.endswith("pkl"):
                    outcome = outcome.merge(_scan_member_pickle(archive, info, child, ctx,
                                                                policy))
                else:
                    outcome = outcome.merge(self._other_member(archive, info.filename, child,
                                                               ctx))
        return outcome

    @staticmethod
    def _other_member(archive: object, name: str, child: Blob, ctx: ScanContext) -> ScanOutcome:
        import io

        if not isinstance(archive, zipfile.ZipFile):
            return ScanOutcome()
        info = archive.getinfo(name)
        if info.file_size > 64 << 20:
            return ScanOutcome(unscannable=(f"{name}: unexpected large member in checkpoint",))
        data = archive.read(name)
        nested = Blob(path=child.path, member=child.member, size=len(data),
                      opener=lambda: io.BytesIO(data))
        return ctx.scan_nested(nested)

    @staticmethod
    def _scan_tar(blob: Blob, ctx: ScanContext) -> ScanOutcome:
        names = {info.name for info in list_tar(blob)}
        outcome = scan_tar(blob, ctx, skip=lambda name: name not in _LEGACY_TAR_PICKLES)
        for kind in ("storages", "tensors"):
            if kind in names:
                outcome = outcome.merge(_scan_legacy_member(blob, ctx, kind))
        return ScanOutcome(outcome.findings, outcome.unscannable, "pytorch-tar")


def _scan_legacy_member(blob: Blob, ctx: ScanContext, kind: str) -> ScanOutcome:
    from kastell.scan.pytorch_legacy import scan_legacy_records

    child = blob.child(kind, None, blob.opener)
    try:
        with blob.opener() as stream, tarfile.open(fileobj=stream, mode="r:") as archive:
            info = archive.getmember(kind)
            member = archive.extractfile(info)
            if member is None:
                raise UnscannableInputError(f"legacy tar member {kind!r} is not a file")
            with member:
                reader = BoundedReader(member, info.size)
                return scan_legacy_records(reader, child, ctx, kind)
    except UnscannableInputError as error:
        return ScanOutcome(unscannable=(error.message,))
