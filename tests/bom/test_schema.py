"""The BOM validates against the CycloneDX 1.6 JSON schema files shipped in cyclonedx-python-lib,
loaded here directly with jsonschema (independent of the library's own validator)."""

from __future__ import annotations

import json
from pathlib import Path

import cyclonedx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from kastell.bom.modelcard import load_model_card

from .conftest import Signed
from .test_bom import CARD, _build

_RES = Path(cyclonedx.__file__).parent / "schema" / "_res"


def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads((_RES / "bom-1.6.SNAPSHOT.schema.json").read_text())
    resources = []
    for name in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"):
        document = json.loads((_RES / name).read_text())
        resource = Resource.from_contents(document, default_specification=DRAFT7)
        # refs are relative to the main schema's $id
        resources += [
            (f"http://cyclonedx.org/schema/{name}", resource),
            (document["$id"], resource),
        ]
    registry = Registry().with_resources(resources)
    return jsonschema.Draft7Validator(schema, registry=registry)


def test_bom_valid_against_shipped_schema(signed: Signed) -> None:
    card = signed.tmp / "card.yaml"
    card.write_text(CARD)
    document = _build(signed, model_card=load_model_card(card))
    errors = sorted(_validator().iter_errors(document), key=str)
    assert not errors, errors[0].message


def test_shipped_schema_rejects_model_card_on_wrong_shape(signed: Signed) -> None:
    document = _build(signed)
    document["metadata"]["component"]["modelCard"]["colour"] = "red"
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(document)
