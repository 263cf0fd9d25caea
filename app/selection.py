"""The current view lives in the URL: widgets seed from `st.query_params`, and every run
writes the values it used back, so copying the address reopens the same runs and options.

A widget takes part by being created with `**synced(key, default, ...)` (and no default of its
own). Its value is kept under a plain session key as well and put back into the widget on
every run: Streamlit drops a widget's state when a run is interrupted before the widget is
drawn (a live fragment asking for a rerun on a busy server), and the selection must survive
that. `publish()` at the end of the script run rewrites the query string from the keys synced
in that run, so options of pages no longer shown drop out of the URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

_KEYS = "_url_keys"


def begin() -> None:
    """Start a script run: forget which keys the previous run published."""
    st.session_state[_KEYS] = {}


def _bool(text: str) -> bool:
    return text.lower() in ("1", "true", "yes", "on")


def _kept(key: str) -> str:
    return f"_url.{key}"


def _remember(key: str) -> None:
    """on_change: the user chose a value; keep it."""
    st.session_state[_kept(key)] = st.session_state[key]


def set_value(key: str, value: Any) -> None:
    """Choose `value` for synced widget `key` (before the widget is drawn in this run)."""
    st.session_state[_kept(key)] = value


def synced(
    key: str,
    default: Any,
    options: Sequence[Any] | None = None,
    *,
    multiple: bool = False,
    cast: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """The widget arguments that keep `key`'s value in the URL and across runs.

    The first time, the value comes from the URL (else `default`). A value that is no longer
    among `options` (a deleted run, a level that does not exist) falls back to `default`, so
    a stale link still opens.
    """
    if cast is None:
        single = default if not multiple else None  # lists are read element by element
        cast = _bool if isinstance(single, bool) else type(single) if single is not None else str
    ok = (lambda v: v in options) if options is not None else (lambda v: True)
    kept = _kept(key)
    if kept not in st.session_state:
        try:
            if multiple:
                raw = st.query_params.get_all(key)
                value = [cast(v) for v in raw] if raw else default
            else:
                raw = st.query_params.get(key)
                value = cast(raw) if raw is not None else default
        except (TypeError, ValueError):
            value = default
        st.session_state[kept] = value
    value = st.session_state[kept]
    if multiple:
        valid = [v for v in value if ok(v)]
        if len(valid) != len(value):
            value = valid if valid or not value else list(default)
    elif not ok(value):
        value = default
    st.session_state[kept] = st.session_state[key] = value
    st.session_state.setdefault(_KEYS, {})[key] = multiple
    return {"key": key, "on_change": _remember, "args": (key,)}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def publish() -> None:
    """Write the seeded widgets' current values into the URL's query string."""
    params: dict[str, Any] = {}
    for key, multiple in st.session_state.get(_KEYS, {}).items():
        value = st.session_state.get(_kept(key))
        if value is None or (multiple and not value):
            continue
        params[key] = [_text(v) for v in value] if multiple else _text(value)
    st.query_params.from_dict(params)
