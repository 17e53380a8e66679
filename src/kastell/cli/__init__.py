"""The ``kastell`` command line: thin modules that parse, call a capability and render."""

__all__: list[str] = []
