"""Built-in CLIP weights shipped inside the package, stored compactly.

A CLIP trained on a small vocabulary leaves most rows of its 49,408-token embedding at zero;
the packed file keeps only the non-zero rows (ids and values), so a model of a few hundred
thousand weights ships in a few MB and unpacks to exactly the state dict it was trained to.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from handdg.errors import HanddgError

BUILTIN_DIR = Path(__file__).with_name("builtin")
BUILTIN_MODELS = ("handdg-synth",)
_EMBEDDING = "token_embedding.weight"
_ROWS, _VALUES, _SHAPE = "token_embedding.rows", "token_embedding.values", "token_embedding.shape"


def builtin_path(model: str) -> Path:
    """The packed weights file of a built-in model (HanddgError naming the built-in models otherwise)."""
    path = BUILTIN_DIR / f"{model}.safetensors"
    if model not in BUILTIN_MODELS or not path.is_file():
        raise HanddgError(f"no builtin weights for CLIP model {model!r}: --clip-weights builtin exists for "
                          f"{', '.join(BUILTIN_MODELS)} (pass --clip-model handdg-synth)")
    return path


def pack_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict with the token embedding reduced to its non-zero rows (lossless)."""
    table = state[_EMBEDDING]
    rows = torch.nonzero(table.abs().sum(dim=1) > 0).flatten()
    packed = {k: v.contiguous() for k, v in state.items() if k != _EMBEDDING}
    packed.update({_ROWS: rows, _VALUES: table[rows].contiguous(), _SHAPE: torch.tensor(table.shape)})
    return packed


def unpack_state(packed: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of pack_state: the full state dict, zero rows restored."""
    state = {k: v for k, v in packed.items() if k not in (_ROWS, _VALUES, _SHAPE)}
    values = packed[_VALUES]
    table = torch.zeros(tuple(int(n) for n in packed[_SHAPE]), dtype=values.dtype)
    table[packed[_ROWS]] = values
    state[_EMBEDDING] = table
    return state


def write_packed(path: Path, state: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write a packed weights file."""
    save_file(pack_state(state), str(path), metadata=metadata)


def read_packed(path: Path) -> dict[str, torch.Tensor]:
    """The full state dict of a packed weights file."""
    return unpack_state(load_file(str(path)))
