"""StreamScreen screens per half window of new text, and releases only screened text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kastell.guard.interface import Action, Detection, Direction, ScanContext, TextVerdict
from kastell.guard.streaming import StreamScreen


class _CountingScreener:
    """Blocks any text containing ``SECRET``; records every text it was asked to screen."""

    def __init__(self) -> None:
        self.screened: list[str] = []

    def screen_text(self, text: str, direction: Direction, context: ScanContext) -> TextVerdict:
        self.screened.append(text)
        if "SECRET" in text:
            return TextVerdict(Action.BLOCK, (Detection("test.secret", "secret"),), text)
        return TextVerdict(Action.ALLOW, (), text)


def test_one_screening_per_half_window_not_per_delta() -> None:
    screener = _CountingScreener()
    screen = StreamScreen(screener, ScanContext(), holdback=20)  # type: ignore[arg-type]
    text = "x" * 200
    out = "".join(screen.feed(ch) for ch in text) + screen.finish()
    assert out == text
    assert len(screener.screened) == 200 // 10 + 1  # every 10 characters, then the end


@given(
    st.lists(st.text(alphabet="abSECRT ", min_size=0, max_size=7), max_size=60),
    st.integers(min_value=0, max_value=30),
)
def test_only_screened_text_is_released(deltas: list[str], holdback: int) -> None:
    screener = _CountingScreener()
    screen = StreamScreen(screener, ScanContext(), holdback=holdback)  # type: ignore[arg-type]
    released = ""
    for delta in deltas:
        released += screen.feed(delta)
        # whatever went out is a prefix of a text that was screened and allowed
        allowed = [t for t in screener.screened if "SECRET" not in t]
        assert released == "" or any(t.startswith(released) for t in allowed)
    released += screen.finish()
    assert "SECRET" not in released
    whole = "".join(deltas)
    if "SECRET" in whole:
        assert whole.startswith(released)
    else:
        assert released == whole
