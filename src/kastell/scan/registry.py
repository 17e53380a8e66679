"""The registry of format scanners (explicit; no import-time discovery)."""

from __future__ import annotations

from kastell.scan.archive import ArchiveScanner
from kastell.scan.gguf import GgufScanner
from kastell.scan.interface import Scanner
from kastell.scan.json_config import JsonScanner
from kastell.scan.keras import KerasScanner
from kastell.scan.numpy_files import NumpyScanner
from kastell.scan.onnx_file import OnnxScanner
from kastell.scan.pickle_scan import PickleScanner
from kastell.scan.pytorch import PyTorchScanner
from kastell.scan.safetensors_file import SafetensorsScanner

__all__ = ["SCANNERS", "scanner_for"]

SCANNERS: tuple[Scanner, ...] = (
    PickleScanner(),
    PyTorchScanner(),
    NumpyScanner(),
    ArchiveScanner(),
    KerasScanner(),
    GgufScanner(),
    SafetensorsScanner(),
    OnnxScanner(),
    JsonScanner(),
)
"""Every registered scanner."""

_BY_FORMAT: dict[str, Scanner] = {fmt: s for s in SCANNERS for fmt in s.meta.formats}


def scanner_for(fmt: str) -> Scanner:
    """The scanner registered for a format name.

    A ``KeyError`` is a bug: every identified format has a scanner (a contract test checks).
    """
    return _BY_FORMAT[fmt]
