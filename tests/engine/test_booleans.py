"""One yes/no reading everywhere: spec flags, analysis options, settings and URL values."""

from __future__ import annotations

import pytest

from app import selection
from engine.analysis import registry
from engine.booleans import FALSE, TRUE, parse_bool
from engine.config import SpecError
from engine.settings_loader import convert
from engine.spec_text import parse_value


@pytest.mark.parametrize("word", [*TRUE, *FALSE, " Yes ", "OFF"])
def test_every_reader_accepts_the_same_words(word):
    expected = word.strip().lower() in TRUE
    assert parse_bool(word) is expected
    assert parse_value(word, False, "data.download") is expected
    assert registry.options()["normalised"].parse("normalised", word) is expected
    assert convert("hosted", word, bool) is expected
    assert selection.parse_bool(word) is expected


@pytest.mark.parametrize("word", ["maybe", "2", "y"])
def test_every_reader_refuses_the_same_words(word):
    with pytest.raises(ValueError, match="is not true/false"):
        parse_bool(word)
    for read in (
        lambda: parse_value(word, False, "data.download"),
        lambda: registry.options()["normalised"].parse("normalised", word),
        lambda: convert("hosted", word, bool),
    ):
        with pytest.raises(SpecError, match="is not true/false"):
            read()
