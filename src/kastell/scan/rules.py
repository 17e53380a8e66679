"""The rules the model-file scanner can report, with their catalog mappings.

Each rule has a stable id, a default severity, a title and the control ids of the catalog it
bears on (a contract test checks that every id exists in ``comply/data/controls.yaml``).
"""

from __future__ import annotations

import dataclasses

from kastell.types import ControlId, Severity

__all__ = ["RULES", "Rule"]


@dataclasses.dataclass(frozen=True)
class Rule:
    """A kind of finding the scanner reports."""

    rule_id: str
    severity: Severity
    title: str
    mappings: tuple[ControlId, ...]


_SUPPLY = (ControlId("ATLAS-AML.T0010"), ControlId("OWASP-LLM03"), ControlId("CRA-AI-I.2.a"))
_CODE = (
    ControlId("ATLAS-AML.T0011.000"),
    ControlId("ATLAS-AML.T0018"),
    *_SUPPLY,
    ControlId("AIA-15.5.MP"),
)
_TEMPLATE = (ControlId("ATLAS-AML.T0051"), ControlId("OWASP-LLM01"), *_SUPPLY)


def _rule(rule_id: str, severity: Severity, title: str, mappings: tuple[ControlId, ...]) -> Rule:
    return Rule(rule_id, severity, title, mappings)


RULES: dict[str, Rule] = {
    rule.rule_id: rule
    for rule in (
        _rule("KS-SCAN-UNSCANNABLE", Severity.HIGH, "File could not be scanned", _SUPPLY),
        _rule("KS-SCAN-UNKNOWN-FORMAT", Severity.HIGH, "Unknown file format", _SUPPLY),
        _rule("KS-PICKLE-DANGEROUS-CALLABLE", Severity.CRITICAL,
              "Pickle imports a known-dangerous callable", _CODE),
        _rule("KS-PICKLE-UNLISTED-CALLABLE", Severity.HIGH,
              "Pickle imports a callable outside the allowlist", _CODE),
        _rule("KS-PICKLE-DYNAMIC-GLOBAL", Severity.CRITICAL,
              "Pickle resolves a global from computed values", _CODE),
        _rule("KS-PICKLE-EXTENSION-CODE", Severity.CRITICAL,
              "Pickle refers to a callable through the copyreg extension registry", _CODE),
        _rule("KS-PICKLE-COMPUTED-CALL", Severity.CRITICAL,
              "Pickle calls the result of another call", _CODE),
        _rule("KS-PICKLE-SETSTATE-OVERRIDE", Severity.CRITICAL,
              "Pickle BUILD state sets dunder attributes", _CODE),
        _rule("KS-PICKLE-NESTED", Severity.CRITICAL,
              "Pickle carries a nested pickle that is loaded at load time", _CODE),
        _rule("KS-PICKLE-AMBIGUOUS", Severity.HIGH,
              "Unpicklers may read the pickle stream differently", _CODE),
        _rule("KS-SCAN-AMBIGUOUS", Severity.HIGH,
              "Loaders may read the file differently", _SUPPLY),
        _rule("KS-PICKLE-TRAILING-DATA", Severity.MEDIUM,
              "Bytes after the end of the pickle stream", _SUPPLY),
        _rule("KS-ARCHIVE-PATH-TRAVERSAL", Severity.CRITICAL,
              "Archive member path escapes the extraction directory", _SUPPLY),
        _rule("KS-ARCHIVE-ABSOLUTE-PATH", Severity.HIGH,
              "Archive member has an absolute path", _SUPPLY),
        _rule("KS-ARCHIVE-LINK", Severity.HIGH,
              "Archive member is a link or special file", _SUPPLY),
        _rule("KS-ARCHIVE-BOMB", Severity.HIGH, "Archive member is a compression bomb",
              (ControlId("ATLAS-AML.T0029"), *_SUPPLY)),
        _rule("KS-TORCHSCRIPT-CODE", Severity.MEDIUM,
              "TorchScript archive carries code run by the TorchScript runtime", _CODE),
        _rule("KS-NPY-SIZE-MISMATCH", Severity.MEDIUM,
              "NumPy payload size does not match its header", _SUPPLY),
        _rule("KS-KERAS-LAMBDA", Severity.CRITICAL,
              "Keras model contains a Lambda layer (serialized code)", _CODE),
        _rule("KS-KERAS-FOREIGN-MODULE", Severity.HIGH,
              "Keras config imports a module outside Keras", _CODE),
        _rule("KS-KERAS-CUSTOM-OBJECT", Severity.MEDIUM,
              "Keras config needs a registered custom object", _CODE),
        _rule("KS-TEMPLATE-SANDBOX-ESCAPE", Severity.CRITICAL,
              "Chat template uses a Jinja2 sandbox-escape construct", _CODE),
        _rule("KS-TEMPLATE-HIDDEN-INSTRUCTION", Severity.HIGH,
              "Chat template hides instructions or invisible text", _TEMPLATE),
        _rule("KS-TEMPLATE-UNLISTED", Severity.HIGH,
              "Chat template uses a construct outside the allowlist", _CODE),
        _rule("KS-TEMPLATE-UNPARSABLE", Severity.MEDIUM,
              "Chat template is not valid Jinja2", _SUPPLY),
        _rule("KS-GGUF-INVALID", Severity.HIGH, "GGUF structure is inconsistent", _SUPPLY),
        _rule("KS-SAFETENSORS-INVALID", Severity.HIGH,
              "safetensors header is inconsistent with the file", _SUPPLY),
        _rule("KS-ONNX-EXTERNAL-DATA-ESCAPE", Severity.CRITICAL,
              "ONNX external data path escapes the model directory", _SUPPLY),
        _rule("KS-ONNX-CUSTOM-DOMAIN", Severity.LOW,
              "ONNX model uses custom operator domains", _SUPPLY),
    )
}
"""Every rule, by id."""
