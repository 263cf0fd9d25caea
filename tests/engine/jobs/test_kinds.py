"""Job kinds are found by the queue itself: a worker knows every built-in kind without the CLI
or the app having been imported, and runs a reproduce job with nothing else open."""

import subprocess
import sys
from pathlib import Path

from engine import reproduce as R
from engine.jobs.queue import ENV, JobQueue
from engine.jobs.worker import run_worker
from engine.presets import REPRODUCE
from tests.engine.conftest import tiny_spec

REPO = Path(__file__).resolve().parents[3]


def test_a_bare_queue_knows_the_built_in_kinds_without_the_cli_or_the_app(tmp_path):
    script = (
        "import sys\n"
        "from engine.jobs.queue import KINDS, JobQueue\n"
        "JobQueue(sys.argv[1])\n"
        "print(' '.join(sorted(KINDS)))\n"
        "faces = ('engine.cli', 'app', 'streamlit')\n"
        "print(sorted(m for m in sys.modules if m.startswith(faces)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert {"run", "analysis", "reproduce"} <= set(out[0].split())
    assert out[1] == "[]"


def test_a_reproduce_job_is_trained_and_analysed_by_a_worker_alone(tmp_path, monkeypatch):
    spec = tiny_spec()
    spec = spec.replace(
        prune=spec.prune.replace(levels=1), baselines=spec.baselines.replace(kinds=())
    )
    monkeypatch.setitem(REPRODUCE, "tiny1", ("one level on synthetic_tiny", spec))
    monkeypatch.setitem(R.HESSIAN_DEFAULTS, "tiny1", {"k": 2, "subset": 32})
    monkeypatch.setenv(ENV["poll_interval"], "0.01")
    queue = JobQueue(tmp_path)
    job = queue.submit("reproduce", {"experiment": "tiny1", "seed": 0})
    assert run_worker(tmp_path, "cpu", max_jobs=1, worker_id="w1") == 1
    done = queue.get(job.id)
    assert done.status == "done", done.error
    assert R.is_reproduced(queue.store, {"experiment": "tiny1", "seed": 0})
    assert {a["what"] for a in done.result["analyses"]} >= {"distances", "spectrum"}
