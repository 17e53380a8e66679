"""The assessment report as Markdown (for pull requests, wikis and auditors' working papers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["render_report_markdown"]


def _cell(value: object) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _tree(link: Mapping[str, Any], depth: int = 0) -> list[str]:
    mark = "ok" if link.get("ok") else "BROKEN"
    subject = link.get("subject") or "no subject"
    line = f"{'  ' * depth}- **{link.get('kind')}** `{link.get('source')}` {subject} [{mark}]"
    lines = [line + f" - {link.get('detail', '')}"]
    for child in link.get("children", ()):
        lines += _tree(child, depth + 1)
    return lines


_TITLES = {
    "ai_bom": "AI-BOM",
    "redteam": "Red-team results",
    "scan": "Model-file scan",
    "guard": "Guard posture",
    "audit_log": "Audit log",
    "residency": "Residency",
}


def _summary(doc: Mapping[str, Any]) -> list[str]:
    statuses = ["satisfied", "failing", "missing", "needs_attestation"]
    later = doc.get("applies_later", {})
    rows = [[fw, *(counts.get(s, 0) for s in statuses), later.get(fw, 0)]
            for fw, counts in doc["summary"].items()]  # fmt: skip
    return _table(["Framework", *statuses, "of these, apply later"], rows)


def _verdict(doc: Mapping[str, Any]) -> list[str]:
    findings = doc.get("findings") or {}
    out = ["## Executive summary", "",
           f"{findings.get('open', 0)} open finding(s), {findings.get('accepted', 0)} accepted "
           f"risk(s), {findings.get('inconclusive', 0)} inconclusive item(s). All times UTC.", ""]
    scope = doc.get("scope")
    out += ["## Scope", ""]
    if scope:
        ai, nis2, cra = scope["ai_act"], scope["nis2"], scope["cra"]
        out += _table(["Field", "Declared"], [
            ["Organisation", f"{scope['organisation']} ({scope['contact']})"],
            ["Member States", ", ".join(scope["member_states"])],
            ["AI Act role(s)", ", ".join(ai["roles"])],
            ["AI Act risk class", f"{ai['risk_class']} - {ai['legal_basis']}"],
            ["GPAI provider / systemic risk",
             f"{'yes' if ai['gpai_model_provider'] else 'no'} / "
             f"{'yes' if ai['systemic_risk'] else 'no'}"],
            ["NIS2 entity", f"{nis2['entity_type']} {nis2.get('sector') or ''}".strip()],
            ["CRA", ", ".join(cra["roles"]) or "no product placed on the market"],
        ])  # fmt: skip
    else:
        out += ["Scope not declared: every control is treated as applicable.", ""]
    out += _table(["Framework", "Applies", "Applies later", "Not applicable"],
                  [[fw, c["applies"], c["applies_later"], c["not_applicable"]]
                   for fw, c in (doc.get("applicability") or {}).items()])  # fmt: skip
    out += ["## Findings and accepted risks", ""]
    rows = []
    for i in findings.get("items", ()):
        accepted = i.get("acceptance") or {}
        note = (f"{accepted['accepted_by']} ({accepted['role']}) until {accepted['until']}: "
                f"{accepted['reason']}" if accepted else i.get("note", ""))  # fmt: skip
        rows.append([i["state"], i["severity"], i["id"], i["title"], i["owner"], i["due"], note])
    out += _table(["State", "Severity", "Id", "Finding", "Owner", "Due", "Acceptance / note"],
                  rows) if rows else ["No findings.", ""]  # fmt: skip
    return out


def _sections(doc: Mapping[str, Any]) -> list[str]:
    out = [*_verdict(doc), "## Steps", ""]
    out += _table(
        ["Step", "Outcome", "Detail"],
        [[s["name"], s["outcome"], s["detail"]] for s in doc["steps"]],
    )
    out += ["## Applicable controls by framework", "", *_summary(doc)]
    provenance = doc.get("provenance") or {}
    out += ["## Provenance chain", ""]
    out += _tree(provenance["chain"]) if provenance.get("chain") else ["Not verified."]
    out += [""]
    for name in ("ai_bom", "scan", "redteam", "guard", "audit_log", "residency"):
        data = doc.get(name)
        title = _TITLES.get(name, name.capitalize())
        out += [f"## {title}", "", (data or {}).get("detail", "Not run.") or "", ""]
        if name == "redteam" and data and data.get("categories"):
            out += _table(
                ["Category", "Attack success", "95% interval", "Gate failed"],
                [
                    [
                        c["name"],
                        f"{c['attack_success_rate']:.1%}",
                        f"{c['ci_low']:.1%} - {c['ci_high']:.1%}"
                        if c.get("ci_low") is not None
                        else "",
                        "yes" if c.get("gate_failed") else "",
                    ]
                    for c in data["categories"]
                ],
            )
    out += ["## Incidents", ""]
    for incident in doc["incidents"]:
        out += [f"### {incident['id']}: {incident['title']}", ""]
        out += _table(
            ["Clock", "Basis", "Due", "State"],
            [
                [c["step"], c["basis"], c["due"] or f"after {c['start_event']}", c["state"]]
                for c in incident["clocks"]
            ],
        )
    if not doc["incidents"]:
        out += ["No incidents recorded.", ""]
    return out


def _controls(doc: Mapping[str, Any]) -> list[str]:
    out = ["## Controls", ""]
    rows = []
    for c in doc["controls"]:
        evidence = "; ".join(f"{e['kind']} {e['payload_digest']}" for e in c["evidence"])
        status = c["status"] if c.get("applicability", "applies") == "applies" else (
            f"{c['applicability']}: {c.get('applicability_reason', '')}")  # fmt: skip
        rows.append([c["id"], c["title"], status, c["reason"], evidence])
    return out + _table(["Control", "Title", "Status", "Why", "Evidence (digests)"], rows)


def render_report_markdown(doc: Mapping[str, Any]) -> str:
    """Markdown from ``assessment_document()`` output."""
    out = [
        f"# Kastell assessment: {doc['deployment']}",
        "",
        f"Verdict: **{doc['verdict']}** (exit {doc['exit_code']}); assessed "
        f"{doc['started_at']} - {doc['finished_at']}.",
        "",
        f"> Caveats of the control catalog ({doc['catalog']['name']} "
        f"{doc['catalog']['version']}, {doc['catalog']['status']}):",
    ]
    out += [f"> - {_cell(note)}" for note in doc["catalog"]["caveats"]]
    out += ["> - *Satisfied* means every evidence kind the catalog lists for a control is present, "
            "fresh and passing; it is not a finding of legal conformity."]
    out += [
        "",
        *_sections(doc),
        *_controls(doc),
        "## Annex IV technical documentation skeleton",
        "",
    ]
    for section in doc["annex_iv"]:
        out += [f"### Point {section['point']}: {section['title']}", ""]
        out += [f"- {fact}" for fact in section["facts"]] or ["- (no evidence yet)"]
        out += ["", f"_To write:_ {section['to_write']}", ""]
    return "\n".join(out).rstrip() + "\n"
