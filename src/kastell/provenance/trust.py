"""Trust policies: which keys may sign which kind of statement.

A policy is anything with ``check(signed) -> TrustDecision``. :class:`SignedBy` accepts a
statement carrying a valid signature by one named key; :class:`AllOf` and :class:`AnyOf` compose
policies; :class:`KindPolicy` picks the policy for the statement's kind (dataset, training,
deployment, model-signature) and rejects kinds it has no rule for.

Policy file (YAML), key paths relative to the file::

    version: 1
    keys:
      data-team: keys/data.pub
      ml-team: keys/ml.pub
      release: keys/release.pub
    trust:
      dataset: data-team
      training: {all_of: [ml-team]}
      model-signature: ml-team
      deployment: {any_of: [release, {all_of: [ml-team, data-team]}]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kastell.provenance import _dsse
from kastell.provenance.interface import (
    ProvenanceUsageError,
    SignedStatement,
    StatementKind,
    TrustDecision,
    TrustPolicy,
)

__all__ = ["AllOf", "AnyOf", "KindPolicy", "SignedBy", "load_trust_policy", "parse_trust_policy"]


class SignedBy:
    """Trusted when one of the statement's signatures verifies with this key."""

    def __init__(self, name: str, public_key: _dsse.PublicKey) -> None:
        self.name = name
        self._key = public_key
        self.keyid = public_key.key_id

    def check(self, signed: SignedStatement) -> TrustDecision:
        """Verify the DSSE signatures of ``signed`` against this key."""
        message = _dsse.pae(signed.payload_type, signed.payload)
        # key ids are hints only (signers compute them differently): try every signature
        for _, signature in signed.signatures:
            if self._key.verify(signature, message):
                return TrustDecision(True, f"signed by {self.name}", (self.name,))
        return TrustDecision(False, f"no valid signature by {self.name}")


class AllOf:
    """Trusted when every child policy trusts the statement."""

    def __init__(self, children: Sequence[TrustPolicy]) -> None:
        if not children:
            raise ProvenanceUsageError("all_of needs at least one policy")
        self.children = tuple(children)

    def check(self, signed: SignedStatement) -> TrustDecision:
        """Check every child; report the first that refuses."""
        signers: list[str] = []
        for child in self.children:
            decision = child.check(signed)
            if not decision.trusted:
                return TrustDecision(False, f"all_of: {decision.reason}", tuple(signers))
            signers.extend(s for s in decision.signers if s not in signers)
        return TrustDecision(True, f"all_of: signed by {', '.join(signers)}", tuple(signers))


class AnyOf:
    """Trusted when at least one child policy trusts the statement."""

    def __init__(self, children: Sequence[TrustPolicy]) -> None:
        if not children:
            raise ProvenanceUsageError("any_of needs at least one policy")
        self.children = tuple(children)

    def check(self, signed: SignedStatement) -> TrustDecision:
        """Return the first child decision that trusts; otherwise list every refusal."""
        reasons: list[str] = []
        for child in self.children:
            decision = child.check(signed)
            if decision.trusted:
                return decision
            reasons.append(decision.reason)
        return TrustDecision(False, f"any_of: none held ({'; '.join(reasons)})")


class KindPolicy:
    """Dispatches on the statement kind; a kind without a rule is never trusted."""

    def __init__(self, rules: Mapping[StatementKind, TrustPolicy]) -> None:
        self.rules = dict(rules)

    def check(self, signed: SignedStatement) -> TrustDecision:
        """Apply the rule for ``signed.kind``."""
        rule = self.rules.get(signed.kind)
        if rule is None:
            return TrustDecision(
                False, f"the trust policy has no rule for {signed.kind} statements"
            )
        decision = rule.check(signed)
        if decision.trusted:
            return decision
        return TrustDecision(False, f"not trusted for {signed.kind}: {decision.reason}")


def load_trust_policy(path: Path) -> KindPolicy:
    """Read a trust policy YAML file (key paths are relative to it)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProvenanceUsageError(f"cannot read trust policy {path}: {error.strerror}") from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ProvenanceUsageError(f"trust policy {path} is not valid YAML: {error}") from error
    return parse_trust_policy(document, path.parent, str(path))


def parse_trust_policy(document: Any, base: Path, source: str = "trust policy") -> KindPolicy:
    """Build a :class:`KindPolicy` from a parsed policy document."""
    if not isinstance(document, dict) or document.get("version") != 1:
        raise ProvenanceUsageError(
            f"{source}: not a version 1 trust policy",
            hint="Start the file with `version: 1`, then `keys:` and `trust:` mappings.",
        )
    keys_doc, trust_doc = document.get("keys"), document.get("trust")
    if not isinstance(keys_doc, dict) or not isinstance(trust_doc, dict) or not trust_doc:
        raise ProvenanceUsageError(f"{source}: `keys` and `trust` must be non-empty mappings")
    keys = {str(name): _load_key(name, value, base, source) for name, value in keys_doc.items()}
    rules: dict[StatementKind, TrustPolicy] = {}
    for kind_name, expression in trust_doc.items():
        try:
            kind = StatementKind(kind_name)
        except ValueError:
            raise ProvenanceUsageError(
                f"{source}: unknown statement kind {kind_name!r}",
                hint=f"Use: {', '.join(k.value for k in StatementKind)}.",
            ) from None
        rules[kind] = _expression(expression, keys, source)
    return KindPolicy(rules)


def _load_key(name: Any, value: Any, base: Path, source: str) -> SignedBy:
    if isinstance(value, dict):
        value = value.get("public_key")
    if not isinstance(value, str):
        raise ProvenanceUsageError(f"{source}: key {name!r} needs a public key path")
    return SignedBy(str(name), _dsse.load_public_key(base / value))


def _expression(expression: Any, keys: Mapping[str, SignedBy], source: str) -> TrustPolicy:
    if isinstance(expression, str):
        if expression not in keys:
            raise ProvenanceUsageError(
                f"{source}: rule names unknown key {expression!r}",
                hint=f"Declare it under `keys:` (declared: {', '.join(sorted(keys)) or 'none'}).",
            )
        return keys[expression]
    if isinstance(expression, dict) and len(expression) == 1:
        ((operator, operands),) = expression.items()
        if operator in ("all_of", "any_of") and isinstance(operands, list):
            children = [_expression(item, keys, source) for item in operands]
            return AllOf(children) if operator == "all_of" else AnyOf(children)
    raise ProvenanceUsageError(
        f"{source}: cannot read rule {expression!r}",
        hint="A rule is a key name, {all_of: [rules...]} or {any_of: [rules...]}.",
    )
