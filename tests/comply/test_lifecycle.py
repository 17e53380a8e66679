"""The ENISA lifecycle map: stage -> threats -> controls -> evidence -> status."""

from __future__ import annotations

from typing import Any

from kastell.comply.lifecycle import lifecycle_map, load_lifecycle


def _control(cid: str, status: str, applicability: str = "applies") -> dict[str, Any]:
    return {"id": cid, "title": cid, "status": status, "applicability": applicability,
            "evidence": [{"kind": "redteam_report"}]}  # fmt: skip


def _ids() -> list[str]:
    return list(dict.fromkeys(c for s in load_lifecycle() for t in s["threats"]
                              for c in t["controls"]))  # fmt: skip


def test_four_stages_with_threats_and_catalog_controls() -> None:
    stages = load_lifecycle()  # control ids are checked against the catalog on load
    assert [s["stage"].split()[0] for s in stages] == ["Data", "Training", "Deployment",
                                                        "Operation"]  # fmt: skip
    assert all(s["threats"] for s in stages)


def test_a_threat_takes_the_worst_status_of_its_applicable_controls() -> None:
    controls = [_control(c, "satisfied") for c in _ids()]
    controls[0] = _control(controls[0]["id"], "missing")
    stages = lifecycle_map(controls)
    first = stages[0]["threats"][0]
    assert first["status"] == "missing"
    assert stages[0]["status"] == "missing"
    assert first["controls"][0]["evidence"] == ["redteam_report"]


def test_not_applicable_controls_do_not_count() -> None:
    controls = [_control(c, "missing", "not_applicable") for c in _ids()]
    stages = lifecycle_map(controls)
    assert {s["status"] for s in stages} == {"not_applicable"}


def test_an_open_red_team_finding_marks_its_controls_failing() -> None:
    controls = [_control(c, "satisfied") for c in _ids()]
    items = [{"id": "redteam:insecure_output", "source": "redteam", "state": "open",
              "controls": ["OWASP-LLM05"]}]  # fmt: skip
    stages = lifecycle_map(controls, items)
    deployment = next(s for s in stages if s["stage"].startswith("Deployment"))
    assert deployment["status"] == "failing"
    accepted = [{**items[0], "state": "accepted"}]
    assert all(s["status"] == "satisfied" for s in lifecycle_map(controls, accepted))
