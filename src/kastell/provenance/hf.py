"""Verify a Hugging Face model directory before ``transformers`` loads it.

``transformers`` is optional (``pip install 'kastell[hf]'``); it is imported only by the class
the caller passes in. The whole directory is verified first (signature trusted, exact file set,
every digest, pickle-bearing files scanned), then ``from_pretrained`` runs offline on it.

Limit: ``transformers`` reads the files again after verification, so a process that can write
to the directory in that window could swap a file. Load from a directory only trusted users can
write, or load the weights with :func:`kastell.provenance.load_verified_safetensors`, which
verifies the bytes it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

from kastell.provenance.interface import TrustPolicy
from kastell.provenance.verified import open_verified

__all__ = ["Pretrained", "verified_from_pretrained"]

_T = TypeVar("_T", covariant=True)


class Pretrained(Protocol[_T]):
    """Anything with a ``from_pretrained`` class method (transformers models, tokenizers)."""

    def from_pretrained(self, path: str, /, *args: Any, **kwargs: Any) -> _T:
        """Load from a local directory."""
        ...


def verified_from_pretrained(
    cls: Pretrained[_T], model_dir: Path, signature: Path, trust: TrustPolicy, **kwargs: Any
) -> _T:
    """Verify ``model_dir`` against ``signature``, then ``cls.from_pretrained(model_dir)``.

    Args:
        cls: e.g. ``transformers.AutoModelForCausalLM`` or ``AutoTokenizer``.
        model_dir: the local model directory.
        signature: the model signature bundle.
        trust: the trust policy.
        **kwargs: passed to ``from_pretrained``; ``local_files_only`` is forced on and
            ``trust_remote_code`` off, so nothing unverified is fetched or executed.

    Raises:
        ProvenanceError: the directory does not verify (nothing is loaded).
    """
    open_verified(model_dir, signature, trust)
    kwargs["local_files_only"] = True
    kwargs["trust_remote_code"] = False
    return cls.from_pretrained(str(model_dir), **kwargs)
