"""One exception type for bad input, so the CLI can print a clear one-line message instead of a traceback."""

from __future__ import annotations

from pathlib import Path


class HuiaError(Exception):
    """A user-facing error: bad input, missing file, unsupported model. The message is one line and names the file."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self.message = message  # without the path, for places that already say which file (the studio's lists)
        super().__init__(f"{path}: {message}" if path is not None else message)
