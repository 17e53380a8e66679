"""The signed report bundle: `kastell verify-report` exits 1 for any change of any file."""

from __future__ import annotations

import json
import os
import pathlib

import pytest
import yaml

from kastell.cli.main import main
from kastell.errors import ExitCode

from ._builders import NOW
from ._deployment import build_deployment


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    root = tmp_path_factory.mktemp("signed-report")
    path = build_deployment(root, output={"dir": "report", "signing_key": "keys/signer.pem"})
    code = main(["assess", str(path), "--now", NOW.isoformat()])
    assert code in (ExitCode.OK, ExitCode.FAILED)
    _KEY[:] = [root / "keys" / "signer.pub"]
    return root / "report"


def _copy(bundle: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(bundle, target, symlinks=True)
    return target


_KEY: list[pathlib.Path] = []


def _verify(path: pathlib.Path, *extra: str) -> int:
    return main(["verify-report", str(path), "--key", str(_KEY[0]), *extra])


def _files(bundle: pathlib.Path) -> list[str]:
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())


def test_the_bundle_holds_report_manifest_and_payloads(bundle: pathlib.Path) -> None:
    names = _files(bundle)
    assert {"report.html", "report.json", "report.md", "evidence-manifest.json",
            "report.sig.json"} <= set(names)  # fmt: skip
    assert any(n.startswith("evidence/sha256-") for n in names)
    doc = json.loads((bundle / "report.json").read_text())
    linked = [e for e in doc["evidence"] if e["href"]]
    assert linked
    assert all((bundle / e["href"]).is_file() for e in linked)
    html = (bundle / "report.html").read_text()
    assert f'href="{linked[0]["href"]}"' in html


def test_an_untouched_bundle_verifies(bundle: pathlib.Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert _verify(bundle, "--format", "json") == ExitCode.OK
    result = json.loads(capsys.readouterr().out)
    assert result["passed"] is True
    assert result["predicate"]["deployment"] == "unit-deployment"


def _each_file(bundle: pathlib.Path) -> list[str]:
    return _files(bundle)


def test_every_changed_byte_of_every_file_fails(bundle: pathlib.Path,
                                                tmp_path: pathlib.Path) -> None:  # fmt: skip
    for index, name in enumerate(_each_file(bundle)):
        copy = _copy(bundle, tmp_path / str(index))
        data = bytearray((copy / name).read_bytes())
        for position in {0, len(data) // 2, len(data) - 1}:
            mutated = bytearray(data)
            mutated[position] ^= 0x01
            (copy / name).write_bytes(bytes(mutated))
            assert _verify(copy) == ExitCode.FAILED, (name, position)
        (copy / name).write_bytes(bytes(data))
        assert _verify(copy) == ExitCode.OK


def test_every_removed_file_fails(bundle: pathlib.Path, tmp_path: pathlib.Path) -> None:
    for index, name in enumerate(_each_file(bundle)):
        copy = _copy(bundle, tmp_path / str(index))
        (copy / name).unlink()
        assert _verify(copy) == ExitCode.FAILED, name


@pytest.mark.parametrize("name", ["extra.html", "evidence/sha256-00", "report.html.orig"])
def test_an_added_file_fails(bundle: pathlib.Path, tmp_path: pathlib.Path, name: str) -> None:
    copy = _copy(bundle, tmp_path)
    (copy / name).write_text("injected")
    assert _verify(copy) == ExitCode.FAILED


def test_a_symlink_in_place_of_a_file_fails(bundle: pathlib.Path, tmp_path: pathlib.Path) -> None:
    copy = _copy(bundle, tmp_path)
    outside = tmp_path / "outside.html"
    outside.write_bytes((copy / "report.html").read_bytes())  # same bytes, but a link
    (copy / "report.html").unlink()
    os.symlink(outside, copy / "report.html")
    assert _verify(copy) == ExitCode.FAILED


def test_a_signature_by_another_key_fails(bundle: pathlib.Path, tmp_path: pathlib.Path) -> None:
    copy = _copy(bundle, tmp_path)
    other = tmp_path / "other"
    assert main(["keygen", "--type", "ecdsa-p256", "--output", str(other)]) == 0
    assert main(["verify-report", str(copy), "--key", f"{other}.pub"]) == ExitCode.FAILED


def test_an_unsigned_bundle_fails(bundle: pathlib.Path, tmp_path: pathlib.Path) -> None:
    copy = _copy(bundle, tmp_path)
    (copy / "report.sig.json").unlink()
    assert _verify(copy) == ExitCode.FAILED


def test_a_resigned_statement_with_a_dropped_subject_is_caught(
    bundle: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """An attacker with the key could re-sign; without it, editing the statement breaks it."""
    copy = _copy(bundle, tmp_path)
    signature = json.loads((copy / "report.sig.json").read_text())
    import base64

    payload = json.loads(base64.b64decode(signature["dsseEnvelope"]["payload"]))
    payload["subject"] = [s for s in payload["subject"] if s["name"] != "report.html"]
    signature["dsseEnvelope"]["payload"] = base64.b64encode(
        json.dumps(payload).encode()).decode()  # fmt: skip
    (copy / "report.sig.json").write_text(json.dumps(signature))
    assert _verify(copy) == ExitCode.FAILED


def test_a_missing_directory_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    key = tmp_path / "k"
    assert main(["keygen", "--type", "ecdsa-p256", "--output", str(key)]) == 0
    code = main(["verify-report", str(tmp_path / "none"), "--key", f"{key}.pub"])
    assert code == ExitCode.USAGE


# ------------------------------------------------------------------------ risk acceptances


def _acceptances(path: pathlib.Path, finding: str, until: str = "2027-06-30") -> pathlib.Path:
    path.write_text(yaml.safe_dump({"acceptances": [{
        "finding": finding, "accepted_by": "A. Person", "role": "CISO",
        "reason": "documented elsewhere; compensating control in place", "until": until}]}))
    return path  # fmt: skip


def _with_risk(root: pathlib.Path) -> pathlib.Path:
    descriptor = root / "deployment.yaml"
    raw = yaml.safe_load(descriptor.read_text())
    raw["risk"] = {"acceptances": "accepted.json", "acceptance_keys": ["keys/signer.pub"],
                   "default_owner": "CISO"}  # fmt: skip
    descriptor.write_text(yaml.safe_dump(raw))
    return descriptor


def _assess_json(descriptor: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    main(["assess", str(descriptor), "--now", NOW.isoformat(), "--format", "json"])
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_signed_acceptances_accept_only_for_the_signed_descriptor(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_deployment(tmp_path)
    descriptor = _with_risk(tmp_path)
    source = _acceptances(tmp_path / "accepted.yaml", "control:OWASP-LLM01")
    assert main(["accept-risk", str(source), "--descriptor", str(descriptor), "--key",
                 str(tmp_path / "keys" / "signer.pem"), "-o",
                 str(tmp_path / "accepted.json")]) == 0  # fmt: skip
    doc = _assess_json(descriptor, capsys)
    items = {i["id"]: i for i in doc["findings"]["items"]}
    assert items["control:OWASP-LLM01"]["state"] == "accepted"
    assert items["control:OWASP-LLM01"]["acceptance"]["accepted_by"] == "A. Person"
    assert doc["findings"]["acceptance_problem"] is None
    # any change of the descriptor (here: the owner) voids every acceptance
    descriptor.write_text(descriptor.read_text().replace("CISO", "CTO"))
    doc = _assess_json(descriptor, capsys)
    items = {i["id"]: i for i in doc["findings"]["items"]}
    assert items["control:OWASP-LLM01"]["state"] == "open"
    assert "another version of the descriptor" in doc["findings"]["acceptance_problem"]
    assert items["acceptances:signature"]["state"] == "open"


def test_acceptances_signed_by_an_untrusted_key_accept_nothing(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_deployment(tmp_path)
    descriptor = _with_risk(tmp_path)
    other = tmp_path / "mallory"
    assert main(["keygen", "--type", "ecdsa-p256", "--output", str(other)]) == 0
    source = _acceptances(tmp_path / "accepted.yaml", "control:OWASP-LLM01")
    assert main(["accept-risk", str(source), "--descriptor", str(descriptor), "--key",
                 f"{other}.pem", "-o", str(tmp_path / "accepted.json")]) == 0  # fmt: skip
    doc = _assess_json(descriptor, capsys)
    items = {i["id"]: i for i in doc["findings"]["items"]}
    assert items["control:OWASP-LLM01"]["state"] == "open"
    assert "do not verify" in doc["findings"]["acceptance_problem"]


@pytest.mark.parametrize(
    "text",
    [
        "acceptances: [{finding: x, accepted_by: a, role: r, reason: long enough reason, "
        "until: 2027-01-01, extra: 1}]",
        "acceptances: [{finding: x, accepted_by: a, role: r, reason: short, until: 2027-01-01}]",
        "acceptances: [{finding: x, accepted_by: a, role: r, reason: long enough reason, "
        "until: soon}]",
        "acceptances: [{finding: x, finding: y, accepted_by: a, role: r, "
        "reason: long enough reason, until: 2027-01-01}]",
        "acceptances: []",
    ],
)
def test_malformed_acceptances_are_refused_before_signing(
    tmp_path: pathlib.Path, text: str
) -> None:
    source = tmp_path / "a.yaml"
    source.write_text(text)
    descriptor = tmp_path / "d.yaml"
    descriptor.write_text("name: x\n")
    key = tmp_path / "k"
    assert main(["keygen", "--type", "ecdsa-p256", "--output", str(key)]) == 0
    code = main(["accept-risk", str(source), "--descriptor", str(descriptor), "--key",
                 f"{key}.pem", "-o", str(tmp_path / "out.json")])  # fmt: skip
    assert code == ExitCode.USAGE
