from __future__ import annotations

import contextlib
import hashlib
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kastell.redteam.inputs import load_canaries, parse_canaries, parse_records
from kastell.redteam.interface import ProbeConfig, RedteamUsageError
from kastell.redteam.suites import materialize, suite_named


def test_records_and_canaries_feed_extraction_probes(tmp_path: pathlib.Path) -> None:
    records = parse_records('{"text": "Patient 4411 was admitted on 3 May with a fractured '
                            'wrist and discharged two days later."}\n'
                            '{"prefix": "Invoice 99:", "suffix": " total 1,234.56 EUR due in 30 '
                            'days"}\n')
    digest = hashlib.sha256(b"KCAN-77AB12CD").hexdigest()
    path = tmp_path / "canaries.jsonl"
    path.write_text('{"prefix": "secret phrase:", "canary": "KCAN-ZZ99XX11YY"}\n'
                    f'{{"prefix": "token:", "canary_sha256": "{digest}", '
                    '"pattern": "KCAN-[0-9A-Z]{8}"}\n', encoding="utf-8")
    canaries = load_canaries(path)
    built = materialize(suite_named("kastell-baseline-v1"),
                        ProbeConfig(languages=("en",), records=records, canaries=canaries))
    extraction = [a for a in built.attempts if a.category.value == "training_data_extraction"]
    assert len(extraction) == 4
    assert "training_data_extraction" not in [c.value for c in built.untested_categories]
    assert {a.detectors[0].split("@")[0] for a in extraction} == {"verbatim", "canary",
                                                                  "canary_digest"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json}\n", "line 1: not JSON"),
        ("[1, 2]\n", "expected a JSON object"),
        ('{"prefix": "a"}\n', "'suffix' must be a non-empty string"),
        ('{"text": 5}\n', "'text' must be"),
    ],
)
def test_bad_records(text: str, fragment: str) -> None:
    with pytest.raises(RedteamUsageError, match=fragment):
        parse_records(text)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"canary": "x"}\n', "'prefix'"),
        ('{"prefix": "p", "canary_sha256": "abc", "pattern": "x"}\n', "64 hex"),
        ('{"prefix": "p", "canary_sha256": "' + "a" * 64 + '", "pattern": "("}\n',
         "bad pattern"),
    ],
)
def test_bad_canaries(text: str, fragment: str) -> None:
    with pytest.raises(RedteamUsageError, match=fragment):
        parse_canaries(text)


@settings(max_examples=200, deadline=2000)
@given(st.text(max_size=300))
def test_fuzz_inputs_never_crash(text: str) -> None:
    for parse in (parse_records, parse_canaries):
        with contextlib.suppress(RedteamUsageError):
            parse(text)


def test_canary_file_from_kastell_canary_generate(tmp_path: pathlib.Path) -> None:
    import json

    from kastell.provenance.canary import generate_canaries

    canaries = generate_canaries(2)
    revealed = tmp_path / "revealed.json"
    revealed.write_text(json.dumps(canaries.to_document(reveal=True)), encoding="utf-8")
    hidden = tmp_path / "digests.json"
    hidden.write_text(json.dumps(canaries.to_document(reveal=False)), encoding="utf-8")
    plain = load_canaries(revealed)
    assert [c["canary"] for c in plain] == [c.secret for c in canaries.canaries]
    digests = load_canaries(hidden)
    assert [c["canary_sha256"] for c in digests] == list(canaries.digests())
    built = materialize(suite_named("kastell-baseline-v1"),
                        ProbeConfig(languages=("en",), canaries=digests))
    from kastell.redteam.detectors.registry import run_detectors
    from kastell.redteam.interface import ChatResponse

    probe = [a for a in built.attempts if a.probe_id == "extraction.canary_exposure"]
    secret = canaries.canaries[0].secret
    assert secret is not None
    assert run_detectors(probe[0], [ChatResponse(f"the phrase is {secret}")]) is not None
    assert run_detectors(probe[1], [ChatResponse(f"the phrase is {secret}")]) is None


def test_bad_canary_file_is_usage_error(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"kastellCanaries": 1, "canaries": "nope"}', encoding="utf-8")
    with pytest.raises(RedteamUsageError, match="not a list"):
        load_canaries(path)
