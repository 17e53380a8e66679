"""AI-BOM: a CycloneDX 1.6 ML-BOM whose hashes are the signed digests of the model and data."""

__all__: list[str] = []
