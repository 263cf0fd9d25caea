"""Typed, validated, hashable specs for runs.

Every spec is a frozen dataclass whose fields carry their help text and allowed values in
``field(metadata=...)`` (as OpenLTH's hparams do), so the CLI flags and the app's forms are
generated from one source. Validation happens at construction and raises ``SpecError`` naming
the field and what to do. A spec's content hash is its cache key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from engine.choices import RegisteredNames
from engine.identity import content_hash, hashed_fields
from engine.steps import Step  # re-exported: specs and their users name it from here


class SpecError(ValueError):
    """A config value is wrong; the message names the field and how to fix it."""

    def __init__(self, field_path: str, message: str):
        super().__init__(f"{field_path}: {message}")
        self.field_path = field_path


def opt(default: Any, help: str, choices: tuple[Any, ...] | None = None, **kw: Any) -> Any:
    """A dataclass field with help text and (optionally) its allowed values."""
    return field(default=default, metadata={"help": help, "choices": choices, **kw})


def _check_choice(path: str, value: Any, choices: tuple[Any, ...]) -> None:
    if value not in choices:
        allowed = ", ".join(str(c) for c in choices)
        raise SpecError(path, f"{value!r} is not allowed; choose one of: {allowed}")


def _check_range(path: str, value: float, lo: float, hi: float, closed: str = "[]") -> None:
    ok_lo = value >= lo if closed[0] == "[" else value > lo
    ok_hi = value <= hi if closed[1] == "]" else value < hi
    if not (ok_lo and ok_hi):
        raise SpecError(
            path, f"{value!r} is out of range; it must lie in {closed[0]}{lo}, {hi}{closed[1]}"
        )


def _coerce(path: str, value: Any, default: Any) -> Any:
    """Check a value against its default's type; ints are accepted where floats are."""
    if isinstance(default, (SpecBase, Step, tuple)) or default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SpecError(path, f"{value!r} is not true/false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(path, f"{value!r} is not a whole number")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(path, f"{value!r} is not a number")
        return float(value)
    elif isinstance(default, str) and not isinstance(value, str):
        raise SpecError(path, f"{value!r} is not text")
    return value


class SpecBase:
    """Shared behaviour: validation on construction, dict round-trip, content hash."""

    section: ClassVar[str] = ""
    # The registry a `name` field must be listed in, read at check time (plugins register late).
    registry: ClassVar[RegisteredNames | None] = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            object.__setattr__(self, f.name, self.check(f.name, getattr(self, f.name)))
        self.validate()

    @classmethod
    def check(cls, name: str, value: Any) -> Any:
        """Field `name`'s value checked on its own (type, choices, range), normalised.

        Raises a SpecError naming the field. Construction checks every field this way; the
        app's form calls it field by field, so it can report every bad field at once.
        Override (calling this) where a field has checks of its own.
        """
        f = next(f for f in dataclasses.fields(cls) if f.name == name)  # type: ignore[arg-type]
        path = f"{cls.section}.{name}" if cls.section else name
        if f.type in ("Step", Step) or (isinstance(f.default, Step)):
            try:
                value = Step.parse(value)
            except ValueError as e:
                raise SpecError(path, str(e)) from None
        value = _coerce(path, value, f.default)
        choices = f.metadata.get("choices")
        if choices is not None and not f.metadata.get("multiple"):
            _check_choice(path, value, choices)
        if name == "name" and cls.registry is not None:
            _check_choice(path, value, tuple(cls.registry))
        bounds = f.metadata.get("range")
        if bounds is not None and value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise SpecError(path, f"{value!r} is not a number")
            _check_range(path, value, *bounds)
        return value

    def validate(self) -> None:
        """Checks across fields; override where a spec has them."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            if isinstance(v, SpecBase):
                v = v.to_dict()
            elif isinstance(v, Step):
                v = str(v)
            elif isinstance(v, tuple):
                v = [str(x) if isinstance(x, Step) else x for x in v]
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        if not isinstance(data, dict):
            raise SpecError(cls.section or "spec", f"expected a table of settings, got {data!r}")
        names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(names))
        if unknown:
            where = cls.section or "spec"
            raise SpecError(
                f"{where}.{unknown[0]}" if cls.section else unknown[0],
                f"unknown setting; allowed in [{where}]: {', '.join(names)}",
            )
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            sub = _SUBSPECS.get((cls.__name__, name))
            if sub is not None:
                value = sub.from_dict(value)
            elif isinstance(value, list):
                value = tuple(value)
            kwargs[name] = value
        return cls(**kwargs)

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class DataSpec(SpecBase):
    section: ClassVar[str] = "data"
    registry: ClassVar[RegisteredNames] = RegisteredNames("engine.data", "dataset_names")
    name: str = opt("mnist5k", "Data set from the registry (mnist5k ships offline).")
    root: str = opt("data", "Folder that holds (or will receive) downloaded data sets.")
    download: bool = opt(False, "Download the data set into `root` when it is missing.")
    normalize: str = opt(
        "loader",
        "Inputs as the loader normalises them (engine.data.normalize), none (pixels in [0, 1]) "
        "or standardize (per channel: mean 0, sd 1 on the training split).",
        ("loader", "none", "standardize"),
    )


@dataclass(frozen=True)
class ModelSpec(SpecBase):
    section: ClassVar[str] = "model"
    registry: ClassVar[RegisteredNames] = RegisteredNames("engine.models", "model_names")
    name: str = opt("lenet_300_100", "Architecture from the model registry.")
    init: str = opt(
        "kaiming_normal",
        "Conv/linear weight init (engine.models.init): kaiming_normal, pytorch (the layers' "
        "own default), xavier_uniform or xavier_normal.",
        ("kaiming_normal", "pytorch", "xavier_uniform", "xavier_normal"),
    )


COMPILE_MODES = ("off", "auto", "on")  # train.compile (engine.compiled)
STACK_MODES = ("off", "auto", "on")  # train.stack (engine.stacking)
PRECISIONS = ("fp32", "bf16")  # train.precision


@dataclass(frozen=True)
class TrainSpec(SpecBase):
    section: ClassVar[str] = "train"
    optimizer: str = opt("sgd", "Optimizer.", ("sgd", "adam"))
    lr: float = opt(0.1, "Peak learning rate.", range=(0.0, 10.0, "(]"))
    momentum: float = opt(0.9, "SGD momentum (ignored by Adam).", range=(0.0, 1.0, "[)"))
    weight_decay: float = opt(1e-4, "L2 weight decay.", range=(0.0, 1.0, "[)"))
    batch_size: int = opt(128, "Minibatch size.", range=(1, 65536, "[]"))
    length: Step = opt(Step(160, "ep"), "Training length, e.g. '160ep' or '20000it'.")
    schedule: str = opt(
        "step", "Learning-rate schedule after warm-up.", ("constant", "step", "cosine")
    )
    milestones: tuple[Step, ...] = opt(
        (Step(80, "ep"), Step(120, "ep")), "Points where the step schedule multiplies lr by gamma."
    )
    gamma: float = opt(0.1, "Step schedule's factor at each milestone.", range=(0.0, 1.0, "(]"))
    warmup: Step = opt(Step(0, "it"), "Linear warm-up length from 0 to lr.")
    checkpoint_every: int = opt(
        0,
        "Save a checkpoint every N epochs (0: only rewind point and end).",
        range=(0, 100000, "[]"),
    )
    data_order_seed: int | None = opt(
        None,
        "Seed of data order and augmentation (None: the run's seed).",
        range=(0, 2**31 - 1, "[]"),
    )
    compile: str = opt(
        "off",
        "Compile the training step with torch.compile (engine.compiled): off, on, or auto "
        "(where it repays its compile time: on CUDA, and on a CPU for a training of 20k "
        "steps or more). Falls back to eager if compiling fails. Not part of the run id.",
        COMPILE_MODES,
    )
    precision: str = opt(
        "fp32",
        "Training arithmetic: fp32, or bf16 autocast of forward and loss (meant for CUDA; "
        "Hessians and evaluation stay fp32). Part of the run id when bf16.",
        PRECISIONS,
    )
    stack: str = opt(
        "auto",
        "Train a run's trainings that can run together (the baselines) as one stacked model "
        "(engine.stacking): off, on, or auto (where measured to pay; on a CPU, never). "
        "Not part of the run id.",
        STACK_MODES,
    )

    @classmethod
    def check(cls, name: str, value: Any) -> Any:
        if name == "milestones":
            try:
                value = tuple(Step.parse(m) for m in value)
            except ValueError as e:
                raise SpecError("train.milestones", str(e)) from None
        value = super().check(name, value)
        if name == "data_order_seed" and (
            isinstance(value, bool) or not isinstance(value, int | None)
        ):
            raise SpecError("train.data_order_seed", f"{value!r} is not a whole number")
        if name == "length" and value.value <= 0:
            raise SpecError("train.length", "must be positive, e.g. '10ep'")
        return value


@dataclass(frozen=True)
class PruneSpec(SpecBase):
    section: ClassVar[str] = "prune"
    levels: int = opt(10, "IMP levels after the dense level 0.", range=(0, 100, "[]"))
    rate: float = opt(
        0.2, "Fraction of the remaining weights pruned per level.", range=(0, 1, "()")
    )
    output_rate: float | None = opt(
        None, "Own rate for the output layer (None: ranked with the rest).", range=(0, 1, "()")
    )
    scope: str = opt(
        "global", "Rank magnitudes across all layers or within each layer.", ("global", "layer")
    )
    criterion: str = opt("smallest", "Which weights to prune.", ("smallest", "largest", "random"))
    rewind: Step = opt(Step(0, "it"), "Rewind point in level-0 training ('0it' = init).")


BASELINES = ("one_shot", "ft", "ripn", "rpn1", "rpn2")  # the paper's five (Fig. 2), in its order
BASELINE_NAMES = RegisteredNames("engine.baselines", "baseline_names")  # all registered ones


@dataclass(frozen=True)
class BaselineSpec(SpecBase):
    section: ClassVar[str] = "baselines"
    kinds: tuple[str, ...] = opt(
        (), "Comparisons to train at `level` (Fig. 2).", BASELINE_NAMES, multiple=True
    )
    level: int | None = opt(
        None, "IMP level they match in sparsity (None: the last level).", range=(1, 100, "[]")
    )

    @classmethod
    def check(cls, name: str, value: Any) -> Any:
        if name == "kinds":
            value = (value,) if isinstance(value, str) else tuple(value)
            for k in value:
                _check_choice("baselines.kinds", k, BASELINE_NAMES)
            if len(set(value)) != len(value):
                raise SpecError("baselines.kinds", "lists a baseline twice")
        return super().check(name, value)


@dataclass(frozen=True)
class RunSpec(SpecBase):
    """One IMP experiment: data, model, recipe, pruning, seed, and optional baselines.

    The run's identity (`run_hash`) leaves the baselines out: adding a baseline to a finished
    run trains only the baseline, never the levels again.
    """

    data: DataSpec = field(default_factory=DataSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainSpec = field(default_factory=TrainSpec)
    prune: PruneSpec = field(default_factory=PruneSpec)
    baselines: BaselineSpec = field(default_factory=BaselineSpec)
    seed: int = opt(0, "Seed for init, random masks and data order.", range=(0, 2**31 - 1, "[]"))

    def validate(self) -> None:
        values = {
            f"{sub.section}.{f.name}": getattr(sub, f.name)
            for sub in (self.data, self.model, self.train, self.prune, self.baselines)
            for f in dataclasses.fields(sub)
        }
        for problem in cross_field_problems(values):
            raise problem

    @property
    def data_order_seed(self) -> int:
        """Every training's data-order seed: `train.data_order_seed`, else `seed`."""
        given = self.train.data_order_seed
        return self.seed if given is None else given

    @property
    def baseline_level(self) -> int:
        return self.baselines.level if self.baselines.level is not None else self.prune.levels

    def identity(self) -> dict[str, Any]:
        """The fields that define what is computed (not where data lives, not baselines).

        The fields of `HASHED_SINCE_V1` always count, as they did in the first stores; any
        field added since counts only when it differs from its default (as OpenLTH's
        hparams do), so adding a field renames no stored run."""
        return hashed_fields(self.to_dict(), RunSpec().to_dict())

    @property
    def run_hash(self) -> str:
        return content_hash(self.identity())

    @property
    def run_id(self) -> str:
        return f"{self.model.name}-{self.data.name}-s{self.seed}-{self.run_hash[:10]}"


def cross_field_problems(values: Mapping[str, Any]) -> list[SpecError]:
    """The run's checks that relate fields of different sections, each naming the field to
    change, over field path -> value (values that passed their own `check`).

    A check runs only when all its fields are in `values`, so a field that failed its own
    check is never blamed again, nor makes another field look wrong.
    """
    problems = []
    kinds, levels = values.get("baselines.kinds"), values.get("prune.levels")
    if kinds and levels == 0:
        problems.append(
            SpecError(
                "prune.levels",
                "0 leaves no level for the baselines; use 1 or more, or choose no baselines",
            )
        )
    elif kinds and levels is not None and (values.get("baselines.level") or 0) > levels:
        problems.append(
            SpecError(
                "baselines.level",
                f"{values['baselines.level']} is beyond the last IMP level {levels}",
            )
        )
    t, r = values.get("train.length"), values.get("prune.rewind")
    if t is not None and r is not None and t.unit == r.unit and r.value > t.value:
        problems.append(SpecError("prune.rewind", f"{r} lies beyond the training length {t}"))
    return problems


_SUBSPECS: dict[tuple[str, str], type[SpecBase]] = {
    ("RunSpec", "data"): DataSpec,
    ("RunSpec", "model"): ModelSpec,
    ("RunSpec", "train"): TrainSpec,
    ("RunSpec", "prune"): PruneSpec,
    ("RunSpec", "baselines"): BaselineSpec,
}


def spec_fields(cls: type[SpecBase]) -> list[dataclasses.Field]:
    """Fields of a spec with their help metadata (for CLI flags and app forms)."""
    return [f for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
