"""Which model files may run code when loaded (pickle-bearing), and the scan gate for them.

A pickle-bearing file passes verify-at-load only when the model-file scanner
(``kastell.scan.engine.require_clean``) gives it a clean verdict. Without the scanner installed,
no pickle-bearing file passes.
"""

from __future__ import annotations

import importlib
import zipfile
from pathlib import Path

from kastell.errors import KastellError
from kastell.provenance.interface import UnsafeFileError

_PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".dill"})


def is_pickle_bearing(path: Path) -> bool:
    """Whether loading ``path`` with its usual loader may unpickle data."""
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        return True
    with path.open("rb") as handle:
        head = handle.read(128)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True  # binary pickle protocol 2-5
    if head.startswith(b"\x93NUMPY") and b"'O'" in head:
        return True  # a numpy array of Python objects is stored as a pickle
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith((".pkl", ".pickle")) for name in archive.namelist())
        except zipfile.BadZipFile:
            return True  # unreadable archive: cannot rule it out
    return False


def require_scanned_clean(path: Path) -> None:
    """Raise :class:`UnsafeFileError` unless the scanner says the pickle-bearing file is clean."""
    try:
        engine = importlib.import_module("kastell.scan.engine")
    except ImportError:
        raise UnsafeFileError(
            f"{path} is pickle-bearing and the model-file scanner is not available",
            hint="Convert the model to safetensors or GGUF; pickle files load only after a "
            "clean `kastell scan`.",
        ) from None
    try:
        engine.require_clean(path)
    except KastellError as error:
        raise UnsafeFileError(
            f"{path} is pickle-bearing and its scan is not clean: {error.message}"
        ) from error
