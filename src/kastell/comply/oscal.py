"""OSCAL export of an assessment: Assessment Results and a Plan of Action and Milestones.

Built with compliance-trestle's OSCAL models (``kastell[oscal]``), so every document is validated
by the models generated from the NIST OSCAL schemas before it is written. The export reads the
report document (``assessment_document``): each verdict item is an OSCAL finding (its control as
the objective, satisfied only when accepted), each step an observation, and each open or
inconclusive item a POA&M item with its owner and due date. UUIDs are derived from the deployment,
the assessment time and the item id, so one assessment always exports the same documents.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping
from typing import Any

from kastell.comply.interface import ReportWriteError

__all__ = ["OSCAL_FILES", "OSCAL_VERSION", "oscal_documents"]

OSCAL_FILES = ("oscal-assessment-results.json", "oscal-poam.json")
_NS = uuid.UUID("6f1d3c1e-8a54-4d59-9a67-4b8e2c1f0a16")
_PROP_NS = "https://kastell.dev/ns/oscal"
OSCAL_VERSION = "1.2.1"
"""The OSCAL version the documents declare (that of compliance-trestle 5.2.0's models)."""


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "\x1f".join(parts)))


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def oscal_documents(doc: Mapping[str, Any]) -> tuple[str, str]:
    """The Assessment Results and POA&M JSON texts for one report document.

    Raises:
        ReportWriteError: compliance-trestle is not installed (``pip install kastell[oscal]``)
            or the documents do not validate against the OSCAL models.
    """
    try:
        from pydantic import ValidationError
        from trestle.oscal.assessment_results import AssessmentResults
        from trestle.oscal.poam import PlanOfActionAndMilestones
    except ImportError:
        raise ReportWriteError(
            "the OSCAL export needs compliance-trestle",
            hint="pip install 'kastell[oscal]', or drop oscal from output.formats.",
        ) from None
    results, plan = _assessment_results(doc), _poam(doc)
    try:
        checked = (AssessmentResults.model_validate(results),
                   PlanOfActionAndMilestones.model_validate(plan))  # fmt: skip
    except (ValidationError, ValueError) as error:
        raise ReportWriteError(f"the OSCAL export does not validate: {error}") from None
    return (
        json.dumps({"assessment-results": _dump(checked[0])}, indent=2) + "\n",
        json.dumps({"plan-of-action-and-milestones": _dump(checked[1])}, indent=2) + "\n",
    )


def _prop(name: str, value: object) -> dict[str, str]:
    return {"name": name, "value": str(value) or "none", "ns": _PROP_NS}


def _metadata(doc: Mapping[str, Any], title: str) -> dict[str, Any]:
    return {"title": title, "last-modified": _iso(doc["finished_at"]),
            "version": str(doc["finished_at"]), "oscal-version": OSCAL_VERSION}  # fmt: skip


def _iso(text: object) -> str:
    return _when(str(text)).isoformat()


def _items(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((doc.get("findings") or {}).get("items", ()))


def _assessment_results(doc: Mapping[str, Any]) -> dict[str, Any]:
    key = (str(doc["deployment"]), str(doc["finished_at"]))
    findings = [{
        "uuid": _uuid(*key, "finding", i["id"]), "title": i["title"],
        "description": f"{i['detail']} ({i['state']}, {i['severity']})",
        "props": [_prop("verdict-item", i["id"]), _prop("state", i["state"]),
                  _prop("severity", i["severity"]), _prop("owner", i["owner"]),
                  _prop("due", i["due"])],
        "target": {"type": "objective-id",
                   "target-id": (list(i["controls"]) or [i["id"]])[0].replace(":", "-"),
                   "status": {"state": "satisfied" if i["state"] == "accepted"
                              else "not-satisfied"}},
    } for i in _items(doc)]  # fmt: skip
    observations = [{
        "uuid": _uuid(*key, "step", s["name"]), "title": s["name"],
        "description": f"{s['outcome']}: {s['detail']}", "methods": ["TEST"],
        "collected": _iso(doc["finished_at"]),
    } for s in doc["steps"]]  # fmt: skip
    result: dict[str, Any] = {
        "uuid": _uuid(*key, "result"), "title": f"Kastell assessment of {key[0]}",
        "description": f"Verdict {doc['verdict']} (exit {doc['exit_code']})",
        "start": _iso(doc["started_at"]), "end": _iso(doc["finished_at"]),
        "props": [_prop("verdict", doc["verdict"])],
        "reviewed-controls": {"control-selections": [{"include-all": {}}]},
    }  # fmt: skip
    if observations:
        result["observations"] = observations
    if findings:
        result["findings"] = findings
    return {"uuid": _uuid(*key, "assessment-results"),
            "metadata": _metadata(doc, f"Kastell assessment results: {key[0]}"),
            "import-ap": {"href": "./report.json"}, "results": [result]}  # fmt: skip


def _poam(doc: Mapping[str, Any]) -> dict[str, Any]:
    key = (str(doc["deployment"]), str(doc["finished_at"]))
    items = [{
        "uuid": _uuid(*key, "poam-item", i["id"]), "title": i["title"],
        "description": f"{i['detail']}; owner {i['owner']}, due {i['due']}",
        "props": [_prop("verdict-item", i["id"]), _prop("owner", i["owner"]),
                  _prop("due", i["due"]), _prop("severity", i["severity"])],
    } for i in _items(doc) if i["state"] != "accepted"]  # fmt: skip
    if not items:
        items = [{"uuid": _uuid(*key, "poam-none"), "title": "No open finding",
                  "description": "Every finding of the assessment is accepted."}]  # fmt: skip
    return {"uuid": _uuid(*key, "poam"),
            "metadata": _metadata(doc, f"Kastell plan of action: {key[0]}"),
            "system-id": {"identifier-type": "https://kastell.dev/deployment",
                          "id": key[0]},
            "poam-items": items}  # fmt: skip


def _dump(model: Any) -> Any:
    return json.loads(model.model_dump_json(by_alias=True, exclude_none=True))
