"""The in-memory form of a data set that training and the analyses consume."""

from dataclasses import dataclass, replace

import torch
from torch import Tensor


# eq=False: comparing tensors field by field is ambiguous, and identity hashing is what we want.
@dataclass(frozen=True, eq=False)
class DataBundle:
    """A whole data set as tensors, so batching needs no DataLoader and no host round trips.

    Images are float32 NCHW, already normalised per channel; labels are int64. `info` records
    provenance (source, split seed, sizes, normalisation) for the run's records.
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    in_shape: tuple[int, int, int]
    augment: bool
    info: dict

    @classmethod
    def of_splits(
        cls,
        name: str,
        train: tuple[Tensor, Tensor],
        test: tuple[Tensor, Tensor],
        num_classes: int,
        augment: bool,
        info: dict,
    ) -> "DataBundle":
        """A bundle from its (inputs, labels) splits; the input shape is read off the inputs."""
        (train_x, train_y), (test_x, test_y) = train, test
        in_shape = tuple(train_x.shape[1:])
        return cls(name, train_x, train_y, test_x, test_y, num_classes, in_shape, augment, info)

    def to(self, device: torch.device | str) -> "DataBundle":
        """Move every tensor to `device` once; later batches are slices made there."""
        return replace(
            self,
            train_x=self.train_x.to(device),
            train_y=self.train_y.to(device),
            test_x=self.test_x.to(device),
            test_y=self.test_y.to(device),
        )
