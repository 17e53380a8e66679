"""Keep the deployment's secrets out of the results store.

Unless the user opts in with ``--store-plaintext``, a run is stored with:

- its inputs as keyed digests: the system prompt, every ``--secret``, the planted canaries and
  the training records become ``hmac-sha256:<hex>`` under the store's key, so the database
  alone cannot reveal them, while whoever holds the key can check a candidate value;
- every reply and evidence text with the leaked values cut out: each span where the text core's
  ``SecretMatcher`` finds a secret or canary (exact, normalised, inside an encoded run) becomes
  ``[secret[0] hmac-sha256:<first 16 hex>]``; a reply that reproduces the deployment's system
  prompt is replaced by a note as a whole.

The key is 32 random bytes in a key file (created with mode 0600 on first use; by default the
SQLite file's path plus ``.key``, or ``.kastell/redteam-store.key`` for a database URL). A run
stored this way can be reported or resumed only when the same inputs are given again (the
suite digest proves they are the same); ``diff`` needs only the stored counts. A run without
any such input (the built-in prompts only) has nothing to protect and is stored as it is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import pathlib
import secrets as random_source
from collections.abc import Mapping
from typing import Any

from kastell.redteam.interface import AttemptResult, AttemptSpec, RedteamStoreError
from kastell.text import PromptLeakMatcher, SecretMatcher

__all__ = ["KEY_BYTES", "Redactor", "is_redacted", "load_or_create_key"]

KEY_BYTES = 32
_MARK = "hmac-sha256:"
_REDACTED_FLAG = "stored_as_digests"


def load_or_create_key(path: pathlib.Path) -> bytes:
    """The store key in ``path``; a new random one (mode 0600) when the file does not exist.

    Raises:
        RedteamStoreError: the file exists but is not a usable key.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = random_source.token_bytes(KEY_BYTES)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_or_create_key(path)  # another process created it first
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key.hex().encode("ascii"))
        return key
    except OSError as error:
        raise RedteamStoreError(f"cannot read the store key {path}: {error.strerror}") from None
    try:
        key = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) < KEY_BYTES:
        raise RedteamStoreError(f"{path} is not a store key ({KEY_BYTES} bytes as hex)")
    return key


def is_redacted(probe_config: Mapping[str, Any]) -> bool:
    """Whether a stored probe configuration holds digests instead of its inputs."""
    return bool(probe_config.get(_REDACTED_FLAG, False))


class Redactor:
    """Keyed digests of inputs and redaction of stored replies, under one store key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def digest(self, value: str) -> str:
        """``hmac-sha256:<hex>`` of ``value`` under the store key."""
        return _MARK + hmac.new(self._key, value.encode("utf-8"), hashlib.sha256).hexdigest()

    def config(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """A stored probe configuration with its secret inputs replaced by digests.

        A configuration without any (no system prompt, secrets, canaries or records) is stored
        as it is: there is nothing to protect, and the run reloads without inputs.
        """
        stored = dict(document)
        if not any(stored.get(k) for k in ("system_prompt", "secrets", "canaries", "records")):
            return stored
        if stored.get("system_prompt"):
            stored["system_prompt"] = self.digest(str(stored["system_prompt"]))
        stored["secrets"] = [self.digest(str(s)) for s in stored.get("secrets", ())]
        stored["canaries"] = [
            {k: self.digest(str(v)) if k in ("canary", "prefix") else v for k, v in c.items()}
            for c in stored.get("canaries", ())
        ]
        stored["records"] = [{k: self.digest(str(v)) for k, v in r.items()}
                             for r in stored.get("records", ())]
        stored[_REDACTED_FLAG] = True
        return stored

    def _cut(self, text: str, values: list[str], prompt: str) -> str:
        if not text:
            return text
        if values:
            hits = SecretMatcher(values).find(text)
            boundary = len(text)
            for hit in sorted(hits, key=lambda h: h.span[0], reverse=True):
                start, end = hit.span
                end = min(end, boundary)  # overlapping hits: cut the union once
                label = f"[secret[{hit.secret}] {self.digest(values[hit.secret])[:28]}]"
                text = text[:start] + label + text[end:] if start < end else text
                boundary = min(boundary, start)
        if prompt and len(prompt.split()) >= 4:
            matcher = PromptLeakMatcher(prompt, window=min(8, len(prompt.split())))
            if matcher.find(text):
                return ("[redacted: the reply reproduces the system prompt "
                        f"{self.digest(prompt)[:28]}]")
        return text

    def result(self, result: AttemptResult, spec: AttemptSpec | None) -> AttemptResult:
        """``result`` with the secrets, canary and system prompt of ``spec`` cut out."""
        if spec is None:
            return result
        expect = spec.expect
        values = [str(s) for s in expect.get("secrets", ())]
        values += [str(expect["canary"])] if expect.get("canary") else []
        values = [v for v in values if sum(ch.isalnum() for ch in v) >= 4]
        prompt = str(expect.get("system_prompt", ""))
        return dataclasses.replace(
            result,
            output=self._cut(result.output, values, prompt),
            evidence=self._cut(result.evidence, values, ""),
        )
