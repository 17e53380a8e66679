"""Trust policies are user input: any document gives a policy or a usage error."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.errors import KastellError
from kastell.provenance.trust import KindPolicy, parse_trust_policy

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(["dataset", "k", "all_of", "any_of"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["dataset", "training", "all_of", "any_of", "x"]), inner, max_size=3
        )
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=2000)
@given(_json)
def test_random_trust_section(trust: object) -> None:
    document = {"version": 1, "keys": {}, "trust": trust}
    try:
        policy = parse_trust_policy(document, Path("."))
    except KastellError as error:
        refused: KastellError | None = error
    else:
        refused = None
    if refused is not None:
        assert refused.exit_code == 2
        return
    assert isinstance(policy, KindPolicy)
