"""Who may change things on a hosted server: viewing is open, but launching, cancelling,
deleting, reproducing, queuing analyses and building the report need a sign-in, once per
session in the sidebar. With a users file (`IMP_LAB_USERS`) a user signs in with their name and
token and owns the jobs they submit, which the per-user queue limit counts; the shared token
(`IMP_LAB_TOKEN`) signs in as one owner, "shared", whatever name is typed, so typing another
name never gets round a limit. Outside hosted mode everyone may act, as "app"."""

from __future__ import annotations

import streamlit as st

from engine.config import SpecError
from engine.settings import SHARED, Settings, load_settings

USER, TOKEN = "auth_user", "auth_token"  # sidebar widget keys
LOCAL_OWNER = "app"


class AuthError(SpecError):
    """An action that needs the credential was asked for without it."""


def settings() -> Settings:
    return load_settings()


def user() -> str:
    return str(st.session_state.get(USER) or "").strip()[:64]


def signed_in_as(cfg: Settings | None = None) -> str | None:
    """The owner this session acts as: "app" when not hosted, the signed-in user (or
    "shared") when hosted, None when nobody is signed in."""
    cfg = cfg or settings()
    if not cfg.hosted:
        return LOCAL_OWNER
    return cfg.authenticate(user(), st.session_state.get(TOKEN))


def signed_in(cfg: Settings | None = None) -> bool:
    return signed_in_as(cfg) is not None


def owner() -> str:
    """Who submits; raises `AuthError` when hosted and nobody is signed in."""
    who = signed_in_as()
    if who is None:
        raise AuthError("credential", "sign in (sidebar) first")
    return who


def require(action: str) -> bool:
    """True when the session may `action`; otherwise say why on the page."""
    if signed_in():
        return True
    st.error(f"Sign in to {action}: enter your access token in the sidebar.")
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
    who = signed_in_as(cfg)
    # The inputs are drawn on every run: a widget left out loses its value.
    with st.sidebar.expander("Sign in", expanded=who is None):
        if cfg.users:
            st.text_input("User name", key=USER, max_chars=64)
        st.text_input("Access token", key=TOKEN, type="password")
        if who == SHARED:
            st.caption("Signed in with the shared token (jobs are owned by **shared**)")
        elif who is not None:
            st.caption(f"Signed in as **{who}**")
        elif st.session_state.get(TOKEN):
            st.error("Wrong user name or access token." if cfg.users else "Wrong access token.")
        else:
            st.caption("Viewing is open; sign in to launch, analyse, cancel or delete.")
