"""Hosted-server settings, operator limits and path safety, through the job queue's submit
(the single entry for the app, the CLI and sweeps)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import SpecError
from engine.jobs import JobQueue
from engine.limits import check_request
from engine.presets import preset
from engine.settings import LimitError, Limits, Settings, load_settings
from engine.store import Store, StoreError

ENV_NAMES = [
    "IMP_LAB_CONFIG",
    "IMP_LAB_STORE",
    "IMP_LAB_DATA",
    "IMP_LAB_WORKERS",
    "IMP_LAB_HOSTED",
    "IMP_LAB_TOKEN",
    "IMP_LAB_MAX_EPOCH_LEVELS",
    "IMP_LAB_MAX_QUEUED_PER_USER",
    "IMP_LAB_MAX_HESSIAN_K",
    "IMP_LAB_MAX_SUBSET",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no imp-lab.toml from the working tree


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


# --- settings --------------------------------------------------------------------------------
def test_config_file_then_environment(tmp_path, monkeypatch):
    (tmp_path / "imp-lab.toml").write_text(
        'store = "/srv/store"\nworkers = 3\nhosted = true\n[limits]\nmax_hessian_k = 50\n'
    )
    cfg = load_settings()
    assert (cfg.store, cfg.workers, cfg.hosted, cfg.limits.max_hessian_k) == (
        "/srv/store",
        3,
        True,
        50,
    )
    monkeypatch.setenv("IMP_LAB_WORKERS", "0")
    monkeypatch.setenv("IMP_LAB_MAX_HESSIAN_K", "7")
    cfg = load_settings()
    assert (cfg.workers, cfg.limits.max_hessian_k, cfg.store) == (0, 7, "/srv/store")


def test_config_file_is_data_never_code(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.toml"
    bad.write_text(f"import os; os.system('touch {marker}')\n")
    monkeypatch.setenv("IMP_LAB_CONFIG", str(bad))
    with pytest.raises(SpecError, match="not valid TOML"):
        load_settings()
    assert not marker.exists()


@pytest.mark.parametrize(
    "text, field",
    [("workers = 'many'", "workers"), ("hosted = 'maybe'", "hosted"), ("tokn = 1", "tokn")],
)
def test_bad_settings_name_the_setting(tmp_path, monkeypatch, text, field):
    (tmp_path / "imp-lab.toml").write_text(text)
    with pytest.raises(SpecError, match=rf"^{field}:"):
        load_settings()


def test_hosted_without_token_is_a_problem(monkeypatch):
    monkeypatch.setenv("IMP_LAB_HOSTED", "1")
    assert "IMP_LAB_TOKEN" in load_settings().hosted_problem()
    monkeypatch.setenv("IMP_LAB_TOKEN", "s3cret")
    assert load_settings().hosted_problem() is None
    assert Settings().hosted_problem() is None  # not hosted: nothing to protect


# --- limits ----------------------------------------------------------------------------------
def demo(**train):
    spec = preset("demo")
    return spec.replace(train=spec.train.replace(**train)) if train else spec


def test_epoch_levels_limit(tmp_path):
    # Demo: IMP levels 0..5 (6 trainings), one-shot, RIPN, RPN1, RPN2 (1 each), FT levels 1..5
    # (5): 15 trainings of 8 epochs.
    q = JobQueue(tmp_path / "s", limits=Limits(max_epoch_levels=119))
    with pytest.raises(LimitError, match=r"^max_epoch_levels: .*120.*119"):
        q.submit("run", demo().to_dict())
    with pytest.raises(LimitError, match=r"^max_epoch_levels: .*iterations"):
        q.submit("run", demo(length="500it").to_dict())
    q.limits = Limits(max_epoch_levels=120)
    assert q.submit("run", demo().to_dict()).status == "queued"


def test_queued_jobs_per_user_limit(tmp_path):
    q = JobQueue(tmp_path / "s", limits=Limits(max_queued_per_user=2))
    a, b = (q.submit("run", demo().replace(seed=s).to_dict(), owner="alice") for s in (1, 2))
    assert q.submit("run", demo().replace(seed=1).to_dict(), owner="alice").id == a.id  # dedup
    with pytest.raises(LimitError, match=r"^max_queued_per_user: alice .* 2"):
        q.submit("run", demo().replace(seed=3).to_dict(), owner="alice")
    q.submit("run", demo().replace(seed=3).to_dict(), owner="bob")  # per user
    q.claim("w1")  # a's job is running: still counts
    with pytest.raises(LimitError):
        q.submit("run", demo().replace(seed=4).to_dict(), owner="alice")
    q.cancel(b.id)
    q.submit("run", demo().replace(seed=4).to_dict(), owner="alice")


@pytest.mark.parametrize(
    "limits, payload, name",
    [
        (Limits(max_hessian_k=10), {"k": 11, "subset": 100}, "max_hessian_k"),
        (Limits(max_subset=500), {"k": 5, "subset": 501}, "max_subset"),
    ],
)
def test_hessian_limits_on_reproduce_jobs(tmp_path, limits, payload, name):
    q = JobQueue(tmp_path / "s", limits=limits)
    request = {"experiment": "lenet-mnist5k", "seed": 0, **payload}
    with pytest.raises(LimitError, match=rf"^{name}: "):
        q.submit("reproduce", request)
    at_limit = {k: min(v, getattr(limits, name)) for k, v in payload.items()}
    q.submit("reproduce", {**request, **at_limit})
    assert not (tmp_path / "s" / "runs").exists() or not any((tmp_path / "s" / "runs").iterdir())


def test_analysis_limits():
    limits = Limits(max_hessian_k=20, max_subset=1000)
    check_request(limits, "analysis", {"what": "spectrum", "k": 20, "subset": 1000})
    with pytest.raises(LimitError, match=r"^max_hessian_k"):
        check_request(limits, "analysis", {"what": "spectrum", "k": 21, "subset": 10})
    with pytest.raises(LimitError, match=r"^max_subset: eval_set=train"):
        check_request(limits, "analysis", {"what": "landscape", "subset": 10, "eval_set": "train"})


def test_limits_from_environment_reach_the_queue(tmp_path, monkeypatch):
    monkeypatch.setenv("IMP_LAB_MAX_EPOCH_LEVELS", "8")
    with pytest.raises(LimitError, match=r"^max_epoch_levels"):
        JobQueue(tmp_path / "s").submit("run", demo().to_dict())


# --- paths -----------------------------------------------------------------------------------
ESCAPES = ["../outside", "../../outside", "/tmp/outside", "a/../../outside", "..", "x/y"]


@pytest.mark.parametrize("bad", ESCAPES)
def test_path_escapes_are_refused_and_write_nothing_outside(tmp_path, bad):
    root = tmp_path / "box" / "store"
    q = JobQueue(root)
    spec = demo()
    before = files_under(tmp_path) - files_under(root)
    existed = Path("/tmp/outside").exists()
    attempts = [
        ("analysis", {"run_id": bad, "what": "distances"}),
        ("analysis", {"run_id": spec.run_id, "what": "spectrum", "branches": [bad]}),
        ("reproduce", {"experiment": bad}),
        ("run", {**spec.to_dict(), "model": {"name": bad}}),
        ("run", {**spec.to_dict(), "data": {**spec.to_dict()["data"], "name": bad}}),
        (bad, {}),
    ]
    for kind, payload in attempts:
        with pytest.raises((SpecError, StoreError)):
            q.submit(kind, payload)
    store = Store(root)
    for call in (
        lambda: store.run_path(bad),
        lambda: store.delete_run(bad),
        lambda: store.level(spec.run_id, 0, bad),
        lambda: store.save_analysis(spec.run_id, bad, "k", {}),
        lambda: store.save_analysis(spec.run_id, "distances", bad, {}),
    ):
        with pytest.raises(StoreError):
            call()
    assert files_under(tmp_path) - files_under(root) == before
    assert Path("/tmp/outside").exists() == existed


def test_hosted_runs_read_data_only_from_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("IMP_LAB_HOSTED", "1")
    monkeypatch.setenv("IMP_LAB_TOKEN", "t")
    monkeypatch.setenv("IMP_LAB_DATA", str(tmp_path / "data"))
    q = JobQueue(tmp_path / "s")
    spec = demo()
    for root in ("/etc", str(tmp_path / "data" / ".." / "elsewhere")):
        bad = spec.replace(data=spec.data.replace(root=root, download=True))
        with pytest.raises(SpecError, match=r"^data.root: .*outside"):
            q.submit("run", bad.to_dict())
    good = spec.replace(data=spec.data.replace(root=str(tmp_path / "data" / "mnist")))
    assert q.submit("run", good.to_dict()).status == "queued"
