"""Errors raised by the data registry."""

from pathlib import Path


class DataNotFoundError(FileNotFoundError):
    """A data set's files are missing: says where we looked and how to fix it.

    A subclass of FileNotFoundError so callers that already handle missing files keep working.
    """

    def __init__(self, name: str, folder: Path, detail: str, download: bool = False) -> None:
        self.name = name
        self.folder = Path(folder)
        fix = (
            "check the network connection (or a proxy), or put the files there yourself"
            if download
            else "set download=true (CLI: --data-download true) or put the files there"
        )
        what = "could not be downloaded into" if download else "not found in"
        super().__init__(f"data set {name!r} {what} {self.folder} ({detail}). To fix: {fix}")
