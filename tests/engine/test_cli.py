"""The CLI: run, ls, show, and one-line errors for bad input."""

import argparse
import json
import os
import urllib.error
from pathlib import Path

import pytest
import torch

from engine.cli import build_parser, main
from engine.cli.args import STORE_HELP
from engine.jobs.queue import JobQueue
from engine.store import Store
from tests.engine.conftest import tiny_spec


def test_run_ls_show(tmp_path, capsys):
    cfg = tmp_path / "spec.json"
    spec = tiny_spec().replace(baselines=tiny_spec().baselines.replace(kinds=()))
    cfg.write_text(json.dumps(spec.to_dict()))
    store = str(tmp_path / "store")
    assert (
        main(
            [
                "run",
                "--config",
                str(cfg),
                "--store",
                store,
                "--prune-levels",
                "1",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "sparsity" in out and "test acc" in out  # the summary table
    run_id = spec.replace(prune=spec.prune.replace(levels=1)).run_id
    assert run_id in out
    assert main(["ls", "--store", store]) == 0
    assert run_id[:20] in capsys.readouterr().out
    assert main(["show", run_id, "--store", store, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [lv["level"] for lv in shown["levels"]] == [0, 1]
    assert shown["spec"]["prune"]["levels"] == 1


def test_every_command_has_the_one_store_flag(capsys):
    """--store is declared once (engine.cli) and every command has it, help and default alike."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert {"run", "ls", "worker", "jobs", "sweep", "fsck"} <= set(sub.choices)
    for name, parser in sub.choices.items():
        flags = [a for a in parser._actions if "--store" in a.option_strings]
        assert [(f.default, f.help) for f in flags] == [(None, STORE_HELP)], name
    with pytest.raises(SystemExit):
        main(["tag", "--help"])
    assert "--store STORE" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "--model-name", "resnet99"], "model.name"),
        (["run", "--data-name", "imagenet"], "choose one of"),
        (["run", "--prune-rate", "1.5"], "prune.rate"),
        (["run", "--prune-rate", "0"], "prune.rate"),
        (["run", "--prune-levels", "many"], "whole number"),
        (["run", "--train-length", "5ep", "--prune-rewind", "9ep"], "prune.rewind"),
        (["run", "--config", "/nonexistent.toml"], "no such file"),
        (["run", "--data-name", "cifar10"], "--data-download true"),
        (["show", "no-such-run"], "no run"),
        (["show", "../../etc"], "not allowed"),
        (["run", "--config", "{binary}"], "config: binary.json is not a text file"),
        (["run", "--device", "bogus"], "--device: 'bogus' is not a device"),
        (["run", "--device", "cuda:{gpu}"], "--device: 'cuda:"),  # one past the last GPU
        (["worker", "--device", "cuda:{gpu}"], "--device: 'cuda:"),
        (["run", "--store", "{file}"], "is a file; name a folder"),
        (["ls", "--store", "{file}"], "is a file; name a folder"),
        (["run", "--train-length", "-5ep"], "train.length: '-5ep' is negative"),
        (["run", "--prune-rewind", "-3it"], "prune.rewind: '-3it' is negative"),
        (["run", "--train-length", "1000000000000ep"], "train.length: '1000000000000ep' is too"),
        (["submit", "--train-length", "1000000000000ep"], "at most 100000ep"),
        (["submit", "--train-length", "10ep", "--train-warmup", "999999999999it"], "warmup"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, words, monkeypatch):
    monkeypatch.setenv("IMP_LAB_DATA", str(tmp_path / "data"))
    (tmp_path / "binary.json").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "file").write_text("not a folder")
    places = {"binary": tmp_path / "binary.json", "file": tmp_path / "file"}
    argv = [a.format(gpu=torch.cuda.device_count(), **places) for a in argv]
    store = tmp_path / "store"
    assert main(argv if "--store" in argv else [*argv, "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and words in err
    assert len(err.splitlines()) == 1
    assert not (store / "runs").exists() or Store(store).run_ids() == []
    assert not (store / "jobs").exists() or JobQueue(store).list() == []
    assert (tmp_path / "file").read_text() == "not a folder"


def test_a_failed_download_says_so_and_leaves_no_folders(tmp_path, capsys, monkeypatch):
    """Offline (or with the network down): no advice to do what was done, nothing left."""
    from torchvision import datasets

    def unreachable(self):
        os.makedirs(self.raw_folder if hasattr(self, "raw_folder") else self.root, exist_ok=True)
        Path(self.root, "cifar-10-python.tar.gz").write_bytes(b"partial")
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(datasets.CIFAR10, "download", unreachable)
    data = tmp_path / "data"
    monkeypatch.setenv("IMP_LAB_DATA", str(data))
    argv = ["run", "--data-name", "cifar10", "--data-download", "true", "--store", "s"]
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "could not be downloaded" in err and "Name or service" in err
    assert "download=true" not in err and len(err.splitlines()) == 1
    assert not data.exists()
