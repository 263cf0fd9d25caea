"""The current view lives in the URL: widgets seed from `st.query_params`, and every run
writes the values it used back, so copying the address reopens the same runs and options.

A widget takes part by being created with `**synced(key, default, ...)` (and no default of its
own). Its value is kept under a plain session key as well and put back into the widget on
every run: Streamlit drops a widget's state when a run is interrupted before the widget is
drawn (a live fragment asking for a rerun on a busy server), and the selection must survive
that. `publish()` at the end of the script run rewrites the query string from the keys synced
in that run, so options of pages no longer shown drop out of the URL.

A link never falls back silently: a value it names that the widget cannot take (a run this
store lacks, an option the page does not offer, text that is not a number) is dropped with a
note, shown as a warning in the container given to `begin()` on every run that syncs the key,
until the user changes that widget. The warning is drawn when the key is synced, not at the
end of the run, because a page that stops early (`st.stop`) draws nothing after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from engine.booleans import parse_bool

_KEYS = "_url_keys"
_NOTES = "_url_notes"
_SHOWN = 10  # options listed in a note at most
_RUN = threading.local()  # this script run's container for the notes (one thread per run)

Explain = Callable[[list[str]], str | None]  # the texts a link names that cannot be used


def begin(notes: Any = None) -> None:
    """Start a script run: forget which keys the previous run published; warnings about the
    link go into `notes` (a container; default: where each widget is drawn)."""
    st.session_state[_KEYS] = {}
    _RUN.notes = notes


def _kept(key: str) -> str:
    return f"_url.{key}"


def _notes() -> dict[str, str]:
    return st.session_state.setdefault(_NOTES, {})


def _remember(key: str) -> None:
    """on_change: the user chose a value; keep it (and the link's note is answered)."""
    st.session_state[_kept(key)] = st.session_state[key]
    _notes().pop(key, None)


def set_value(key: str, value: Any) -> None:
    """Choose `value` for synced widget `key` (before the widget is drawn in this run)."""
    st.session_state[_kept(key)] = value
    _notes().pop(key, None)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _listed(options: Sequence[Any]) -> str:
    shown = ", ".join(_text(o) for o in options[:_SHOWN])
    return shown + (", …" if len(options) > _SHOWN else "")


def _default_explain(
    key: str, default: Any, options: Sequence[Any] | None, multiple: bool
) -> Explain:
    """`loss=bogus` is not one of train_loss, test_loss; showing train_loss."""

    def explain(bad: list[str]) -> str:
        named = ", ".join(f"`{key}={b}`" for b in bad)
        verb = "is" if len(bad) == 1 else "are"
        allowed = f"one of {_listed(options)}" if options else "a value this page takes"
        then = ("it was" if len(bad) == 1 else "they were") + " dropped"
        if not multiple:
            then = f"showing {_text(default)}"
        return f"{named} {verb} not {allowed}; {then}."

    return explain


def _from_url(
    key: str,
    default: Any,
    ok: Callable[[Any], bool],
    multiple: bool,
    cast: Callable[[str], Any],
    explain: Explain,
) -> Any:
    """The URL's value for `key` (else `default`), noting what it names that cannot be used."""
    raw = st.query_params.get_all(key)
    if not raw:
        return default
    good, bad = [], []
    for text in raw if multiple else raw[-1:]:
        try:
            value = cast(text)
        except (TypeError, ValueError, OverflowError):
            bad.append(text)
            continue
        if ok(value):
            good.append(value)
        else:
            bad.append(text)
    note = explain(bad) if bad else None
    if note:
        _notes()[key] = note
    if multiple:
        return good
    return good[0] if good else default


def synced(
    key: str,
    default: Any,
    options: Sequence[Any] | None = None,
    *,
    multiple: bool = False,
    cast: Callable[[str], Any] | None = None,
    explain: Explain | None = None,
) -> dict[str, Any]:
    """The widget arguments that keep `key`'s value in the URL and across runs.

    The first time, the value comes from the URL (else `default`). What the URL names that
    cannot be used (not among `options`, or not read by `cast`) is dropped with a note,
    phrased by `explain(texts)` (None: no note) or else as "`key=text` is not one of ...".
    A single value then falls back to `default`; a list keeps only what is valid, possibly
    nothing, so a link to runs this store lacks never shows another run. A kept value that
    is no longer among `options` (a deleted run) is dropped in the same way, without a note.
    """
    if cast is None:
        single = default if not multiple else None  # lists are read element by element
        cast = (
            parse_bool if isinstance(single, bool) else type(single) if single is not None else str
        )
    if options is None and not multiple and isinstance(default, bool):
        options = (True, False)
    ok = (lambda v: v in options) if options is not None else (lambda v: True)
    kept = _kept(key)
    if kept not in st.session_state:
        explain = explain or _default_explain(key, default, options, multiple)
        st.session_state[kept] = _from_url(key, default, ok, multiple, cast, explain)
    value = st.session_state[kept]
    if multiple:
        value = [v for v in value if ok(v)]
    elif not ok(value):
        value = default
    st.session_state[kept] = st.session_state[key] = value
    st.session_state.setdefault(_KEYS, {})[key] = multiple
    note = _notes().get(key)
    if note:
        (getattr(_RUN, "notes", None) or st).warning(note, icon=":material/link_off:")
    return {"key": key, "on_change": _remember, "args": (key,)}


def publish() -> None:
    """Write the seeded widgets' current values into the URL's query string."""
    params: dict[str, Any] = {}
    for key, multiple in st.session_state.get(_KEYS, {}).items():
        value = st.session_state.get(_kept(key))
        if value is None or (multiple and not value):
            continue
        params[key] = [_text(v) for v in value] if multiple else _text(value)
    st.query_params.from_dict(params)
