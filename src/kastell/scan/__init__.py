"""Fail-closed model-file scanner: pickle, PyTorch, NumPy, joblib, Keras, GGUF, ONNX, safetensors.

Public API::

    from kastell.scan import scan_paths, scan_file, require_clean, load_policy
    report = scan_paths(["models/"], load_policy("allow.yaml"))
    report.passed(), report.counts(), report.to_dict()
"""

from __future__ import annotations

from kastell.scan.engine import require_clean, scan_blob, scan_file, scan_paths
from kastell.scan.interface import (
    FileResult,
    PolicyFileError,
    ScanError,
    ScanLimits,
    ScanReport,
    ScanTargetError,
    UnsafeModelFileError,
    UnscannableInputError,
    Verdict,
)
from kastell.scan.pickle_policy import POLICY_VERSION, PicklePolicy, load_policy

__all__ = [
    "POLICY_VERSION",
    "FileResult",
    "PicklePolicy",
    "PolicyFileError",
    "ScanError",
    "ScanLimits",
    "ScanReport",
    "ScanTargetError",
    "UnsafeModelFileError",
    "UnscannableInputError",
    "Verdict",
    "load_policy",
    "require_clean",
    "scan_blob",
    "scan_file",
    "scan_paths",
]
