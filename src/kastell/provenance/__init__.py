"""Provenance: signed statements from dataset to deployment, and verification at load.

Signed dataset, training and deployment statements, chain verification against a trust
policy, canary records, and model loading that verifies what it reads::

    from kastell.provenance import load_trust_policy, open_verified
    files = open_verified(model_dir, signature, load_trust_policy(policy_path))

The names below are imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "load_attested_canaries",
    "load_canaries",
    "load_trust_policy",
    "load_verified_gguf",
    "load_verified_safetensors",
    "open_verified",
    "verify_chain",
    "verified_from_pretrained",
]

_HOMES = {
    "load_attested_canaries": "kastell.provenance.canary",
    "load_canaries": "kastell.provenance.canary",
    "load_trust_policy": "kastell.provenance.trust",
    "load_verified_gguf": "kastell.provenance.verified",
    "load_verified_safetensors": "kastell.provenance.verified",
    "open_verified": "kastell.provenance.verified",
    "verify_chain": "kastell.provenance.chain",
    "verified_from_pretrained": "kastell.provenance.hf",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kastell.provenance' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
