"""A trusted signer can still write nonsense: verify-chain answers with a report, never a crash."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kastell.errors import KastellError
from kastell.integrity.keys import read_private_key
from kastell.provenance.chain import verify_chain
from kastell.provenance.statement import read_signed_statement, write_signed_statement
from kastell.provenance.trust import load_trust_policy

from .conftest import Chain, KeyFiles

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_DEP = ["buildDefinition", "resolvedDependencies", 0]
_PATHS = [
    ["buildDefinition"],
    ["buildDefinition", "resolvedDependencies"],
    _DEP,
    [*_DEP, "name"],
    [*_DEP, "digest"],
    [*_DEP, "digest", "blake3"],
    [*_DEP, "annotations"],
    [*_DEP, "annotations", "kastellAttestation"],
    [*_DEP, "annotations", "kastellAttestation", "uri"],
    [*_DEP, "annotations", "kastellAttestation", "digest"],
]


def _set(document: Any, path: list[Any], value: Any) -> None:
    for key in path[:-1]:
        document = document[key]
    document[path[-1]] = value


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.sampled_from(_PATHS), _json)
def test_training_predicate_nonsense(
    chain: Chain, keys: dict[str, KeyFiles], path: list[Any], value: Any
) -> None:
    ml, ops = read_private_key(keys["ml"].private), read_private_key(keys["ops"].private)
    if not hasattr(chain, "original"):
        deployment = json.loads(json.dumps(read_signed_statement(chain.deployment).statement))
        deployment["predicate"]["training"].pop("digest")  # unpinned: reach the training checks
        write_signed_statement(deployment, [ops], chain.deployment)
        chain.original = read_signed_statement(chain.training).statement  # type: ignore[attr-defined]
    statement = copy.deepcopy(dict(chain.original))  # type: ignore[attr-defined]
    _set(statement["predicate"], path, value)
    write_signed_statement(statement, [ml], chain.training)
    try:
        report = verify_chain(chain.deployment, load_trust_policy(chain.policy))
    except KastellError:
        return
    assert report.ok or report.broken
