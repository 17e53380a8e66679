"""The AI-BOM step: a CycloneDX 1.6 ML-BOM bound to the signed model, through ``kastell.bom``.

The BOM is written beside the report (``bom.json``) and recorded as ``ai_bom`` evidence. A model
directory that differs from its signature fails the step (the BOM would describe other bytes).
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Sequence

from kastell.comply._evidence import step_result
from kastell.comply.interface import StepResult
from kastell.types import EvidenceKind, Subject


def build_bom_step(
    model_dir: pathlib.Path,
    signature: pathlib.Path,
    output: pathlib.Path,
    now: dt.datetime,
    *,
    dataset_attestations: Sequence[pathlib.Path] = (),
    attestations: Sequence[pathlib.Path] = (),
    model_card: pathlib.Path | None = None,
    trust_policy: pathlib.Path | None = None,
    include_environment: bool = True,
    subject: Subject | None = None,
) -> StepResult:
    """Build, validate and write the ML-BOM; return the step result."""
    from kastell.bom.builder import BomInputs, build_bom
    from kastell.bom.environment import python_packages
    from kastell.bom.modelcard import ModelCard, load_model_card
    from kastell.provenance.trust import load_trust_policy

    inputs = BomInputs(
        model_dir=model_dir,
        signature=signature,
        output=output,
        dataset_attestations=tuple(dataset_attestations),
        attestations=tuple(attestations),
        model_card=load_model_card(model_card) if model_card else ModelCard(),
        packages=python_packages() if include_environment else (),
        trust=load_trust_policy(trust_policy) if trust_policy else None,
    )
    document = build_bom(inputs, clock=lambda: now)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    components = document.get("components", [])
    kinds: dict[str, int] = {}
    for component in components:
        kinds[component.get("type", "?")] = kinds.get(component.get("type", "?"), 0) + 1
    detail = f"CycloneDX {document.get('specVersion')} ML-BOM, {len(components)} component(s) " + (
        ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    )
    data = {"file": output.name, "serial": document.get("serialNumber"), "components": kinds}
    return step_result(
        "ai-bom",
        True,
        detail,
        [(EvidenceKind.AI_BOM, subject, output.name, document)],
        now,
        data=data,
    )
