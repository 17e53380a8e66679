"""Every control id any capability uses exists in the catalog.

Two layers: the plugin registries of scan, guard and redteam (typed metadata, iterated), and a
source scan of every string literal in src/kastell that looks like a catalog id (catches ids in
code paths without a registry, e.g. comply's own findings and the incident clocks).
"""

from __future__ import annotations

import importlib
import pathlib
import re
from collections.abc import Iterable

import pytest

import kastell
from kastell.comply.catalog import load_catalog
from kastell.comply.clocks import CLOCK_RULES

ID_LITERAL = re.compile(r"""["']((?:AIA|NIS2|CRA|ENISA|OWASP|ATLAS)-[A-Za-z0-9.\-]+)["']""")
SOURCE = pathlib.Path(kastell.__file__).parent


def _unknown(ids: Iterable[str]) -> list[str]:
    catalog = load_catalog()
    return sorted({i for i in ids if not catalog.has(i)})


def _registry(module: str, attribute: str):  # type: ignore[no-untyped-def]
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        pytest.skip(f"{module}.{attribute} not in this build: {error}")


def test_scan_rules_map_to_catalog_ids() -> None:
    rules = _registry("kastell.scan.rules", "RULES")
    assert rules
    assert _unknown(m for rule in rules.values() for m in rule.mappings) == []


def test_guard_rules_map_to_catalog_ids() -> None:
    all_rules = _registry("kastell.guard.scanners.registry", "all_rules")
    rules = all_rules()
    assert rules
    assert _unknown(m for info in rules.values() for m in info.mappings) == []


def test_redteam_probes_map_to_catalog_ids() -> None:
    probes = _registry("kastell.redteam.probes.registry", "PROBES")
    assert probes
    assert _unknown(m for probe in probes.values() for m in probe.mappings) == []


def test_incident_clock_keys_are_catalog_ids() -> None:
    assert _unknown(rule.key for rule in CLOCK_RULES) == []


def test_every_id_literal_in_the_source_exists() -> None:
    found: dict[str, list[str]] = {}
    for path in SOURCE.rglob("*.py"):
        for match in ID_LITERAL.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(1), []).append(str(path.relative_to(SOURCE)))
    assert len(found) > 20  # the scan itself works: comply, scan and guard use many ids
    unknown = {i: found[i] for i in _unknown(found)}
    assert unknown == {}


def test_the_source_scan_would_catch_a_typo() -> None:
    assert ID_LITERAL.findall('mappings=("OWASP-LLM11",)') == ["OWASP-LLM11"]
    assert _unknown(["OWASP-LLM11"]) == ["OWASP-LLM11"]
