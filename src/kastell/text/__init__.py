"""The text-detection core: normalisation, decoded views and the detector families.

One meaning of "an injection", "a leak", "personal data" and "a secret" for the whole product:
the guard's scanners, the red-team detectors and dataset screening all call this package.
It imports only the foundation (``kastell.errors``, ``kastell.types``).
"""

from kastell.text.hidden import find_hidden
from kastell.text.injection import find_injection
from kastell.text.interface import (
    Family,
    LeakMatch,
    TextDataError,
    TextError,
    TextMatch,
    TextUsageError,
    View,
)
from kastell.text.leaks import PromptLeakMatcher, SecretMatcher
from kastell.text.normalize import fold, normalize, skeleton, squash
from kastell.text.pii import find_pii
from kastell.text.secrets import find_secrets
from kastell.text.toxicity import find_toxicity
from kastell.text.views import Bounds, ViewSet, screen_views, text_views

__all__ = [
    "Bounds",
    "Family",
    "LeakMatch",
    "PromptLeakMatcher",
    "SecretMatcher",
    "TextDataError",
    "TextError",
    "TextMatch",
    "TextUsageError",
    "View",
    "ViewSet",
    "find_hidden",
    "find_injection",
    "find_pii",
    "find_secrets",
    "find_toxicity",
    "fold",
    "normalize",
    "screen_views",
    "skeleton",
    "squash",
    "text_views",
]
