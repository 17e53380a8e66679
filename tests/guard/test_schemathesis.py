"""Schemathesis against the gateway's own OpenAPI document: no input produces a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from kastell.guard.app import GuardApp
from kastell.guard.config import parse_config
from kastell.guard.openapi import openapi_document
from kastell.guard.runtime import build_runtime

from ._servers import MockUpstream, serve_in_thread
from .conftest import KEY, make_config

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    with serve_in_thread(MockUpstream()) as upstream:
        config = make_config(upstream)
        config["tenants"]["acme"]["rate_limit"] = {"per_minute": 600000, "burst": 10000}
        app = GuardApp(build_runtime(parse_config(config)))
        with serve_in_thread(app) as url:
            yield url


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, gateway_url: str) -> None:
    response = case.call(base_url=gateway_url, headers={"Authorization": f"Bearer {KEY}"})
    case.validate_response(response, checks=[not_a_server_error])
