"""Screening scanners of the guard, one module per scanner; see ``registry`` for the list."""

__all__: list[str] = []
