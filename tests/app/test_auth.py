"""The hosted dashboard: no credential configured, nothing starts; viewing is open, while
launching, cancelling and reproducing need the token; operator limits show their name."""

from __future__ import annotations

import pytest

from engine.jobs import JobQueue
from engine.presets import preset
from tests.app import apptest

TOKEN = "correct horse battery staple"


@pytest.fixture
def hosted(monkeypatch, tmp_path):
    """A hosted app over an empty store; returns the store path."""
    for name in ("IMP_LAB_CONFIG", "IMP_LAB_MAX_EPOCH_LEVELS", "IMP_LAB_MAX_QUEUED_PER_USER"):
        monkeypatch.delenv(name, raising=False)
    store = tmp_path / "store"
    monkeypatch.setenv("IMP_LAB_STORE", str(store))
    monkeypatch.setenv("IMP_LAB_EMBEDDED_WORKER", "0")
    monkeypatch.setenv("IMP_LAB_HOSTED", "1")
    monkeypatch.setenv("IMP_LAB_TOKEN", TOKEN)
    return store


def open_page(page: str):
    at = apptest.run(apptest.session(page))
    assert not at.exception, [e.message for e in at.exception]
    return at


def sign_in(at, name: str, token: str):
    at.text_input(key="auth_user").input(name)
    at.text_input(key="auth_token").input(token)
    return at.run()


def click(at, label: str):
    next(b for b in at.button if b.label == label).click()
    return at.run()


def errors(at) -> str:
    return "\n".join(e.value for e in at.error)


def test_hosted_without_a_credential_shows_only_an_error(hosted, monkeypatch):
    monkeypatch.delenv("IMP_LAB_TOKEN")
    at = open_page("launch")
    assert "IMP_LAB_TOKEN" in errors(at)
    assert not at.title and not at.button  # no page ran, nothing to click


def test_launch_needs_the_token(hosted):
    at = open_page("launch")
    assert at.title[0].value == "Launch a run"  # viewing is open
    at = click(at, "Launch")
    assert "Sign in to launch" in errors(at)
    at = sign_in(at, "alice", "wrong")
    assert "Wrong access token." in errors(at)
    at = click(at, "Launch")
    assert not JobQueue(hosted).list()
    at = sign_in(at, "alice", TOKEN)
    assert "Signed in as **alice**" in [c.value for c in at.caption]
    click(at, "Launch")
    [job] = JobQueue(hosted).list()
    assert job.owner == "alice" and job.kind == "run"


def test_cancel_and_delete_need_the_token(hosted):
    spec = preset("demo")
    job = JobQueue(hosted).submit("run", spec.to_dict(), owner="bob")
    at = open_page("runs")
    at.selectbox(key="act-on").set_value(job.id).run()
    at = click(at, "Cancel")
    assert "Sign in to cancel" in errors(at)
    assert JobQueue(hosted).get(job.id).status == "queued"
    at = sign_in(at, "carol", TOKEN)
    click(at, "Cancel")
    assert JobQueue(hosted).get(job.id).status == "cancelled"
    at = open_page("runs")  # a new session, not signed in
    at.selectbox(key="act-on").set_value(job.id).run()
    at = click(at, "Delete")
    assert "Sign in to delete" in errors(at)
    assert JobQueue(hosted).get(job.id).status == "cancelled"


def test_reproduce_needs_the_token_and_obeys_the_k_limit(hosted, monkeypatch):
    monkeypatch.setenv("IMP_LAB_MAX_HESSIAN_K", "5")
    at = open_page("report")
    at = click(at, "Reproduce")
    assert "Sign in to reproduce" in errors(at)
    at = sign_in(at, "dave", TOKEN)
    at = click(at, "Reproduce")
    assert "max_hessian_k" in errors(at)
    assert not JobQueue(hosted).list()


def test_launch_over_the_epoch_limit_names_it(hosted, monkeypatch):
    monkeypatch.setenv("IMP_LAB_MAX_EPOCH_LEVELS", "100")  # the demo asks for 120
    at = sign_in(open_page("launch"), "erin", TOKEN)
    at = click(at, "Launch")
    assert "max_epoch_levels" in errors(at) and "100" in errors(at)
    assert not JobQueue(hosted).list()


def test_local_mode_needs_no_sign_in(hosted, monkeypatch):
    monkeypatch.delenv("IMP_LAB_HOSTED")
    monkeypatch.delenv("IMP_LAB_TOKEN")
    at = open_page("launch")
    assert not [t for t in at.text_input if t.key == "auth_token"]
    click(at, "Launch")
    assert JobQueue(hosted).list()[0].owner == "app"
