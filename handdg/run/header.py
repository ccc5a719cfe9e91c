"""A handdg checkpoint's metadata from its .safetensors header alone: what `eval`, `predict` and `train --init`
check before torch loads (the file is there, is a .safetensors file, and was written by handdg)."""

from __future__ import annotations

import json
from pathlib import Path

from handdg.errors import HanddgError

_HEADER_LIMIT = 100 * 2**20
"""safetensors' own limit on a header's size."""


def checkpoint_header(path: str | Path, named: str = "checkpoint") -> dict[str, str]:
    """The metadata of the .safetensors file `path`; HanddgError calling it `named` when it is missing, no
    .safetensors file, or not written by handdg."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 2 <= size <= _HEADER_LIMIT:
                raise ValueError(f"a header of {size} bytes")
            header = json.loads(handle.read(size))
    except FileNotFoundError:
        raise HanddgError(f"{named} not found: {path} (give a .safetensors file from a run's checkpoints/)") from None
    except (OSError, ValueError) as exc:
        raise HanddgError(f"cannot read {named} {path}: not a .safetensors file ({exc})") from None
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or "handdg_config" not in metadata:
        raise HanddgError(f"{path} is not a handdg checkpoint (no training config in its metadata)")
    return metadata
