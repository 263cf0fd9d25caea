"""Named run specs: the offline demo and the paper's settings (METHOD.md, last section)."""

from __future__ import annotations

from engine.config import (
    BASELINES,
    BaselineSpec,
    DataSpec,
    ModelSpec,
    PruneSpec,
    RunSpec,
    SpecError,
    TrainSpec,
)


def adam_recipe(length: str, lr: float = 1.2e-3) -> TrainSpec:
    """Frankle & Carbin's MNIST recipe: Adam, batch 60, constant rate, a checkpoint per epoch."""
    return TrainSpec(
        optimizer="adam",
        lr=lr,
        weight_decay=0.0,
        batch_size=60,
        length=length,
        schedule="constant",
        milestones=(),
        checkpoint_every=1,
    )


def mnist_adam(data: str, model: str, length: str, levels: int, lr: float = 1.2e-3) -> RunSpec:
    """Frankle & Carbin's MNIST runs: `adam_recipe`, 20% per level (10% of the output layer),
    rewind to init, every baseline at the last level."""
    return RunSpec(
        data=DataSpec(data),
        model=ModelSpec(model),
        train=adam_recipe(length, lr),
        prune=PruneSpec(levels=levels, rate=0.2, output_rate=0.1, rewind="0it"),
        baselines=BaselineSpec(kinds=BASELINES),
    )


def openlth_cifar(model: str) -> RunSpec:
    """OpenLTH's CIFAR-10 recipe (METHOD.md's settings) for `model`, with every baseline; a
    checkpoint every 4 epochs for Fig. 4 and the loss-matched control."""
    return RunSpec(
        data=DataSpec("cifar10"),
        model=ModelSpec(model),
        train=TrainSpec(
            optimizer="sgd",
            lr=0.1,
            momentum=0.9,
            weight_decay=1e-4,
            batch_size=128,
            length="160ep",
            schedule="step",
            milestones=("80ep", "120ep"),
            gamma=0.1,
            checkpoint_every=4,
        ),
        prune=PruneSpec(levels=10, rate=0.2, scope="global", rewind="1000it"),
        baselines=BaselineSpec(kinds=BASELINES),
    )


PRESETS: dict[str, tuple[str, RunSpec]] = {
    "demo": (
        "LeNet-300-100 on mnist5k (offline), 5 levels x 8 epochs, all five baselines at level 5.",
        mnist_adam("mnist5k", "lenet_300_100", "8ep", levels=5),
    ),
    "paper-lenet-mnist": (
        "Frankle & Carbin's LeNet-300-100 on MNIST: Adam 1.2e-3, batch 60, 50k iterations, "
        "20% per level (10% output layer), rewind to init, 10 levels.",
        mnist_adam("mnist", "lenet_300_100", "50ep", levels=10),
    ),
    "paper-resnet20-cifar10": (
        "OpenLTH's ResNet-20 on CIFAR-10: SGD 0.1, momentum 0.9, wd 1e-4, batch 128, "
        "160 epochs (x0.1 at 80, 120), global 20% per level, rewind to iteration 1000, 10 levels.",
        openlth_cifar("resnet20"),
    ),
    "paper-vgg16-cifar10": (
        "OpenLTH's VGG-16 on CIFAR-10, with ResNet-20's recipe (METHOD.md): SGD 0.1, momentum "
        "0.9, wd 1e-4, batch 128, 160 epochs (x0.1 at 80, 120), global 20% per level, rewind "
        "to iteration 1000, 10 levels.",
        openlth_cifar("vgg16"),
    ),
}


def preset(name: str) -> RunSpec:
    if name not in PRESETS:
        raise SpecError("preset", f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name][1]


# The `reproduce` group: every experiment behind Figures 1-5 for one model and data set, run
# for several seeds (issue: reproduce the paper's findings). The mnist5k ones are sized to run
# on 2 CPU cores.
REPRODUCE: dict[str, tuple[str, RunSpec]] = {
    "lenet-mnist5k": (
        "LeNet-300-100 on mnist5k: Adam 1.2e-3, batch 60, 10 epochs per level, 10 levels "
        "(20%, output 10%), rewind to init, all baselines at level 10.",
        mnist_adam("mnist5k", "lenet_300_100", "10ep", levels=10),
    ),
    "conv2-mnist5k": (
        "Conv-2 on mnist5k: Adam 2e-4 (Frankle & Carbin), batch 60, 3 epochs per level, "
        "4 levels (global 20%, output 10%), rewind to init, all baselines at level 4.",
        mnist_adam("mnist5k", "conv2", "3ep", levels=4, lr=2e-4),
    ),
    # The paper's scale: GPU experiments (`reproduce` prints their planned work and GPU hours
    # first; `--smoke` runs one short level of them on synthetic CIFAR-shaped data).
    "paper-resnet20-cifar10": PRESETS["paper-resnet20-cifar10"],
    "paper-vgg16-cifar10": PRESETS["paper-vgg16-cifar10"],
}


def reproduce_specs(name: str, seeds: tuple[int, ...] = (0, 1, 2)) -> list[RunSpec]:
    """The runs of one `reproduce` experiment, one per seed."""
    if name not in REPRODUCE:
        raise SpecError(
            "reproduce", f"unknown experiment {name!r}; choose one of: {', '.join(REPRODUCE)}"
        )
    return [REPRODUCE[name][1].replace(seed=s) for s in seeds]
