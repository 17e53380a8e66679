"""Which model files may run code when loaded (pickle-bearing), and the scan gate for them.

A pickle-bearing file passes verify-at-load only when the model-file scanner
(``kastell.scan.engine.require_clean``) gives it a clean verdict. Files are recognised by
content (the scanner's own format identification), so a renamed pickle is still caught.
"""

from __future__ import annotations

import os
from pathlib import Path

from kastell._untrusted import open_regular
from kastell.errors import KastellError
from kastell.provenance.interface import ProvenanceUsageError, UnsafeFileError
from kastell.scan.engine import require_clean
from kastell.scan.identify import HEAD_BYTES, identify

_PICKLE_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".dill"})
# Formats whose usual loaders may unpickle data or run code: pickles, NumPy arrays (object
# arrays are pickles), zips (PyTorch, .npz, Keras), tars (legacy PyTorch), HDF5 (Keras Lambda
# layers) and joblib's compressed pickles. The scanner, not this list, decides whether they are
# safe.
_CODE_BEARING = frozenset({"pickle", "numpy", "zip", "tar", "hdf5"})


def is_pickle_bearing(path: Path) -> bool:
    """Whether loading ``path`` with its usual loader may unpickle data or run code."""
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        return True
    try:
        with open_regular(path) as handle:  # never blocks on a FIFO swapped in after hashing
            head = handle.read(HEAD_BYTES)
            size = os.fstat(handle.fileno()).st_size
    except OSError as error:
        raise ProvenanceUsageError(f"cannot read {path}: {error.strerror}") from error
    kind = identify(head, size)
    return kind in _CODE_BEARING or kind.startswith("joblib-")


def require_scanned_clean(path: Path) -> None:
    """Raise :class:`UnsafeFileError` unless the scanner says the pickle-bearing file is clean."""
    try:
        require_clean(path)
    except KastellError as error:
        raise UnsafeFileError(
            f"{path} is pickle-bearing and its scan is not clean: {error.message}",
            hint="Convert the model to safetensors or GGUF, or inspect `kastell scan` output; "
            "pickle-bearing files load only after a clean scan.",
        ) from error
