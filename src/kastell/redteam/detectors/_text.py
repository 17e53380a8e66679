"""Text normalisation for the detectors: the shared core ``kastell.text`` (one meaning)."""

from __future__ import annotations

from kastell.text.normalize import normalize, squash
from kastell.text.views import decoded_views

__all__ = ["decoded_views", "normalize", "squash"]
