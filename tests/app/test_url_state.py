"""Links that name what the store or the page lacks: a warning that names what was dropped,
never another run instead, never an exception."""

from __future__ import annotations

import pytest

from app import ui
from tests.app import apptest
from tests.app.conftest import short_demo
from tests.app.test_pages import PAGES, charts, open_app

RUN = short_demo().run_id


def warnings(at) -> list[str]:
    return [str(w.value) for w in at.warning]


def test_a_link_to_a_run_this_store_lacks_shows_no_run_and_says_so(demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, "levels", runs="nonexistent-run", loss="bogus")
    assert warnings(at) == [
        "The link names run `nonexistent-run`, which this store does not have; it was dropped."
    ]
    assert at.multiselect(key="runs").value == []  # not the newest run
    assert "Choose one or more runs in the sidebar." in [i.value for i in at.info]
    assert not charts(at)


def test_only_the_unknown_runs_of_a_link_are_dropped(demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, "levels", runs=["gone-1", RUN, "gone-2"])
    assert at.multiselect(key="runs").value == [RUN]
    [note] = warnings(at)
    assert "runs `gone-1`, `gone-2`" in note and RUN not in note
    assert charts(at)


def test_bad_option_values_are_named_and_shown_at_their_default(demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, "levels", runs=RUN, loss="bogus", log="maybe")
    assert warnings(at) == [
        "`loss=bogus` is not one of train_loss, test_loss; showing train_loss.",
        "`log=maybe` is not one of 1, 0; showing 1.",
    ]
    assert at.selectbox(key="loss").value == "train_loss"
    assert at.toggle(key="log").value is True
    assert at.query_params["loss"] == "train_loss"  # the URL now says what is shown


def test_the_warning_stays_until_the_user_chooses(demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, "levels", runs="nonexistent-run")
    at.run()  # a rerun (a live page redraws every few seconds) keeps it
    assert len(warnings(at)) == 1
    at.multiselect(key="runs").set_value([RUN]).run()
    assert warnings(at) == []
    assert at.query_params["runs"] == RUN


def test_an_empty_store_still_says_the_link_named_a_run(empty_store, monkeypatch):
    at = open_app(empty_store, monkeypatch, "home", runs="nonexistent-run")
    assert warnings(at) == [
        "The link names run `nonexistent-run`, which this store does not have; it was dropped."
    ]


def test_a_run_just_launched_is_not_reported_missing(demo_store, monkeypatch):
    monkeypatch.setenv("IMP_LAB_STORE", str(demo_store))
    monkeypatch.setenv("IMP_LAB_EMBEDDED_WORKER", "0")
    at = apptest.session("runs", runs="queued-run")
    at.session_state[ui.SHOW] = ["queued-run"]  # launched, not in the store until it starts
    apptest.run(at)
    assert not at.exception
    assert warnings(at) == []
    assert at.session_state[ui.SHOW] == ["queued-run"]  # still waited for


JUNK = {  # every key a page keeps in the URL, with values no widget can take
    "loss": "bogus",
    "acc": "",
    "log": "maybe",
    "level": "1e400",
    "norm": "l7",
    "normalised": "2",
    "traj_level": "-1",
    "ps_metric": "x",
    "ip_metric": "x",
    "ip_level": "9" * 30,
    "barrier": "x",
    "sp_level": "x",
    "dn_level": "3.5",
    "ls_branch": "nope",
    "ls_level": "x",
    "status": "bogus",
    "sort": "x",
    "desc": "x",
    "sweep": "x",
    "preset": "nope",
    "rp_experiment": "x",
}


@pytest.mark.parametrize("page", PAGES)
def test_no_link_value_raises_and_each_one_read_is_named(page, demo_store, monkeypatch):
    at = open_app(demo_store, monkeypatch, page, runs=RUN, **JUNK)  # asserts no exception
    for note in warnings(at):
        assert any(f"`{k}={v}`" in note for k, v in JUNK.items()), note
    shown = {k for k in JUNK if any(f"`{k}={JUNK[k]}`" in n for n in warnings(at))}
    read = {k for k in JUNK if f"_url.{k}" in at.session_state}
    assert shown == read  # every junk value a widget read was reported, none silently
