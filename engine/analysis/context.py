"""What the units of one analysis request share: the run's spec, its model and data, the
fixed data subsets, and the points' weights (with BatchNorm recalibrated where asked)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from engine.analysis import batchnorm as bn
from engine.analysis.hessian import data_subset
from engine.analysis.point import LossPoint
from engine.analysis.points import Point, Resolved, resolve
from engine.data import load_dataset
from engine.data.batches import num_batches
from engine.imp import resolve_device
from engine.models import build_model
from engine.settings import data_root
from engine.store import Store
from engine.train import NullReporter, Reporter


class Context:
    """What the units of one request share: the run's spec, model, data and subsets (lazy)."""

    def __init__(self, store: Store, run_id: str, device: Any):
        self.store, self.run_id = store, run_id
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.spec = store.load_spec(run_id)
        self._subsets: dict[tuple[int, int], tuple[Tensor, Tensor, dict]] = {}
        self.recalibrated: list[str] = []  # points recalibrated for the unit being computed
        self.reporter: Reporter = NullReporter()  # the request's, for units that train

    @cached_property
    def data(self):
        d = self.spec.data
        return load_dataset(d.name, data_root(), False, self.device, d.normalize)

    @cached_property
    def model(self) -> torch.nn.Module:
        model = build_model(self.spec.model.name, self.data.in_shape, self.data.num_classes)
        return model.to(self.device)

    @property
    def iters_per_epoch(self) -> int:
        return num_batches(len(self.data.train_x), self.spec.train.batch_size, drop_last=False)

    def resolve(self, point: Point) -> Resolved:
        return resolve(self.store, self.run_id, point)

    def at(self, point: Point, opts: Mapping[str, Any]) -> Resolved:
        """The point's weights and mask, with BatchNorm statistics recomputed where the
        unit's `bn_recalibrate` asks for it (`engine.analysis.batchnorm`)."""
        r = self.resolve(point)
        state = self.batchnorm(r.state, opts, point.which in bn.PROJECTED, str(point))
        return Resolved(point, state, r.mask)

    @cached_property
    def has_batchnorm(self) -> bool:
        return bn.has_batchnorm(self.model)

    def batchnorm(
        self, state: dict[str, Tensor], opts: Mapping[str, Any], projected: bool, label: str
    ) -> dict[str, Tensor]:
        """`state` recalibrated on the fixed subset of `bn_subset` examples when the model
        has BatchNorm and `bn_recalibrate` applies to a point that is (or is not)
        `projected`; `label` is noted in `recalibrated` for the unit's record."""
        mode = opts.get("bn_recalibrate", "off")
        if not bn.applies(mode, projected) or not self.has_batchnorm:
            return state
        x, _, _ = self.subset(opts["bn_subset"], bn.SUBSET_SEED)
        self.recalibrated.append(label)
        return bn.recalibrated(self.model, state, x, self.spec.train.batch_size)

    def batchnorm_record(self, opts: Mapping[str, Any]) -> dict[str, Any]:
        """What a unit's result says about BatchNorm: the mode asked for, whether the model
        has any, which points were recalibrated and on which examples."""
        record: dict[str, Any] = {
            "mode": opts["bn_recalibrate"],
            "model_has_batchnorm": self.has_batchnorm,
            "recalibrated": list(self.recalibrated),
        }
        if self.recalibrated:
            record["subset"] = {
                "size": opts["bn_subset"],
                "seed": bn.SUBSET_SEED,
                "batch_size": self.spec.train.batch_size,
            }
        return record

    def subset(self, size: int, seed: int) -> tuple[Tensor, Tensor, dict]:
        """The fixed subset of `size` training examples drawn with `seed` (`data_subset`),
        and a record of which (indices), made once per request."""
        key = (size, seed)
        if key not in self._subsets:
            x, y, idx = data_subset(self.data, size=size, seed=seed)
            record = {
                "eval_set": "subset",
                "size": size,
                "seed": seed,
                "indices": [int(i) for i in idx],
            }
            self._subsets[key] = (x, y, record)
        return self._subsets[key]

    def loss_point(self, point: Point, opts: dict) -> tuple[LossPoint, dict]:
        """The loss at `point` (weights as `at` gives them) on the examples `opts` ask for,
        on this request's device; and the record of which examples."""
        r = self.at(point, opts)
        x, y, record = self.examples(opts)
        return LossPoint(self.model, r.state, r.mask, x, y, self.device), record

    def examples(self, opts: dict) -> tuple[Tensor, Tensor, dict]:
        """The examples a unit measures on and a record of which: the fixed subset of the
        training set (`data_subset`, indices recorded) or, with eval_set=train, all of it."""
        if opts.get("eval_set") == "train":
            return self.data.train_x, self.data.train_y, {"eval_set": "train"}
        return self.subset(opts["subset"], opts["seed"])
