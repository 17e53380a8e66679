"""A count-min sketch over 32-bit keys (fixed memory, never undercounts), with numpy.

Row ``r`` puts key ``k`` in cell ``((k * a_r + b_r) mod 2**64) >> (64 - bits)`` with fixed odd
multipliers, so the same keys give the same counts in every run.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CountMinSketch"]

_MULTIPLIERS = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)
_OFFSETS = (0x7F4A7C159E3779B9, 0x27D4EB4FC2B2AE3D, 0x9E3779F9165667B1, 0x6659FD93D6E8FEB8)


class CountMinSketch:
    """``depth`` rows of ``2**bits`` uint32 counters."""

    def __init__(self, bits: int = 22, depth: int = 4) -> None:
        self._shift = np.uint64(64 - bits)
        self._depth = depth
        self._table = np.zeros((depth, 1 << bits), dtype=np.uint32)
        self._a = np.array(_MULTIPLIERS[:depth], dtype=np.uint64)[:, None]
        self._b = np.array(_OFFSETS[:depth], dtype=np.uint64)[:, None]
        self._rows = np.arange(depth)[:, None]

    def _cells(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            mixed = keys.astype(np.uint64)[None, :] * self._a + self._b
        return (mixed >> self._shift).astype(np.intp)

    def add(self, keys: np.ndarray) -> None:
        """Count every key of ``keys`` once (a key given twice counts twice)."""
        if keys.size:
            cells = self._cells(keys)
            size = self._table.shape[1]
            for row in range(self._depth):
                self._table[row] += np.bincount(cells[row], minlength=size).astype(np.uint32)

    def estimate(self, keys: np.ndarray) -> np.ndarray:
        """Upper bounds of the counts of ``keys`` (exact unless cells collide)."""
        if not keys.size:
            return np.zeros(0, dtype=np.int64)
        cells = self._cells(keys)
        values = self._table[np.broadcast_to(self._rows, cells.shape), cells]
        return np.asarray(values.min(axis=0), dtype=np.int64)
