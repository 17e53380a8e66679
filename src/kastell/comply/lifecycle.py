"""The ENISA lifecycle map: stage -> threats -> controls -> evidence -> status.

A pure function of the report document's controls and the packaged map
(``comply/data/lifecycle.yaml``). A threat's status is the worst status of its applicable
controls (``failing`` > ``missing`` > ``needs_attestation`` > ``satisfied``); a threat with no
applicable control is ``not_applicable``.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Mapping, Sequence
from typing import Any

from kastell.comply._yaml import strict_yaml
from kastell.comply.catalog import check_control_ids
from kastell.comply.interface import CatalogError

__all__ = ["lifecycle_map", "load_lifecycle"]

_ORDER = ("failing", "missing", "needs_attestation", "satisfied")


@functools.cache
def load_lifecycle() -> tuple[Mapping[str, Any], ...]:
    """The packaged stages, each with its threats and their control ids (checked)."""
    resource = importlib.resources.files("kastell.comply").joinpath("data/lifecycle.yaml")
    raw = strict_yaml(resource.read_text(encoding="utf-8"))
    try:
        stages = tuple(raw["stages"])
        ids = [c for s in stages for t in s["threats"] for c in [t["taxonomy"], *t["controls"]]]
    except (KeyError, TypeError) as error:
        raise CatalogError(f"the lifecycle map is malformed: {error!r}") from None
    check_control_ids(ids)
    return stages


def _worst(statuses: list[str]) -> str:
    for status in _ORDER:
        if status in statuses:
            return status
    return "not_applicable"


def lifecycle_map(controls: Sequence[Mapping[str, Any]],
                  items: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:  # fmt: skip
    """Each stage with its threats, their controls (status, evidence kinds) and a threat status.

    A control named by an open verdict item (e.g. a red-team category over the appetite) shows
    ``failing`` whatever its evidence says.
    """
    by_id = {c["id"]: c for c in controls}
    flagged = {c for i in items if i.get("state") == "open" and i.get("source") != "control"
               for c in i.get("controls", ())}  # fmt: skip
    stages = []
    for stage in load_lifecycle():
        threats = []
        for threat in stage["threats"]:
            rows = []
            for control_id in threat["controls"]:
                c = by_id.get(control_id)
                if c is None:
                    continue
                applies = c.get("applicability", "applies") == "applies"
                status = "failing" if control_id in flagged else c["status"]
                rows.append({"id": control_id, "title": c["title"],
                             "status": status if applies else c["applicability"],
                             "evidence": sorted({e["kind"] for e in c["evidence"]}),
                             "applies": applies})  # fmt: skip
            threats.append({"threat": threat["threat"], "taxonomy": threat["taxonomy"],
                            "status": _worst([r["status"] for r in rows if r["applies"]]),
                            "controls": rows})  # fmt: skip
        stages.append({"stage": stage["stage"], "threats": threats,
                       "status": _worst([t["status"] for t in threats])})  # fmt: skip
    return stages
