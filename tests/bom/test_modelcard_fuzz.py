"""Model cards are user input: any YAML gives a card or a usage error (exit 2)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.bom.interface import BomUsageError
from kastell.bom.modelcard import ModelCard, load_model_card

_keys = st.sampled_from(
    ["modelParameters", "approach", "type", "task", "considerations", "useCases", "value", "x"]
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=2000)
@given(_json)
def test_random_card(document: object) -> None:
    import json

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "card.yaml"
        path.write_text(json.dumps(document))
        try:
            card = load_model_card(path)
        except BomUsageError as error:
            refused: BomUsageError | None = error
        else:
            refused = None
        if refused is not None:
            assert refused.exit_code == 2
            return
        assert isinstance(card, ModelCard)
        card.to_cyclonedx(("dataset:x",), "model-card")
