"""The masked training step, eager or compiled with `torch.compile`, and which of them ran.

One step is: forward and loss (under bf16 autocast when `train.precision` says so), backward,
the gradients masked, the optimiser's step, the weights re-masked. Compiled, it is two
graphs: the forward with the loss (its backward compiled with it by AOTAutograd) and the
masked update (grad mask, `optimizer.step()`, weight mask) as one function, with the learning
rate held in a tensor so a new rate each iteration recompiles nothing (PyTorch's "compiled
optimizer with an LR scheduler" recipe). On CUDA both use mode="reduce-overhead", so
Inductor replays each as a CUDA graph. A last, smaller batch of an epoch runs its forward
eagerly rather than compiling a second graph for one batch an epoch.

Compilation can fail (no C++ compiler for Inductor on a CPU, an op Dynamo cannot trace, a
backend error): the first `GUARDED_STEPS` compiled steps are taken from a snapshot of the
model and optimiser, and a failure restores it and carries on eagerly, saying why. Dynamo
can also quietly run a function eagerly (past its recompile limit, 8 per function: each
training's new model and optimiser fail the last one's guards), so each compiled training
starts from a reset Dynamo (`fresh_compiler`; Inductor's caches still hold the graphs, so
recompiling is cheap) and checks that its guarded steps captured graphs. Whether
compiling pays is `choose`'s rule (measured in benchmarks/compile.py and the README).
"""

from __future__ import annotations

import contextlib
import copy
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.config import COMPILE_MODES, PRECISIONS

if TYPE_CHECKING:  # engine.train builds its steppers from here
    from engine.train import MaskedParams

GUARDED_STEPS = 3  # steps taken from a snapshot: each may (re)compile, and so fail
# `auto` on a CPU compiles only a training of at least this many steps. Measured on 2 shared
# cores (benchmarks/compile.py --steps 150, demo recipe, two runs at load 1.0-3.6; README
# "Compiled steps"): LeNet-300-100's step took 0.60-0.96 ms compiled against 1.45-2.33 ms
# eager, Conv-2's 5.0-24 against 11-64 ms; compiling cost 11-21 s cold (the first compile
# in a process, empty Inductor cache) and 0.3-3.5 s for each later training. A cold compile
# is repaid after 9-16k LeNet steps or 0.5-2k Conv-2 steps, a later one after 90-400. At
# 20k steps a training repays the worst cold compile measured: the paper's LeNet run (50k
# steps a level) compiles, the demo (11 trainings of 672 steps: 6-10 s saved against 15-23 s
# compiling) does not.
CPU_AUTO_MIN_STEPS = 20_000
BACKEND = "inductor"  # torch.compile's backend (a test swaps in one that fails)


@dataclass(frozen=True)
class StepPath:
    """Which step ran and why: for the job's progress, the epoch line and the checkpoint."""

    kind: str  # "eager" or "compiled"
    reason: str  # why this path (the setting, `auto`'s rule, or the compile error)
    backend: str = ""  # when compiled: "inductor", or "inductor, reduce-overhead: CUDA graphs"
    precision: str = "fp32"
    compile_s: float = 0.0  # wall time of the guarded first steps, compiling included

    def describe(self) -> str:
        """`compiled (inductor; 13.5 s to compile; train.compile=on), fp32`."""
        what = [self.backend] if self.backend else []
        if self.compile_s:
            what.append(f"{self.compile_s:.1f} s to compile")
        what.append(self.reason)
        return f"{self.kind} ({'; '.join(what)}), {self.precision}"

    def record(self) -> dict:
        return asdict(self) | {"text": self.describe()}


def cpp_compiler() -> str | None:
    """The C++ compiler Inductor would call on a CPU, if there is one on $PATH."""
    return next((c for c in ("g++", "c++", "clang++", "cc") if shutil.which(c)), None)


def choose(setting: str, device: torch.device, total_steps: int, precision: str) -> StepPath:
    """The path `setting` (off/auto/on) takes for a training of `total_steps` on `device`.

    `total_steps` is the whole training's, not what is left of it, so a resumed training
    takes the path it started on."""
    if setting not in COMPILE_MODES:
        raise ValueError(f"train.compile must be one of {COMPILE_MODES}, got {setting!r}")
    if setting == "off":
        return StepPath("eager", "train.compile=off", precision=precision)
    if device.type == "cpu" and cpp_compiler() is None:
        return StepPath("eager", "no C++ compiler on $PATH for Inductor", precision=precision)
    if setting == "auto" and device.type == "cpu" and total_steps < CPU_AUTO_MIN_STEPS:
        why = f"auto: {total_steps} steps on a CPU do not repay compiling"
        return StepPath("eager", why, precision=precision)
    if setting == "auto" and device.type not in ("cpu", "cuda"):
        return StepPath("eager", f"auto: no compiled step for {device.type}", precision=precision)
    backend = "inductor, reduce-overhead: CUDA graphs" if device.type == "cuda" else "inductor"
    return StepPath("compiled", f"train.compile={setting}", backend, precision)


@dataclass(eq=False)
class Stepper:
    """The eager masked step; `CompiledStepper` is the same step compiled."""

    model: nn.Module
    masked: MaskedParams
    optimizer: torch.optim.Optimizer
    path: StepPath

    def __post_init__(self) -> None:
        self.device = next(self.model.parameters()).device

    @contextlib.contextmanager
    def precision(self) -> Iterator[None]:
        """bf16 autocast for the forward and loss when asked; fp32 otherwise."""
        if self.path.precision == "bf16":
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                yield
        else:
            yield

    def forward(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        with self.precision():
            out = self.model(xb)
            return out, F.cross_entropy(out, yb)

    def update(self) -> None:
        self.masked.apply_to_grads()
        self.optimizer.step()
        self.masked.apply_to_weights()

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        """One masked step on (xb, yb); the batch's logits and loss."""
        out, loss = self.forward(xb, yb)
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        self.update()
        return out, loss


def fresh_compiler() -> None:
    """Forget earlier trainings' compiled frames (and the models their guards hold)."""
    torch._dynamo.reset()


def captured_graphs() -> int:
    """Graphs Dynamo has captured in this process (a counter that reset leaves alone)."""
    from torch._dynamo.utils import counters

    return counters["stats"]["unique_graphs"]


@dataclass(eq=False)
class CompiledStepper(Stepper):
    """The masked step as compiled graphs; falls back to `Stepper`'s eager step on failure.

    `batch_size` is the whole batch's: a shorter last batch runs the eager forward."""

    batch_size: int

    def __post_init__(self) -> None:
        super().__post_init__()
        fresh_compiler()
        self.graphs_before = captured_graphs()
        mode = "reduce-overhead" if self.device.type == "cuda" else None
        options = {"backend": BACKEND, "mode": mode, "dynamic": False}
        self.compiled_forward = torch.compile(super().forward, **options)
        self.compiled_update = torch.compile(super().update, **options)
        for group in self.optimizer.param_groups:  # a tensor, refilled each step: no recompiles
            group["lr"] = torch.tensor(float(group["lr"]), device=self.device)
        self.steps, self.spent, self.failed = 0, 0.0, False

    def set_lr(self, lr: float) -> None:
        if self.failed:
            return super().set_lr(lr)
        for group in self.optimizer.param_groups:
            group["lr"].fill_(lr)

    def step(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        if self.failed:
            return super().step(xb, yb)
        if self.steps >= GUARDED_STEPS:
            return self._compiled_step(xb, yb)
        t0, saved = time.perf_counter(), self._snapshot()
        try:
            result = self._compiled_step(xb, yb)
        except Exception as e:  # any compiler error means: run eagerly
            self._restore(saved)
            self._fall_back(e)
            return super().step(xb, yb)
        self.steps += 1
        self.spent += time.perf_counter() - t0
        if self.steps == GUARDED_STEPS and captured_graphs() == self.graphs_before:
            self._fall_back(None)
        elif self.steps == GUARDED_STEPS:
            self.path = replace(self.path, compile_s=round(self.spent, 2))
        return result

    def _compiled_step(self, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        """Under CUDA graphs a graph's outputs live until the next graph's call starts a new
        iteration, and the update's call does: the logits and loss are copied out first."""
        if self.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()
        whole = len(xb) == self.batch_size
        out, loss = (self.compiled_forward if whole else super().forward)(xb, yb)
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        out, loss = out.detach().clone(), loss.detach().clone()
        self.compiled_update()
        return out, loss

    def _snapshot(self) -> tuple[dict, dict]:
        model = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        return model, copy.deepcopy(self.optimizer.state_dict())

    def _restore(self, saved: tuple[dict, dict]) -> None:
        self.model.load_state_dict(saved[0])
        self.optimizer.load_state_dict(saved[1])
        for p in self.model.parameters():
            p.grad = None

    def _fall_back(self, error: Exception | None) -> None:
        """Eager from now on; `error` is the compiler's, None when Dynamo captured nothing."""
        self.failed = True
        if error is None:
            why = "Dynamo captured no graph in the first steps, ran eagerly"
        else:
            why = f"compile failed, ran eagerly: {error_text(error)}"
        self.path = StepPath("eager", why, precision=self.path.precision)
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], Tensor):
                group["lr"] = float(group["lr"])


class Guarded:
    """A pure function through torch.compile, and itself from the first call that fails.

    For products (engine.analysis.hvp), which change no state: a failed call is simply
    taken again eagerly. `path` says which ran, and why when it fell back."""

    def __init__(self, fn: Callable, mode: str | None = None):
        self.fn, self.failed = fn, False
        self.compiled = torch.compile(fn, backend=BACKEND, mode=mode, dynamic=False)
        self.path = f"compiled ({BACKEND if isinstance(BACKEND, str) else 'custom'})"

    def __call__(self, *args):
        if not self.failed:
            try:
                return self.compiled(*args)
            except Exception as e:  # any compiler error means: run eagerly
                self.failed, self.path = True, f"eager (compile failed: {error_text(e)})"
        return self.fn(*args)


def error_text(error: BaseException) -> str:
    """`BackendCompilerFailed (CalledProcessError: ...)`: the error and, when it wraps one
    (Dynamo wraps a backend's), the root cause's first line."""
    root = error
    while (inner := root.__cause__ or getattr(root, "inner_exception", None)) is not None:
        root = inner
    first = (str(root).strip().splitlines() or [""])[0][:200]
    if root is error:
        return f"{type(error).__name__}: {first}"
    return f"{type(error).__name__} ({type(root).__name__}: {first})"


def make_stepper(
    model: nn.Module,
    masked: MaskedParams,
    optimizer: torch.optim.Optimizer,
    *,
    setting: str,
    precision: str,
    total_steps: int,
    batch_size: int,
    choose_path: Callable[..., StepPath] = choose,
) -> Stepper:
    """The stepper `setting` and `precision` ask for on the model's device."""
    if precision not in PRECISIONS:
        raise ValueError(f"train.precision must be one of {PRECISIONS}, got {precision!r}")
    device = next(model.parameters()).device
    path = choose_path(setting, device, total_steps, precision)
    if path.kind == "compiled":
        return CompiledStepper(model, masked, optimizer, path, batch_size)
    return Stepper(model, masked, optimizer, path)
