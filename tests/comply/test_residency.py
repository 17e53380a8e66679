from __future__ import annotations

from collections.abc import Sequence

import pytest

from kastell.comply.catalog import load_catalog
from kastell.comply.residency import (
    AssetKind,
    ResidencyDeclaration,
    ResidencyPolicy,
    check_residency,
)
from kastell.errors import UsageError


def _asset(
    kind: AssetKind = AssetKind.WEIGHTS, country: str = "DE", jurisdiction: str = "DE", **kw: object
) -> ResidencyDeclaration:
    return ResidencyDeclaration("a", kind, country, "prov", jurisdiction, **kw)  # type: ignore[arg-type]


def test_eu_assets_pass_the_default_policy() -> None:
    assets = [
        _asset(k, c, c) for k, c in zip(AssetKind, ["DE", "FR", "NO", "ie", "AT"], strict=True)
    ]
    assert check_residency(assets) == ()


def test_asset_outside_eu_is_flagged_with_catalog_mappings() -> None:
    (finding,) = check_residency([_asset(AssetKind.LOGS, "US", "DE")])
    assert finding.rule_id == "RES-001"
    assert "US" in finding.message
    assert finding.mappings
    assert all(load_catalog().has(m) for m in finding.mappings)


def test_foreign_jurisdiction_provider_is_flagged() -> None:
    (finding,) = check_residency([_asset(AssetKind.KEYS, "IE", "US")])
    assert finding.rule_id == "RES-002"
    assert "answers to US" in finding.message


def test_policy_is_configurable() -> None:
    policy = ResidencyPolicy(frozenset({"CH", "DE"}), frozenset({"CH"}), name="swiss")
    assert check_residency([_asset(country="CH", jurisdiction="CH")], policy) == ()
    rules = [f.rule_id for f in check_residency([_asset(country="FR", jurisdiction="DE")], policy)]
    assert rules == ["RES-001", "RES-002"]


def _resolver(answers: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    def resolve(host: str) -> Sequence[str]:
        return answers[host]

    return resolve


def test_endpoint_resolving_inside_declared_networks_passes() -> None:
    endpoint = _asset(AssetKind.ENDPOINT, host="llm.example.eu", networks=("192.0.2.0/24",))
    assert check_residency([endpoint], resolver=_resolver({"llm.example.eu": ["192.0.2.7"]})) == ()


def test_endpoint_resolving_elsewhere_is_flagged() -> None:
    endpoint = _asset(AssetKind.ENDPOINT, host="llm.example.eu", networks=("192.0.2.0/24",))
    resolve = _resolver({"llm.example.eu": ["192.0.2.7", "198.51.100.9"]})
    (finding,) = check_residency([endpoint], resolver=resolve)
    assert finding.rule_id == "RES-003"
    assert "198.51.100.9" in finding.message
    assert "192.0.2.7" not in finding.message


def test_endpoint_without_networks_cannot_be_compared() -> None:
    endpoint = _asset(AssetKind.ENDPOINT, host="h")
    (finding,) = check_residency([endpoint], resolver=_resolver({"h": ["::1"]}))
    assert finding.rule_id == "RES-004"


def test_no_resolver_means_no_lookup() -> None:
    endpoint = _asset(AssetKind.ENDPOINT, host="h", networks=("10.0.0.0/8",))

    def explode(host: str) -> Sequence[str]:
        raise AssertionError("must not resolve")

    assert check_residency([endpoint]) == ()


def test_bad_network_is_a_usage_error() -> None:
    endpoint = _asset(AssetKind.ENDPOINT, host="h", networks=("not-a-cidr",))
    with pytest.raises(UsageError, match="bad network") as caught:
        check_residency([endpoint], resolver=_resolver({"h": ["10.0.0.1"]}))
    assert "CIDR" in caught.value.diagnostics()


def test_declared_places_must_match_the_signed_statement() -> None:
    from kastell.comply.residency import compare_with_signed

    signed = {
        "weights": {"country": "DE", "provider": "p", "jurisdiction": "DE"},
        "data": {"country": "FR", "provider": "p", "jurisdiction": "FR"},
    }
    assert compare_with_signed([_asset(AssetKind.WEIGHTS, "de", "DE")], signed) == ()
    (finding,) = compare_with_signed([_asset(AssetKind.DATASET, "DE", "DE")], signed)
    assert finding.rule_id == "RES-005"
    assert "signed statement says FR" in finding.message
    assert compare_with_signed([_asset(AssetKind.LOGS, "US", "US")], signed) == ()
