"""The one error a render raises: what is wrong, and in which file and line.

Render errors are shown on the Application as they are, so each one names the
file, document, object or option at fault, and none ever repeats a value
that might be secret (YAML snippets and helm ``--set`` values are left out).
"""

from __future__ import annotations


class RenderError(Exception):
    """Rendering failed; nothing was rendered. ``file``/``line`` point at the cause."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        super().__init__(where + message)
