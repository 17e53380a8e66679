"""Targets: OpenAI-compatible HTTP endpoints, the local SmolLM2 model, Python callables."""

__all__: list[str] = []
