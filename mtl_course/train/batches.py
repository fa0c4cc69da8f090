"""Feed batches to the trainer.

A split that fits in memory is stacked once and moved to the device once; each epoch then only
shuffles indices. This is why no DataLoader workers are needed: on a GPU, a DataLoader re-collating
small images every step is often slower than the model itself.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch
from torch import Tensor

MAX_RESIDENT_BYTES = 4 * 2**30    # stack datasets up to this size; larger ones are read batch by batch


def to_tensors(data: Any, keys: Sequence[str]) -> dict[str, Tensor] | None:
    """The whole split as {key: [N, ...]} tensors, or None when it is too big to hold in memory.

    data may be a dict of stacked tensors, a dataset with .tensors() (SyntheticScenes), or any
    map-style dataset of dict samples.
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
                            f"{{'image': images, 'semseg': masks}}, or a dataset whose __getitem__ returns such a dict")
        item_bytes = sum(first[k].numel() * first[k].element_size() for k in keys if k in first)
        if item_bytes * len(data) > MAX_RESIDENT_BYTES:
            return None
        samples = [data[i] for i in range(len(data))]
        stacked = {k: torch.stack([s[k] for s in samples]) for k in keys if k in first}
    missing = [k for k in keys if k not in stacked]
    if missing:
        raise KeyError(f"the data has no {missing} (it holds {sorted(stacked)}); check the task names")
    lengths = {k: len(stacked[k]) for k in keys}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"the data's tensors have different lengths: {lengths}")
    return {k: stacked[k] for k in keys}


def iterate(data: Any, resident: dict[str, Tensor] | None, keys: Sequence[str], batch_size: int,
            device: torch.device, shuffle: bool = False, generator: torch.Generator | None = None,
            drop_last: bool = False) -> Iterator[dict[str, Tensor]]:
    """Yield batches {key: tensor on device}. With drop_last, a short final batch is skipped (it
    would make batch-norm statistics noisy), unless the whole split is smaller than one batch."""
    n = len(next(iter(resident.values()))) if resident is not None else len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        index = order[start:start + batch_size]
        if resident is not None:
            yield {k: v[index.to(v.device)] for k, v in resident.items()}
        else:
            samples = [data[i] for i in index.tolist()]
            yield {k: torch.stack([s[k] for s in samples]).to(device, non_blocking=True) for k in keys}


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, n // batch_size)
