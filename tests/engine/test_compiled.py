"""Compiled training steps (engine.compiled): the same training as eager within float
tolerance, pruned weights exactly zero, a failed compile falling back to eager and saying
why, `auto` staying eager where compiling cannot pay, bf16 autocast only where asked."""

import pytest
import torch

from engine import compiled as C
from engine import masks as M
from engine.analysis.hvp import HessianOperator, no_tf32
from engine.analysis.point import LossPoint
from engine.config import RunSpec, TrainSpec
from engine.data import load_dataset
from engine.models import build_model, prunable_names
from engine.store import LevelDir
from engine.summaries import format_epoch
from engine.train import MaskedParams, make_optimizer, train_level

CPU = torch.device("cpu")
# batch 24 leaves a last batch of 8 of synthetic_tiny's 512: the eager-forward tail path runs
SPEC = TrainSpec(
    optimizer="adam", lr=1e-2, weight_decay=0.0, batch_size=24, length="1ep", milestones=()
)


def _setup(seed=0):
    data = load_dataset("synthetic_tiny", "unused")
    torch.manual_seed(seed)
    model = build_model("lenet_300_100", data.in_shape, data.num_classes)
    names = set(prunable_names(model))
    weights = {k: v for k, v in model.state_dict().items() if k in names}
    mask = M.prune(weights, M.ones_mask(weights), 0.6, "global")
    model.load_state_dict(M.project(model.state_dict(), mask))
    return data, model, mask


def _train(tmp_path, name, spec, seed=0):
    data, model, mask = _setup(seed)
    lv = LevelDir(tmp_path / name)
    return train_level(model, mask, data, spec, lv, data_seed=0), lv, mask


def test_compiling_keeps_the_run_id_and_bf16_changes_it():
    spec = RunSpec()
    compiled = spec.replace(train=spec.train.replace(compile="on"))
    bf16 = spec.replace(train=spec.train.replace(precision="bf16"))
    assert compiled.run_id == spec.run_id != bf16.run_id
    assert "compile" not in spec.identity()["train"]


def test_choose_follows_the_setting_the_device_and_the_length(monkeypatch):
    assert C.choose("off", CPU, 10**9, "fp32").kind == "eager"
    tiny = C.choose("auto", CPU, 22, "fp32")
    assert tiny.kind == "eager" and "22 steps" in tiny.reason
    long = C.choose("auto", CPU, C.CPU_AUTO_MIN_STEPS, "fp32")
    assert long.kind == "compiled" and long.backend == "inductor"
    on = C.choose("on", CPU, 22, "bf16")
    assert (on.kind, on.precision) == ("compiled", "bf16")
    cuda = C.choose("auto", torch.device("cuda"), 22, "fp32")
    assert cuda.kind == "compiled" and "CUDA graphs" in cuda.backend
    monkeypatch.setattr(C, "cpp_compiler", lambda: None)
    none = C.choose("on", CPU, 22, "fp32")
    assert none.kind == "eager" and "no C++ compiler" in none.reason
    with pytest.raises(ValueError, match=r"train\.compile"):
        C.choose("always", CPU, 22, "fp32")


def test_auto_trains_a_tiny_cpu_run_eagerly_and_records_it(tmp_path):
    """`auto` on 22 CPU steps: eager, bit for bit what `off` trains, and the record says so."""
    auto, lv, _ = _train(tmp_path, "auto", SPEC.replace(compile="auto"))
    off, _, _ = _train(tmp_path, "off", SPEC)
    assert auto.step.kind == "eager" and "auto: 22 steps" in auto.step.reason
    assert all(torch.equal(auto.state[k], off.state[k]) for k in off.state)
    assert lv.checkpoint_meta("final")["step"]["text"] == auto.step.describe()


def _failing_backend(gm, example_inputs):
    raise RuntimeError("no backend today")


def test_a_failed_compile_falls_back_to_eager_and_says_why(tmp_path, monkeypatch):
    """The compile fails at the first step (no compiling here: the backend raises); the
    step restores its snapshot, so training continues eagerly to the same bits as `off`."""
    monkeypatch.setattr(C, "BACKEND", _failing_backend)
    events = []

    class Log:
        def progress(self, **fields):
            events.append(fields.get("step_path"))

        def epoch_done(self, row, label):
            events.append(format_epoch("on level 0", row))

        def cancelled(self):
            return False

    data, model, mask = _setup()
    failed = train_level(
        model,
        mask,
        data,
        SPEC.replace(compile="on"),
        LevelDir(tmp_path / "on"),
        data_seed=0,
        reporter=Log(),
    )
    off, _, _ = _train(tmp_path, "off", SPEC)
    assert failed.step.kind == "eager"
    assert "compile failed" in failed.step.reason and "no backend today" in failed.step.reason
    assert all(torch.equal(failed.state[k], off.state[k]) for k in off.state)
    assert events[0] == failed.step.describe()  # the job's progress says which step ran
    assert events[-1].endswith(f"; step {failed.step.describe()}")  # and the epoch line


def test_bf16_autocasts_the_forward_and_keeps_fp32_weights():
    """On a CPU too (torch's CPU autocast), so the option is testable here; the logits are
    bf16, the weights and Adam's moments fp32, pruned weights zero, the loss near fp32's."""
    data, model, mask = _setup()
    xb, yb = data.train_x[:64], data.train_y[:64]
    losses = {}
    for precision in ("fp32", "bf16"):
        net = build_model("lenet_300_100", data.in_shape, data.num_classes)
        net.load_state_dict(model.state_dict())
        opt = make_optimizer(list(net.parameters()), SPEC)
        path = C.choose("off", CPU, 1, precision)
        stepper = C.Stepper(net, MaskedParams(net, mask), opt, path)
        out, loss = stepper.step(xb, yb)
        assert out.dtype == (torch.bfloat16 if precision == "bf16" else torch.float32)
        assert all(p.dtype == torch.float32 for p in net.parameters())
        assert all(s["exp_avg"].dtype == torch.float32 for s in opt.state.values())
        for k, m in mask.items():
            assert torch.all(net.state_dict()[k][m == 0] == 0), k
        losses[precision] = loss.item()
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=2e-2)  # bf16: 8 bits of mantissa


def _operator(**kw):
    data, model, mask = _setup()
    x, y = data.train_x[:64], data.train_y[:64]
    return HessianOperator(LossPoint(model, model.state_dict(), mask, x, y), mode="forward", **kw)


def test_hessian_products_never_run_in_bf16():
    """A caller's bf16 autocast stops at the operator: its products are fp32's, bit for bit."""
    op = _operator()
    v = op.random_vector(torch.Generator().manual_seed(0))
    plain = op.matvec(v)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = op.matvec(v)
    assert inside.dtype == torch.float32 and torch.equal(inside, plain)


@pytest.mark.slow
def test_compiled_products_match_eager_or_fall_back(monkeypatch):
    """Compiled forward-mode products agree with eager ones to float rounding; with a
    backend that fails, the operator says so and gives the eager products exactly."""
    eager = _operator()
    vectors = torch.randn(3, eager.dim, generator=torch.Generator().manual_seed(1))
    ref = eager.matmat(vectors)
    compiled = _operator(compile=True)
    out = compiled.matmat(vectors)
    assert compiled.compiled == "compiled (inductor)" and eager.compiled == "eager"
    assert (out - ref).abs().max().item() <= 1e-5 * ref.abs().max().item()
    monkeypatch.setattr(C, "BACKEND", _failing_backend)
    failing = _operator(compile=True)
    assert torch.equal(failing.matmat(vectors), ref)
    assert "compile failed" in failing.compiled and "no backend today" in failing.compiled


def _compiled_steps(seed):
    """A fresh model's CompiledStepper after its 3 guarded steps, and the graphs they took."""
    data, model, mask = _setup(seed)
    opt = make_optimizer(list(model.parameters()), SPEC)
    path = C.choose("on", CPU, 22, "fp32")
    before = C.captured_graphs()
    stepper = C.CompiledStepper(model, MaskedParams(model, mask), opt, path, 24)
    for _ in range(C.GUARDED_STEPS):
        stepper.step(data.train_x[:24], data.train_y[:24])
    return stepper, C.captured_graphs() - before


@pytest.mark.slow
def test_every_training_in_a_process_compiles_or_says_it_did_not(monkeypatch):
    """Each training's new model fails the last one's guards; past Dynamo's recompile limit
    it would run eagerly unsaid. A fresh Dynamo per training keeps compiling; without it
    (and a limit of 1) the stepper finds no graph captured and says it ran eagerly."""
    with torch._dynamo.config.patch(recompile_limit=1):
        for seed in range(3):
            stepper, graphs = _compiled_steps(seed)
            assert graphs > 0 and stepper.path.kind == "compiled", seed
        monkeypatch.setattr(C, "fresh_compiler", lambda: None)
        stepper, graphs = _compiled_steps(3)
    assert graphs == 0 and stepper.path.kind == "eager"
    assert "captured no graph" in stepper.path.reason


@pytest.mark.slow
def test_compiled_training_matches_eager_and_keeps_pruned_weights_zero(tmp_path):
    """Inductor on a CPU (tens of seconds to compile on 2 cores). 22 Adam steps, the last on
    a smaller batch: weights within 2e-5 of eager's (float rounding, grown by Adam's
    normalisation), pruned weights and their Adam moments exactly zero, the path recorded."""
    on, lv, mask = _train(tmp_path, "on", SPEC.replace(compile="on"))
    off, _, _ = _train(tmp_path, "off", SPEC)
    assert on.step.kind == "compiled" and on.step.compile_s > 0, on.step.describe()
    gap = max((on.state[k] - off.state[k]).abs().max().item() for k in off.state)
    assert gap < 2e-5  # measured 1.6e-6
    moved = max((off.state[k] - _setup()[1].state_dict()[k]).abs().max().item() for k in mask)
    assert moved > 100 * gap  # the training moved the weights far more than the two differ
    for k, m in mask.items():
        assert torch.all(on.state[k][m == 0] == 0), k
    assert lv.checkpoint_meta("final")["step"]["kind"] == "compiled"


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_step_matches_eager_and_bf16_trains(tmp_path):
    """Never run in this repository yet (no GPU lent): reduce-overhead (CUDA graphs) against
    eager on CUDA, TF32 off so both are fp32, and bf16 close to fp32 in its final loss."""
    _, _, mask = _setup()
    cuda_data = load_dataset("synthetic_tiny", "unused", device="cuda")
    results = {}
    specs = {
        "off": SPEC,
        "on": SPEC.replace(compile="on"),
        "bf16": SPEC.replace(compile="on", precision="bf16"),
    }
    with no_tf32("cuda"):
        for name, spec in specs.items():
            model = _setup()[1].cuda()
            lv = LevelDir(tmp_path / name)
            results[name] = train_level(model, mask, cuda_data, spec, lv, data_seed=0)
    on, off, bf16 = results["on"], results["off"], results["bf16"]
    assert on.step.kind == "compiled" and "CUDA graphs" in on.step.backend
    assert max((on.state[k] - off.state[k]).abs().max().item() for k in off.state) < 1e-3
    for k, m in mask.items():
        assert torch.all(on.state[k].cpu()[m == 0] == 0), k
        assert torch.all(bf16.state[k].cpu()[m == 0] == 0), k
    loss = lambda r: r.metrics[-1]["train_loss"]  # noqa: E731
    assert loss(bf16) == pytest.approx(loss(off), rel=0.1)
