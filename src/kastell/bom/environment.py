"""The Python packages of the serving environment, from ``importlib.metadata``."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable

from kastell.bom.interface import PythonPackage

__all__ = ["normalize_name", "python_packages"]


def normalize_name(name: str) -> str:
    """PEP 503 normalized distribution name (also the PyPI purl name)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def python_packages(
    distributions: Iterable[importlib.metadata.Distribution] | None = None,
) -> tuple[PythonPackage, ...]:
    """Every installed distribution (name normalized, one entry per name), sorted.

    Args:
        distributions: the distributions to list; the running interpreter's by default.
    """
    found: dict[str, PythonPackage] = {}
    source = importlib.metadata.distributions() if distributions is None else distributions
    for dist in source:
        name = dist.metadata["Name"]
        if not name or not dist.version:
            continue
        normalized = normalize_name(name)
        found.setdefault(normalized, PythonPackage(normalized, dist.version))
    return tuple(sorted(found.values()))
