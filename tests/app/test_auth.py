"""The hosted dashboard: no credential configured, nothing starts; viewing is open, while
launching, cancelling, reproducing and building the report need a sign-in; a users file makes
the signed-in user the owner of a job, and the shared token one owner whatever is typed, so
the per-user limit counts people, not names."""

from __future__ import annotations

import pytest

from engine.jobs.queue import JobQueue
from engine.presets import preset
from engine.store import Store
from engine.users import hash_token
from tests.app import apptest
from tests.engine.conftest import tiny_spec

TOKEN = "correct horse battery staple"
ALICE, BOB = "alice-token-0123456789", "bob-token-9876543210"


@pytest.fixture
def hosted(monkeypatch, tmp_path):
    """A hosted app with the shared token over an empty store; returns the store path."""
    for name in (
        "IMP_LAB_CONFIG",
        "IMP_LAB_USERS",
        "IMP_LAB_MAX_EPOCH_LEVELS",
        "IMP_LAB_MAX_QUEUED_PER_USER",
    ):
        monkeypatch.delenv(name, raising=False)
    store = tmp_path / "store"
    monkeypatch.setenv("IMP_LAB_STORE", str(store))
    monkeypatch.setenv("IMP_LAB_EMBEDDED_WORKER", "0")
    monkeypatch.setenv("IMP_LAB_HOSTED", "1")
    monkeypatch.setenv("IMP_LAB_TOKEN", TOKEN)
    return store


@pytest.fixture
def users(hosted, monkeypatch, tmp_path):
    """The same, with a users file for alice (scrypt) and bob (sha256) and no shared token."""
    import hashlib

    path = tmp_path / "users.toml"
    bob = hashlib.sha256(BOB.encode()).hexdigest()
    path.write_text(f'alice = "{hash_token(ALICE)}"\nbob = "sha256:{bob}"\n')
    monkeypatch.setenv("IMP_LAB_USERS", str(path))
    monkeypatch.delenv("IMP_LAB_TOKEN")
    return hosted


def open_page(page: str):
    at = apptest.run(apptest.session(page))
    assert not at.exception, [e.message for e in at.exception]
    return at


def sign_in(at, token: str, name: str | None = None):
    if name is not None:
        at.text_input(key="auth_user").input(name)
    at.text_input(key="auth_token").input(token)
    return at.run()


def click(at, label: str):
    next(b for b in at.button if b.label == label).click()
    return at.run()


def errors(at) -> str:
    return "\n".join(e.value for e in at.error)


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def test_hosted_without_a_credential_shows_only_an_error(hosted, monkeypatch):
    monkeypatch.delenv("IMP_LAB_TOKEN")
    at = open_page("launch")
    assert "IMP_LAB_TOKEN" in errors(at) and "IMP_LAB_USERS" in errors(at)
    assert not at.title and not at.button  # no page ran, nothing to click


def test_launch_needs_the_shared_token_which_owns_as_shared(hosted):
    at = open_page("launch")
    assert at.title[0].value == "Launch a run"  # viewing is open
    assert not [t for t in at.text_input if t.key == "auth_user"]  # a name would prove nothing
    at = click(at, "Launch")
    assert "Sign in to launch" in errors(at)
    at = sign_in(at, "wrong")
    assert "Wrong access token." in errors(at)
    at = click(at, "Launch")
    assert not JobQueue(hosted).list()
    at = sign_in(at, TOKEN)
    assert any("shared token" in c for c in captions(at))
    click(at, "Launch")
    [job] = JobQueue(hosted).list()
    assert job.owner == "shared" and job.kind == "run"


def test_users_file_signs_in_each_user_as_the_owner(users):
    at = open_page("launch")
    at = sign_in(at, BOB, name="alice")  # bob's token does not open alice's account
    assert "Wrong user name or access token." in errors(at)
    at = sign_in(at, ALICE, name="alice")
    assert "Signed in as **alice**" in captions(at)
    click(at, "Launch")
    [job] = JobQueue(users).list()
    assert job.owner == "alice"


def test_the_per_user_limit_counts_the_signed_in_user_not_a_typed_name(users, monkeypatch):
    monkeypatch.setenv("IMP_LAB_MAX_QUEUED_PER_USER", "1")
    JobQueue(users).submit("run", preset("demo").replace(seed=5).to_dict(), owner="alice")
    at = sign_in(open_page("launch"), ALICE, name="alice")
    at = click(at, "Launch")
    assert "max_queued_per_user" in errors(at)
    at = sign_in(open_page("launch"), ALICE, name="mallory")  # another name, alice's token
    assert "Wrong user name or access token." in errors(at)
    click(at, "Launch")
    assert len(JobQueue(users).list()) == 1
    click(sign_in(open_page("launch"), BOB, name="bob"), "Launch")
    assert sorted(j.owner for j in JobQueue(users).list()) == ["alice", "bob"]


def test_cancel_and_delete_need_the_token(hosted):
    spec = preset("demo")
    job = JobQueue(hosted).submit("run", spec.to_dict(), owner="bob")
    at = open_page("runs")
    at.selectbox(key="act-on").set_value(job.id).run()
    at = click(at, "Cancel")
    assert "Sign in to cancel" in errors(at)
    assert JobQueue(hosted).get(job.id).status == "queued"
    at = sign_in(at, TOKEN)
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
    at = sign_in(at, TOKEN)
    at = click(at, "Reproduce")
    assert "max_hessian_k" in errors(at)
    assert not JobQueue(hosted).list()


def test_building_the_report_needs_a_sign_in(hosted):
    Store(hosted).create_run(tiny_spec())  # a run to report on (nothing trained yet)
    at = click(open_page("report"), "Build report")
    assert "Sign in to build the report" in errors(at)
    assert not JobQueue(hosted).list()
    at = click(sign_in(at, TOKEN), "Build report")
    assert "Sign in" not in errors(at)
    jobs = JobQueue(hosted).list()  # queued for a worker, in the signed-in user's name
    assert [(j.kind, j.status) for j in jobs] == [("report", "queued")] and jobs[0].owner


def test_launch_over_the_epoch_limit_names_it(hosted, monkeypatch):
    monkeypatch.setenv("IMP_LAB_MAX_EPOCH_LEVELS", "100")  # the demo asks for 120
    at = sign_in(open_page("launch"), TOKEN)
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
