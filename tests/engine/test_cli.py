"""The CLI: run, ls, show, and one-line errors for bad input."""

import json

import pytest

from engine.cli import main
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
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, argv, words, monkeypatch):
    monkeypatch.setenv("IMP_LAB_DATA", str(tmp_path / "data"))
    store = tmp_path / "store"
    assert main([*argv, "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and words in err
    assert len(err.splitlines()) == 1
    assert not (store / "runs").exists() or Store(store).run_ids() == []
