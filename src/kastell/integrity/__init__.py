"""Integrity: hashing engine, Merkle manifests, digest cache (and, beside them, signing).

The hashing API lives in ``kastell.integrity.hashing`` (``hash_tree``), its types and errors in
``kastell.integrity.interface``, the Merkle helpers in ``kastell.integrity.merkle``, the manifest
format in ``kastell.integrity.manifest`` and the digest cache in ``kastell.integrity.cache``.
Nothing is imported here, so importing one part stays cheap.
"""

__all__: list[str] = []
