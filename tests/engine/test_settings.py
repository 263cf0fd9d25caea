"""The one settings loader: environment over imp-lab.toml over defaults for every group of
settings (top level, [limits], [jobs], [cluster]), the deprecated <store>/cluster.toml below
imp-lab.toml, and one line naming the variable or key of a bad value and what to write."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cluster import ClusterConfig, load_cluster_config
from engine.config import SpecError
from engine.jobs.records import JobSettings
from engine.settings import Settings, load_settings
from engine.settings_loader import config_env

VARS = (
    "IMP_LAB_CONFIG",
    "IMP_LAB_WORKERS",
    "IMP_LAB_MAX_SUBSET",
    "IMP_LAB_HEARTBEAT_TIMEOUT",
    "IMP_LAB_MAX_ATTEMPTS",
    "IMP_LAB_POLL_INTERVAL",
    "IMP_LAB_BACKEND",
    "IMP_LAB_RAY_ADDRESS",
    "IMP_LAB_RAY_DEVICE",
)


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    for name in VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def write_config(tmp_path, text: str) -> None:
    (tmp_path / "imp-lab.toml").write_text(text)


def test_every_group_reads_environment_over_file_over_default(tmp_path, monkeypatch):
    store = tmp_path / "store"
    defaults = (load_settings(), JobSettings.from_env(), load_cluster_config(store))
    assert defaults == (Settings(), JobSettings(), ClusterConfig())
    write_config(
        tmp_path,
        "workers = 3\n[limits]\nmax_subset = 500\n[jobs]\nmax_attempts = 7\n"
        'heartbeat_timeout = 12.5\n[cluster]\nbackend = "ray"\naddress = "10.0.0.1:6379"\n',
    )
    cfg, jobs, cluster = load_settings(), JobSettings.from_env(), load_cluster_config(store)
    assert (cfg.workers, cfg.limits.max_subset) == (3, 500)
    assert (jobs.max_attempts, jobs.heartbeat_timeout, jobs.poll_interval) == (7, 12.5, 0.25)
    assert cluster == ClusterConfig("ray", "10.0.0.1:6379", "auto")
    for var, value in [
        ("IMP_LAB_WORKERS", "0"),
        ("IMP_LAB_MAX_SUBSET", "9"),
        ("IMP_LAB_MAX_ATTEMPTS", "2"),
        ("IMP_LAB_RAY_ADDRESS", "auto"),
    ]:
        monkeypatch.setenv(var, value)
    cfg, jobs, cluster = load_settings(), JobSettings.from_env(), load_cluster_config(store)
    assert (cfg.workers, cfg.limits.max_subset, jobs.max_attempts) == (0, 9, 2)
    assert jobs.heartbeat_timeout == 12.5  # not in the environment: still the file's
    assert (cluster.backend, cluster.address) == ("ray", "auto")
    assert load_cluster_config(store, backend="local").backend == "local"  # a flag wins
    monkeypatch.setenv("IMP_LAB_MAX_ATTEMPTS", "")  # an empty variable is unset
    assert JobSettings.from_env().max_attempts == 7


def test_config_file_is_found_through_imp_lab_config(tmp_path, monkeypatch):
    elsewhere = tmp_path / "etc" / "lab.toml"
    elsewhere.parent.mkdir()
    elsewhere.write_text("[jobs]\npoll_interval = 0.5\n")
    write_config(tmp_path, "[jobs]\npoll_interval = 2.0\n")
    monkeypatch.setenv("IMP_LAB_CONFIG", str(elsewhere))
    assert JobSettings.from_env().poll_interval == 0.5
    monkeypatch.setenv("IMP_LAB_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SpecError, match=r"^IMP_LAB_CONFIG: no config file at .*; fix the path"):
        JobSettings.from_env()


def test_a_process_started_elsewhere_is_pointed_at_the_same_file(tmp_path, monkeypatch):
    assert config_env() == {}
    write_config(tmp_path, "[jobs]\nmax_attempts = 4\n")
    env = config_env()
    assert env == {"IMP_LAB_CONFIG": str((tmp_path / "imp-lab.toml").resolve())}
    monkeypatch.chdir(tmp_path.parent)  # a Ray task's working directory is not ours
    assert JobSettings.from_env().max_attempts == 3
    monkeypatch.setenv("IMP_LAB_CONFIG", env["IMP_LAB_CONFIG"])
    assert JobSettings.from_env().max_attempts == 4


@pytest.mark.parametrize(
    "env, text, load, line",
    [
        (
            {"IMP_LAB_MAX_ATTEMPTS": "many"},
            "",
            JobSettings.from_env,
            "IMP_LAB_MAX_ATTEMPTS: 'many' is not a whole number; write a whole number (default 3)",
        ),
        (
            {},
            "[jobs]\nheartbeat_timeout = 'soon'\n",
            JobSettings.from_env,
            "jobs.heartbeat_timeout: 'soon' is not a number; write a number (default 30.0)",
        ),
        (
            {"IMP_LAB_POLL_INTERVAL": "0"},
            "",
            JobSettings.from_env,
            "IMP_LAB_POLL_INTERVAL: 0.0 is too small; use at least 0.001",
        ),
        (
            {},
            "[cluster]\nbackend = 'slurm'\n",
            lambda: load_cluster_config("store"),
            "cluster.backend: 'slurm': choose one of local, ray",
        ),
        (
            {"IMP_LAB_RAY_DEVICE": "tpu"},
            "",
            lambda: load_cluster_config("store"),
            "IMP_LAB_RAY_DEVICE: 'tpu': choose one of auto, cpu, cuda",
        ),
        (
            {},
            "[cluster]\nbackedn = 'ray'\n",
            lambda: load_cluster_config("store"),
            "cluster.backedn: unknown setting in imp-lab.toml; use one of: backend, address, "
            "device",
        ),
        (
            {},
            "[limits]\nmax_subset = 0\n",
            load_settings,
            "limits.max_subset: 0 is below 1; use a positive number or unset it",
        ),
        (
            {},
            "jobs = 3\n",
            load_settings,
            "jobs: must be a table in imp-lab.toml: write [jobs] and its keys below",
        ),
        ({}, "workers = -1\n", load_settings, "workers: -1 is negative; use 0 or more"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key_and_the_fix(
    tmp_path, monkeypatch, env, text, load, line
):
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    write_config(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load()
    assert str(info.value) == line


def test_old_store_cluster_toml_is_read_below_imp_lab_toml_with_a_notice(tmp_path):
    """The notice is printed once per process, so this runs in a fresh interpreter."""
    store = tmp_path / "store"
    store.mkdir()
    (store / "cluster.toml").write_text('backend = "ray"\ndevice = "cpu"\n')
    write_config(tmp_path, '[cluster]\ndevice = "cuda"\n')
    code = (
        "from engine.cluster import load_cluster_config as load\n"
        f"a, b = load({str(store)!r}), load({str(store)!r})\n"
        "print(a.backend, a.device, b == a)\n"
    )
    env = os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = [sys.executable, "-c", code]
    done = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["ray", "cuda", "True"]  # imp-lab.toml over the old file
    notice = done.stderr.splitlines()
    assert len(notice) == 1 and "cluster.toml is deprecated" in notice[0]
    assert "[cluster] table in imp-lab.toml" in notice[0]
