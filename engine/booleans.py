"""The one reading of yes/no text, shared by spec flags, analysis options, settings from the
environment and URL parameters, so every place accepts the same words."""

from __future__ import annotations

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def parse_bool(text: str) -> bool:
    """`text` as a bool; a ValueError says which words are accepted."""
    low = text.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise ValueError(f"{text!r} is not true/false (use one of {', '.join(TRUE + FALSE)})")
