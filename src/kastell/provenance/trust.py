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
    require_model_files: true      # optional: verify-chain fails unless --model-dir is checked

The file is read strictly: duplicate keys, merge keys, recursive or exploding aliases and
unknown fields are usage errors (exit 2); two names for the same public key (same key material
in any encoding) are refused, and so is an ``all_of`` whose operands share a key, so one
signature can never count as two signers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from kastell._untrusted import load_yaml, read_regular
from kastell.provenance import _dsse
from kastell.provenance.interface import (
    ProvenanceUsageError,
    SignedStatement,
    StatementKind,
    TrustDecision,
    TrustPolicy,
)

__all__ = ["AllOf", "AnyOf", "KindPolicy", "SignedBy", "load_trust_policy", "parse_trust_policy"]


_MAX_POLICY_BYTES = 1024 * 1024
_TOP_FIELDS = frozenset({"version", "keys", "trust", "require_model_files"})
_KEY_FIELDS = frozenset({"public_key"})


class SignedBy:
    """Trusted when one of the statement's signatures verifies with this key."""

    def __init__(self, name: str, public_key: _dsse.PublicKey) -> None:
        self.name = name
        self._key = public_key
        self.keyid = public_key.key_id

    @property
    def key_ids(self) -> frozenset[str]:
        """The key this policy accepts (its id is a digest of the key material)."""
        return frozenset({self.keyid})

    def check(self, signed: SignedStatement) -> TrustDecision:
        """Verify the DSSE signatures of ``signed`` against this key."""
        message = _dsse.pae(signed.payload_type, signed.payload)
        # key ids are hints only (signers compute them differently): try every signature
        for _, signature in signed.signatures:
            if self._key.verify(signature, message):
                return TrustDecision(True, f"signed by {self.name}", (self.name,))
        return TrustDecision(False, f"no valid signature by {self.name}")


def _key_ids(policy: TrustPolicy) -> frozenset[str] | None:
    """Every key a policy may accept, or ``None`` for a policy type this module does not know."""
    ids = getattr(policy, "key_ids", None)
    return ids if isinstance(ids, frozenset) else None


class AllOf:
    """Trusted when every child policy trusts the statement.

    The children must name disjoint keys: ``all_of: [a, b]`` with ``a`` and ``b`` the same key
    would let one signature meet a two-person rule, so it is refused when the policy is built.
    """

    def __init__(self, children: Sequence[TrustPolicy]) -> None:
        if not children:
            raise ProvenanceUsageError("all_of needs at least one policy")
        self.children = tuple(children)
        seen: set[str] = set()
        for child in self.children:
            ids = _key_ids(child)
            if ids is None:
                continue
            if ids & seen:
                raise ProvenanceUsageError(
                    "all_of names the same key more than once, so one signature could count as "
                    "several signers",
                    hint="Each all_of operand must name different keys (different key "
                    "material, not just different names).",
                )
            seen |= ids
        self._ids = frozenset(seen) if all(_key_ids(c) is not None for c in self.children) else None

    @property
    def key_ids(self) -> frozenset[str] | None:
        """Every key any child may accept (``None`` when a child is a foreign policy)."""
        return self._ids

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
        ids = [_key_ids(child) for child in self.children]
        self._ids = None if any(i is None for i in ids) else frozenset().union(*ids)  # type: ignore[arg-type]

    @property
    def key_ids(self) -> frozenset[str] | None:
        """Every key any child may accept (``None`` when a child is a foreign policy)."""
        return self._ids

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
    """Dispatches on the statement kind; a kind without a rule is never trusted.

    Attributes:
        rules: statement kind -> policy.
        require_model_files: ``verify-chain`` fails unless the model files on disk were checked.
    """

    def __init__(
        self, rules: Mapping[StatementKind, TrustPolicy], *, require_model_files: bool = False
    ) -> None:
        self.rules = dict(rules)
        self.require_model_files = require_model_files

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
    """Read a trust policy YAML file (key paths are relative to it).

    Raises:
        ProvenanceUsageError: unreadable (or not a regular file), not strict YAML (duplicate
            keys, recursive aliases), or not a valid policy (see :func:`parse_trust_policy`).
    """
    try:
        text = read_regular(path, limit=_MAX_POLICY_BYTES).decode("utf-8")
        document = load_yaml(text)
    except OSError as error:
        raise ProvenanceUsageError(f"cannot read trust policy {path}: {error.strerror}") from error
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ProvenanceUsageError(
            f"trust policy {path} is not valid YAML: {' '.join(str(error).split())}",
            hint="Write each key once; merge keys (<<) and recursive aliases are not accepted.",
        ) from error
    return parse_trust_policy(document, path.parent, str(path))


def _unknown(document: Mapping[Any, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(name) for name in document if name not in allowed)
    if unknown:
        raise ProvenanceUsageError(
            f"{where}: unknown field(s) {', '.join(repr(u) for u in unknown)}",
            hint=f"Allowed here: {', '.join(sorted(allowed))}. A misspelt or unsupported "
            "requirement is refused rather than ignored.",
        )


def parse_trust_policy(document: Any, base: Path, source: str = "trust policy") -> KindPolicy:
    """Build a :class:`KindPolicy` from a parsed policy document.

    Raises:
        ProvenanceUsageError: not a version 1 policy, an unknown field, a key named twice or
            two names for one key, an unknown kind or key name, or a malformed rule.
    """
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(document, dict) or type(version) is not int or version != 1:
        raise ProvenanceUsageError(
            f"{source}: not a version 1 trust policy",
            hint="Start the file with `version: 1`, then `keys:` and `trust:` mappings.",
        )
    _unknown(document, _TOP_FIELDS, source)
    keys_doc, trust_doc = document.get("keys"), document.get("trust")
    if not isinstance(keys_doc, dict) or not isinstance(trust_doc, dict) or not trust_doc:
        raise ProvenanceUsageError(f"{source}: `keys` and `trust` must be non-empty mappings")
    require_model_files = document.get("require_model_files", False)
    if not isinstance(require_model_files, bool):
        raise ProvenanceUsageError(f"{source}: `require_model_files` must be true or false")
    keys: dict[str, SignedBy] = {}
    by_material: dict[str, str] = {}
    for name, value in keys_doc.items():
        if not isinstance(name, str) or not name:
            raise ProvenanceUsageError(f"{source}: key name {name!r} is not a non-empty string")
        key = _load_key(name, value, base, source)
        if key.keyid in by_material:
            raise ProvenanceUsageError(
                f"{source}: keys {by_material[key.keyid]!r} and {name!r} are the same public key",
                hint="Give each signer its own key pair; two names for one key would let one "
                "signature count as two signers.",
            )
        by_material[key.keyid] = name
        keys[name] = key
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
    return KindPolicy(rules, require_model_files=require_model_files)


def _load_key(name: str, value: Any, base: Path, source: str) -> SignedBy:
    if isinstance(value, dict):
        _unknown(value, _KEY_FIELDS, f"{source}: key {name!r}")
        value = value.get("public_key")
    if not isinstance(value, str) or not value:
        raise ProvenanceUsageError(f"{source}: key {name!r} needs a public key path")
    return SignedBy(name, _dsse.load_public_key(base / value))


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
            try:
                return AllOf(children) if operator == "all_of" else AnyOf(children)
            except ProvenanceUsageError as error:
                raise ProvenanceUsageError(
                    f"{source}: {error.message}", hint=error.diagnostics()
                ) from None
    raise ProvenanceUsageError(
        f"{source}: cannot read rule {str(expression)[:200]}",
        hint="A rule is a key name, {all_of: [rules...]} or {any_of: [rules...]}.",
    )
