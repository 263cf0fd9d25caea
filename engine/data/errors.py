"""Errors raised by the data registry."""

from pathlib import Path


class DataNotFoundError(FileNotFoundError):
    """A data set's files are missing: says where we looked and how to fix it.

    A subclass of FileNotFoundError so callers that already handle missing files keep working.
    """

    def __init__(self, name: str, folder: Path, detail: str) -> None:
        self.name = name
        self.folder = Path(folder)
        super().__init__(
            f"data set {name!r} not found in {self.folder} ({detail}). To fix: set "
            f"download=true (CLI: --data-download true) or put the files in {self.folder}"
        )
