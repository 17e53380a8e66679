"""Every rule id datascan emits has a severity, and every family maps to catalog controls."""

from __future__ import annotations

import pathlib
import re

import kastell.datascan
from kastell.comply.catalog import load_catalog
from kastell.datascan.interface import FAMILY_MAPPINGS, Family
from kastell.datascan.report import SEVERITIES

_SOURCE = pathlib.Path(kastell.datascan.__file__).parent


def test_every_emitted_rule_has_a_severity() -> None:
    emitted = {m for path in _SOURCE.glob("*.py")
               for m in re.findall(r'"(KS-DATA-[A-Z-]+)"', path.read_text(encoding="utf-8"))}
    assert emitted
    assert emitted <= set(SEVERITIES)


def test_every_family_maps_to_catalog_controls() -> None:
    catalog = load_catalog()
    assert set(FAMILY_MAPPINGS) == set(Family)
    for ids in FAMILY_MAPPINGS.values():
        assert ids
        assert all(catalog.has(i) for i in ids)
