"""Who may change things on a hosted server: viewing is open, but launching, cancelling,
deleting and reproducing need the operator's token (`IMP_LAB_TOKEN`), entered once per
session in the sidebar with a user name. The name becomes the owner of the jobs submitted,
which the per-user queue limit counts. Outside hosted mode everyone may act, as "app"."""

from __future__ import annotations

import hmac

import streamlit as st

from engine.config import SpecError
from engine.settings import Settings, load_settings

USER, TOKEN = "auth_user", "auth_token"  # sidebar widget keys
LOCAL_OWNER = "app"


class AuthError(SpecError):
    """An action that needs the credential was asked for without it."""


def verify(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; nothing matches when no credential is configured."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def settings() -> Settings:
    return load_settings()


def user() -> str:
    return str(st.session_state.get(USER) or "").strip()[:64]


def signed_in(cfg: Settings | None = None) -> bool:
    cfg = cfg or settings()
    return not cfg.hosted or (bool(user()) and verify(st.session_state.get(TOKEN), cfg.token))


def owner() -> str:
    """Who submits: the signed-in user when hosted; raises `AuthError` when nobody is."""
    cfg = settings()
    if not cfg.hosted:
        return LOCAL_OWNER
    if not signed_in(cfg):
        raise AuthError("credential", "sign in (sidebar: your name and the access token) first")
    return user()


def require(action: str) -> bool:
    """True when the session may `action`; otherwise say why on the page."""
    if signed_in():
        return True
    st.error(f"Sign in to {action}: enter your name and the access token in the sidebar.")
    return False


def gate() -> None:
    """Stop the app when hosted mode has no credential; draw the sidebar sign-in when hosted."""
    cfg = settings()
    problem = cfg.hosted_problem()
    if problem:
        st.error(problem, icon="🔒")
        st.stop()
    if not cfg.hosted:
        return
    # The inputs are drawn on every run: a widget left out loses its value.
    with st.sidebar.expander("Sign in", expanded=not signed_in(cfg)):
        st.text_input("Your name", key=USER, max_chars=64)
        st.text_input("Access token", key=TOKEN, type="password")
        if signed_in(cfg):
            st.caption(f"Signed in as **{user()}**")
        elif st.session_state.get(TOKEN) and user():
            st.error("Wrong access token.")
        else:
            st.caption("Viewing is open; sign in to launch, cancel or delete.")
