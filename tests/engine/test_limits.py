"""Hosted-server settings, operator limits and path safety, through the job queue's submit
(the single entry for the app, the CLI and sweeps)."""

from __future__ import annotations

import hashlib
import importlib
import io
import re
from pathlib import Path

import pytest

from engine.cli import main
from engine.config import SpecError
from engine.jobs.queue import JobQueue
from engine.limits import check_request
from engine.presets import preset
from engine.settings import SHARED, LimitError, Limits, Settings, load_settings
from engine.settings import main as settings_main
from engine.store import Store, StoreError
from engine.users import hash_token, verify
from engine.users import main as users_main

ENV_NAMES = [
    "IMP_LAB_CONFIG",
    "IMP_LAB_STORE",
    "IMP_LAB_DATA",
    "IMP_LAB_WORKERS",
    "IMP_LAB_HOSTED",
    "IMP_LAB_TOKEN",
    "IMP_LAB_USERS",
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


def test_binary_config_file_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "imp-lab.toml").write_bytes(bytes(range(256)))
    with pytest.raises(SpecError, match=r"^IMP_LAB_CONFIG: .*not valid TOML"):
        load_settings()


# --- users -----------------------------------------------------------------------------------
def test_users_file_holds_hashes_that_sign_each_user_in(tmp_path, monkeypatch):
    scrypt = hash_token("alice's long token")
    assert "alice's" not in scrypt and scrypt != hash_token("alice's long token")  # salted
    sha = hashlib.sha256(b"bob-token").hexdigest()
    (tmp_path / "users.toml").write_text(f'alice = "{scrypt}"\nbob = "sha256:{sha}"\n')
    monkeypatch.setenv("IMP_LAB_USERS", "users.toml")
    monkeypatch.setenv("IMP_LAB_HOSTED", "1")
    cfg = load_settings()
    assert cfg.hosted_problem() is None and sorted(cfg.users) == ["alice", "bob"]
    assert cfg.authenticate("alice", "alice's long token") == "alice"
    assert cfg.authenticate("bob", "bob-token") == "bob"
    assert cfg.authenticate("alice", "bob-token") is None  # a token opens its own account
    assert cfg.authenticate("mallory", "alice's long token") is None
    assert cfg.authenticate("alice", "") is None
    monkeypatch.setenv("IMP_LAB_TOKEN", "shared-secret")
    assert load_settings().authenticate("anyone at all", "shared-secret") == SHARED


@pytest.mark.parametrize(
    "text, field",
    [
        ('alice = "plaintext-token"', "users.alice"),
        ('alice = "sha256:abc"', "users.alice"),
        ('"bad name!" = "sha256:' + "0" * 64 + '"', "users.bad name!"),
        ("", "users"),
        ("not toml ===", "users"),
    ],
)
def test_bad_users_file_names_the_entry(tmp_path, monkeypatch, text, field):
    (tmp_path / "users.toml").write_text(text)
    monkeypatch.setenv("IMP_LAB_USERS", str(tmp_path / "users.toml"))
    with pytest.raises(SpecError, match=rf"^{re.escape(field)}:"):
        load_settings()


def test_users_hash_command_prints_a_line_for_the_file(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a-token-long-enough\n"))
    assert users_main(["hash", "carol"]) == 0
    line = capsys.readouterr().out.strip()
    name, stored = line.split(" = ")
    assert name == "carol" and verify("a-token-long-enough", stored.strip('"'))
    assert not verify("another-token-entirely", stored.strip('"'))


# --- where the app listens -------------------------------------------------------------------
def test_the_app_listens_on_loopback_unless_hosted(monkeypatch, capsys):
    assert Settings().address == "127.0.0.1"
    assert Settings(hosted=True, token="t").address == "0.0.0.0"
    monkeypatch.setenv("IMP_LAB_HOSTED", "1")
    monkeypatch.setenv("IMP_LAB_TOKEN", "t")
    assert settings_main(["address"]) == 0
    assert capsys.readouterr().out.strip() == "0.0.0.0"


def test_lab_app_passes_the_safe_address_unless_one_is_given(monkeypatch):
    lab = importlib.import_module("lab")
    if not lab.PY.exists():
        pytest.skip("lab.py's virtual environment is elsewhere")
    monkeypatch.delenv("STREAMLIT_SERVER_ADDRESS", raising=False)
    monkeypatch.chdir(lab.ROOT)
    assert lab.address_flags([]) == ["--server.address=127.0.0.1"]
    assert lab.address_flags(["--server.address", "0.0.0.0"]) == []
    assert lab.address_flags(["--server.address=10.0.0.5"]) == []
    monkeypatch.setenv("IMP_LAB_HOSTED", "1")
    monkeypatch.setenv("IMP_LAB_TOKEN", "t")
    assert lab.address_flags([]) == ["--server.address=0.0.0.0"]
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "192.168.1.2")
    assert lab.address_flags([]) == []


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


def test_reproduce_submit_obeys_the_epoch_limit(tmp_path, monkeypatch, capsys):
    """A LeNet reproduction is 250 epoch x levels; under a limit of 1 nothing is queued."""
    monkeypatch.setenv("IMP_LAB_MAX_EPOCH_LEVELS", "1")
    store = tmp_path / "s"
    argv = ["reproduce", "lenet-mnist5k", "--seeds", "0", "--submit", "--store", str(store)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: max_epoch_levels: ") and "over this server's limit of 1" in err
    assert JobQueue(store).list() == []
    monkeypatch.setenv("IMP_LAB_MAX_EPOCH_LEVELS", "100000")
    assert main(argv) == 0 and [j.kind for j in JobQueue(store).list()] == ["reproduce"]


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
