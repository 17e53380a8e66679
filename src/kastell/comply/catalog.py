"""The product's control catalog (package data ``comply/data/controls.yaml``), typed and read-only.

The catalog carries caveats (paraphrased summaries, dates not re-checked against the Official
Journal, the pending Digital Omnibus changes to AI Act dates); ``Catalog.caveats`` keeps them so
every report can show them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import importlib.resources
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from kastell.comply.interface import CatalogError, Control, UnknownControlError
from kastell.types import ControlId, EvidenceKind

__all__ = [
    "ApplicationDate",
    "Catalog",
    "check_control_ids",
    "control_exists",
    "load_catalog",
    "parse_catalog",
]


@dataclasses.dataclass(frozen=True)
class ApplicationDate:
    """A date from which part of a framework applies."""

    framework: str
    date: dt.date
    scope: str
    reference: str
    caveat: str | None = None


@dataclasses.dataclass(frozen=True)
class Catalog:
    """The control catalog: frameworks, controls, application dates and caveats."""

    name: str
    version: str
    status: str
    caveats: tuple[str, ...]
    frameworks: Mapping[str, str]
    """Framework id -> title."""
    controls: tuple[Control, ...]
    application_dates: tuple[ApplicationDate, ...]
    max_controls_per_document: int = 6
    """Evidence rule: one organisational document satisfies at most this many controls."""

    @functools.cached_property
    def _by_id(self) -> dict[str, Control]:
        return {control.id: control for control in self.controls}

    def has(self, control_id: str) -> bool:
        """Whether ``control_id`` is in the catalog."""
        return control_id in self._by_id

    def get(self, control_id: str) -> Control:
        """The control with this id; raises ``UnknownControlError`` when there is none."""
        try:
            return self._by_id[control_id]
        except KeyError:
            near = difflib.get_close_matches(control_id, list(self._by_id), n=6, cutoff=0.6)
            hint = f"Close ids: {', '.join(near[:8])}." if near else None
            raise UnknownControlError(
                f"no control {control_id!r} in the catalog", hint=hint
            ) from None

    def by_framework(self, framework: str) -> tuple[Control, ...]:
        """The controls of one framework, in catalog order."""
        return tuple(c for c in self.controls if c.framework == framework)


def _date(value: object, where: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise CatalogError(f"catalog {where}: {value!r} is not an ISO date") from None


def _control(raw: Mapping[str, Any], index: int) -> Control:
    where = f"controls[{index}]"
    try:
        kinds = tuple(EvidenceKind(k) for k in raw["evidence_kinds"])
        deadlines = tuple(dict(d) for d in raw.get("deadlines") or ())
        return Control(
            id=ControlId(str(raw["id"])),
            framework=str(raw["framework"]),
            reference=str(raw["reference"]),
            title=str(raw["title"]),
            summary=str(raw.get("summary", "")),
            evidence_kinds=kinds,
            applies_from=_date(raw.get("applies_from"), f"{where}.applies_from"),
            verification=str(raw["verification"]) if raw.get("verification") else None,
            deadlines=deadlines,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise CatalogError(f"catalog {where} is malformed: {error!r}") from None


def _application_dates(raw: Iterable[Any]) -> tuple[ApplicationDate, ...]:
    dates = []
    for index, entry in enumerate(raw):
        try:
            day = _date(entry["date"], f"application_dates[{index}]")
            caveat = entry.get("caveat") or (
                f"verification: {entry['verification']}" if entry.get("verification") else None
            )
            dates.append(
                ApplicationDate(
                    framework=str(entry["framework"]),
                    date=day or dt.date.min,
                    scope=str(entry["scope"]),
                    reference=str(entry.get("ref", "")),
                    caveat=caveat,
                )
            )
        except (KeyError, TypeError) as error:
            raise CatalogError(
                f"catalog application_dates[{index}] is malformed: {error!r}"
            ) from None
    return tuple(dates)


def parse_catalog(text: str) -> Catalog:
    """Parse catalog YAML text into a ``Catalog``; raises ``CatalogError`` when malformed."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CatalogError(f"catalog is not valid YAML: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("controls"), list):
        raise CatalogError("catalog has no 'controls' list")
    head = raw.get("catalog") or {}
    controls = tuple(_control(entry, i) for i, entry in enumerate(raw["controls"]))
    seen: set[str] = set()
    for control in controls:
        if control.id in seen:
            raise CatalogError(f"catalog lists control {control.id!r} twice")
        seen.add(control.id)
    frameworks = {
        str(k): str((v or {}).get("title", k)) for k, v in (raw.get("frameworks") or {}).items()
    }
    unknown = {c.framework for c in controls} - set(frameworks)
    if unknown:
        raise CatalogError(f"catalog controls name undeclared frameworks {sorted(unknown)}")
    return Catalog(
        name=str(head.get("name", "catalog")),
        version=str(head.get("version", "0")),
        status=str(head.get("status", "")),
        caveats=tuple(str(note) for note in head.get("notes") or ()),
        frameworks=frameworks,
        controls=controls,
        application_dates=_application_dates(raw.get("application_dates") or ()),
        max_controls_per_document=_document_cap(raw.get("evidence_rules")),
    )


def _document_cap(rules: object) -> int:
    if rules is None:
        return 6
    cap = rules.get("max_controls_per_document") if isinstance(rules, dict) else None
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise CatalogError("catalog evidence_rules.max_controls_per_document must be >= 1")
    return cap


@functools.cache
def load_catalog() -> Catalog:
    """The catalog shipped with Kastell (parsed once per process)."""
    resource = importlib.resources.files("kastell.comply").joinpath("data/controls.yaml")
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError as error:
        raise CatalogError(f"cannot read the packaged catalog: {error}") from None
    return parse_catalog(text)


def control_exists(control_id: str) -> bool:
    """Whether ``control_id`` is a control of the packaged catalog."""
    return load_catalog().has(control_id)


def check_control_ids(control_ids: Iterable[str]) -> None:
    """Raise ``UnknownControlError`` naming every id that is not in the packaged catalog."""
    catalog = load_catalog()
    unknown = sorted({i for i in control_ids if not catalog.has(i)})
    if unknown:
        raise UnknownControlError(f"control ids not in the catalog: {', '.join(unknown)}")
