"""Feed batches to the trainer.

A split that fits in memory is stacked once and moved to the device once; each epoch then only
shuffles indices (on a GPU, a DataLoader re-collating small images every step is often slower than the
model itself). A dataset too big to stack (over MAX_RESIDENT_BYTES), or one that asks to be read afresh every
epoch (`stackable = False`: random augmentations), is read by a torch DataLoader with worker processes.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

MAX_RESIDENT_BYTES = 4 * 2**30    # stack datasets up to this size; larger ones are read batch by batch


def to_tensors(data: Any, keys: Sequence[str]) -> dict[str, Tensor] | None:
    """The whole split as {key: [N, ...]} tensors, or None when it is too big to hold in memory.

    data may be a dict of stacked tensors, a dataset with .tensors() (SyntheticScenes), or any
    map-style dataset of dict samples. None also for a dataset with `stackable = False` (random transforms:
    each epoch must read new samples).
    """
    if isinstance(data, torch.utils.data.DataLoader):
        raise TypeError("pass the dataset itself, not a DataLoader: fit and evaluate batch and shuffle it themselves "
                        "(set the batch size with batch_size=)")
    if isinstance(data, dict):
        stacked = data
    elif callable(getattr(data, "tensors", None)):        # SyntheticScenes (TensorDataset's .tensors is a tuple)
        stacked = data.tensors()
    else:
        if len(data) == 0:
            raise ValueError("the dataset is empty")
        first = data[0]
        if not isinstance(first, dict):
            raise TypeError(f"fit and evaluate read samples that are dicts, {{'image': [3, H, W], 'semseg': [H, W], "
                            f"...}} (one key per task target), but this dataset's samples are "
                            f"{type(first).__name__}s. Pass a dict of stacked tensors instead, e.g. "
                            f"{{'image': images, 'semseg': masks}}, a dataset whose __getitem__ returns such a dict, "
                            f"or "
                            f"name the parts of each sample with keys=, e.g. fit(..., keys=('image', 'semseg'))")
        missing = [k for k in keys if k not in first]
        if missing:
            raise KeyError(f"the data has no {missing} (its samples hold {sorted(first)}); check the task names")
        if getattr(data, "stackable", True) is False:
            return None
        item_bytes = sum(first[k].numel() * first[k].element_size() for k in keys)
        if item_bytes * len(data) > MAX_RESIDENT_BYTES:
            return None
        samples = [data[i] for i in range(len(data))]
        for k in keys:
            shapes = {tuple(s[k].shape) for s in samples if k in s}
            if len(shapes) > 1:
                raise ValueError(f"the samples' {k!r} tensors have different shapes ({sorted(shapes)[:3]}...): fit "
                                 f"batches samples of one size. Resize them when loading, e.g. load_dataset(..., "
                                 f"size=(H, W)), or with mtl_course.data.resize_to_multiple")
        stacked = {k: torch.stack([s[k] for s in samples]) for k in keys if k in first}
    missing = [k for k in keys if k not in stacked]
    if missing:
        raise KeyError(f"the data has no {missing} (it holds {sorted(stacked)}); check the task names")
    lengths = {k: len(stacked[k]) for k in keys}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"the data's tensors have different lengths: {lengths}")
    return {k: stacked[k] for k in keys}


class Named(Dataset):
    """A dataset of tuple samples, e.g. (image, mask), read as dict samples {names[0]: image, names[1]: mask}."""

    def __init__(self, data: Any, names: Sequence[str]) -> None:
        self.data, self.names = data, list(names)
        self.stackable = getattr(data, "stackable", True)        # random transforms: still read every epoch

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        sample = self.data[index]
        if not isinstance(sample, (tuple, list)) or len(sample) != len(self.names):
            raise TypeError(f"keys={self.names} names the {len(self.names)} parts of each sample, but sample {index} "
                            f"is a {type(sample).__name__}" + (f" of {len(sample)}" if isinstance(sample, (tuple, list))
                                                             else ""))
        return {name: torch.as_tensor(part) for name, part in zip(self.names, sample)}


def named(data: Any, names: Sequence[str] | None) -> Any:
    """data with dict samples: unchanged without names; a TensorDataset(images, masks) with names ("image",
    "semseg") becomes {"image": images, "semseg": masks}; any other dataset of tuples is wrapped in Named."""
    if names is None or data is None:
        return data
    if isinstance(data, torch.utils.data.TensorDataset):
        if len(names) != len(data.tensors):
            raise ValueError(f"keys={list(names)} names {len(names)} tensors but the TensorDataset holds "
                             f"{len(data.tensors)}")
        return dict(zip(names, data.tensors))
    return Named(data, names)


class Order(Sampler):
    """The sample indices of one epoch, set by Batches before each pass (the DataLoader reads them from here)."""

    def __init__(self) -> None:
        self.indices: list[int] = []

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class Columns(Dataset):
    """Only the keys a batch needs of each sample (workers then send less to the main process)."""

    def __init__(self, data: Any, keys: Sequence[str]) -> None:
        self.data, self.keys = data, list(keys)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        sample = self.data[index]
        return {k: sample[k] for k in self.keys}


def epoch_order(n: int, shuffle: bool, generator: torch.Generator | None, batch_size: int, drop_last: bool,
                rank: int = 0, world: int = 1) -> Tensor:
    """The indices this process reads in one epoch, in order (batch after batch of batch_size).

    One process: a permutation of 0..n-1 (or 0..n-1), less the short last batch with drop_last (kept when the
    whole split is smaller than one batch). `world` processes (torchrun): every process draws the same
    permutation, and global batch k (batch_size * world samples) is split into `world` contiguous slices, slice
    `rank` for this process. So the processes see together exactly the batches of a single process with
    batch_size * world. Without drop_last (evaluation) each process takes every world-th index.
    Returns int64 [number of samples this process reads].
    """
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    if world == 1:
        return order[:n - n % batch_size] if drop_last and n >= batch_size else order
    if not drop_last:
        return order[rank::world]
    full = n // (batch_size * world) * batch_size * world
    if full == 0:                                         # fewer samples than one global batch: equal shares
        return order[:n // world * world].view(-1, world)[:, rank]
    return order[:full].view(-1, world, batch_size)[:, rank].flatten()


class Batches:
    """The batches of one split, epoch after epoch: every `for batch in batches` is one epoch.

    A split held in memory (`resident`, from to_tensors) is indexed directly; any other dataset is read by a
    DataLoader with `workers` worker processes (kept alive between epochs), pinned memory on a CUDA device, in
    the same order the in-memory path would use, so that both give the same batches.
    """

    def __init__(self, data: Any, resident: dict[str, Tensor] | None, keys: Sequence[str], batch_size: int,
                 device: torch.device, shuffle: bool = False, generator: torch.Generator | None = None,
                 drop_last: bool = False, workers: int = 0, rank: int = 0, world: int = 1,
                 persistent: bool = False, seed: int = 0) -> None:
        self.resident, self.keys, self.batch_size, self.device = resident, list(keys), batch_size, device
        self.n = len(next(iter(resident.values()))) if resident is not None else len(data)
        self.shuffle, self.generator, self.drop_last, self.rank, self.world = shuffle, generator, drop_last, rank, world
        self.order = Order()
        # the loader's own generator seeds its workers (a different seed per process), never the global one
        self.loader = None if resident is not None else DataLoader(
            Columns(data, keys), batch_size=batch_size, sampler=self.order, num_workers=workers,
            pin_memory=device.type == "cuda", persistent_workers=persistent and workers > 0,
            generator=torch.Generator().manual_seed(seed + rank))

    def __len__(self) -> int:
        size = len(epoch_order(self.n, False, None, self.batch_size, self.drop_last, self.rank, self.world))
        return -(-size // self.batch_size)

    def close(self) -> None:
        """Stop the DataLoader's worker processes now (kept alive between epochs), not when garbage collected."""
        iterator = getattr(self.loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
        self.loader = None

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        order = epoch_order(self.n, self.shuffle, self.generator, self.batch_size, self.drop_last, self.rank,
                            self.world)
        if self.loader is not None:
            self.order.indices = order.tolist()
            for batch in self.loader:
                yield {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            return
        on = {device: order.to(device) for device in {v.device for v in self.resident.values()}}   # one copy an epoch
        for start in range(0, len(order), self.batch_size):
            yield {k: v[on[v.device][start:start + self.batch_size]] for k, v in self.resident.items()}


def iterate(data: Any, resident: dict[str, Tensor] | None, keys: Sequence[str], batch_size: int,
            device: torch.device, shuffle: bool = False, generator: torch.Generator | None = None,
            drop_last: bool = False) -> Iterator[dict[str, Tensor]]:
    """One pass of Batches (in this process, no workers): batches {key: tensor on device}."""
    return iter(Batches(data, resident, keys, batch_size, device, shuffle, generator, drop_last))
