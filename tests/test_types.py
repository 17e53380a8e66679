from __future__ import annotations

import pytest

from kastell.errors import UsageError
from kastell.types import Digest, Finding, Location, Severity


def test_digest_round_trip() -> None:
    digest = Digest("sha256", "a" * 64)
    assert Digest.parse(str(digest)) == digest


@pytest.mark.parametrize("text", ["sha256:abc", "md5:" + "a" * 32, "nocolon", "sha256:" + "G" * 64])
def test_digest_rejects_malformed(text: str) -> None:
    with pytest.raises(UsageError):
        Digest.parse(text)


def test_severity_is_ordered_and_parses() -> None:
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFO
    assert Severity.parse("High") is Severity.HIGH
    with pytest.raises(UsageError):
        Severity.parse("urgent")


def test_finding_to_dict() -> None:
    finding = Finding("X1", Severity.HIGH, "t", "m", Location("a.pkl", member="data.pkl"))
    assert finding.to_dict()["severity"] == "high"
    assert str(finding.location) == "a.pkl!data.pkl"
