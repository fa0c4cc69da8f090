"""Checksummed, atomically written files for tensors (the data cache and model checkpoints).

File layout:  b"MTLCOURSE1\\n" + 64 hex chars of SHA-256(payload) + b"\\n" + payload,
where payload is `torch.save(obj)`. A truncated or edited file fails the checksum and is refused;
loading uses `weights_only=True`, so a file can never run code.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

MAGIC = b"MTLCOURSE1\n"


class CorruptFileError(ValueError):
    """A checksummed file is truncated, edited, or not one of ours."""


def save_verified(obj: Any, path: str | Path) -> None:
    """Write obj to path atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + digest + b"\n" + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_verified(path: str | Path) -> Any:
    """Read a file written by `save_verified`; raise CorruptFileError if it does not check out."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no file at {path}")
    data = path.read_bytes()
    header = len(MAGIC) + 65
    if not data.startswith(MAGIC) or len(data) < header or data[header - 1:header] != b"\n":
        raise CorruptFileError(f"{path} is not an mtl_course file (bad header); was it written by "
                               "save_checkpoint, fit(checkpoint=...) or the data cache?")
    digest, payload = data[len(MAGIC):header - 1].decode(errors="replace"), data[header:]
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CorruptFileError(f"{path} fails its SHA-256 check: the file is truncated or was modified "
                               "after it was written. Delete it and write it again.")
    return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
