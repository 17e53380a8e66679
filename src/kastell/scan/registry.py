"""The registry of format scanners: explicit, and imported only when a format needs it.

Each entry names the module and class of a scanner and the formats it handles; a contract test
checks that the table agrees with every scanner's own ``ScannerMeta``. Importing lazily keeps
``kastell scan`` start-up short when a run only meets a few formats.
"""

from __future__ import annotations

import functools
import importlib

from kastell.scan.interface import Scanner

__all__ = ["REGISTRY", "registered_scanners", "scanner_for"]

REGISTRY: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("kastell.scan.pickle_scan", "PickleScanner",
     ("pickle", "joblib-bz2", "joblib-gzip", "joblib-lzma", "joblib-xz", "joblib-zlib")),
    ("kastell.scan.pytorch", "PyTorchScanner", ("pytorch-zip", "pytorch-tar")),
    ("kastell.scan.numpy_files", "NumpyScanner", ("numpy", "npz")),
    ("kastell.scan.archive", "ArchiveScanner", ("zip", "tar")),
    ("kastell.scan.keras", "KerasScanner", ("keras", "hdf5")),
    ("kastell.scan.gguf", "GgufScanner", ("gguf",)),
    ("kastell.scan.safetensors_file", "SafetensorsScanner", ("safetensors",)),
    ("kastell.scan.onnx_file", "OnnxScanner", ("onnx",)),
    ("kastell.scan.json_config", "JsonScanner", ("json",)),
)
"""(module, class, formats) of every registered scanner."""

_BY_FORMAT = {fmt: (module, name) for module, name, formats in REGISTRY for fmt in formats}


@functools.cache
def _instance(module: str, name: str) -> Scanner:
    scanner: Scanner = getattr(importlib.import_module(module), name)()
    return scanner


def scanner_for(fmt: str) -> Scanner:
    """The scanner registered for a format name.

    A ``KeyError`` is a bug: every identified format has a scanner (a contract test checks).
    """
    return _instance(*_BY_FORMAT[fmt])


def registered_scanners() -> tuple[Scanner, ...]:
    """Every registered scanner (imports them all)."""
    return tuple(_instance(module, name) for module, name, _ in REGISTRY)
