"""Reading annotation files (JSON, RHD's pickles, STB's .mat) with one-line user errors.

RHD ships its annotations as pickles and users fetch them from the web, so pickles are
loaded with an unpickler that only rebuilds numpy arrays and plain containers.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from handdg.errors import HanddgError

_PICKLE_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store array bytes
}


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except numpy's array reconstruction helpers."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _PICKLE_ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays and plain data are allowed")


def require_file(path: Path, expected: str) -> Path:
    """Return `path` if it is a file, else raise naming it and what it should be."""
    if not path.is_file():
        raise HanddgError(f"missing {path}: expected {expected} (check the dataset root and --layout)")
    return path


def read_json(path: Path, expected: str) -> Any:
    """Parse a JSON annotation file."""
    require_file(path, expected)
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HanddgError(f"cannot parse {path}: {exc} (expected {expected}; re-download it)") from None


def read_pickle(path: Path, expected: str) -> Any:
    """Load a pickle that may only contain numpy arrays and builtin containers.

    `encoding="latin1"` reads pickles written by Python 2 (RHD's are) as well as Python 3 ones.
    """
    require_file(path, expected)
    try:
        with open(path, "rb") as fh:
            return _PlainDataUnpickler(fh, encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise HanddgError(f"cannot load {path}: {exc} (expected {expected})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise HanddgError(f"cannot load {path}: corrupt pickle ({exc}); expected {expected}, re-download it") from None


def read_mat_variable(path: Path, name: str, expected: str) -> np.ndarray:
    """Read one variable of a MATLAB .mat file (v5 via scipy, v7.3 via h5py), in MATLAB axis order."""
    import scipy.io

    require_file(path, expected)
    try:
        content = scipy.io.loadmat(path, variable_names=[name])
    except NotImplementedError:
        return _read_mat73_variable(path, name, expected)
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, OSError) as exc:
        raise HanddgError(f"cannot read {path}: {exc} (expected {expected})") from None
    if name not in content:
        raise HanddgError(f"{path} has no variable '{name}' (expected {expected})")
    return np.asarray(content[name])


def _read_mat73_variable(path: Path, name: str, expected: str) -> np.ndarray:
    """MATLAB v7.3 files are HDF5 with axes stored reversed: read and transpose back."""
    import h5py

    with h5py.File(path, "r") as fh:
        if name not in fh:
            raise HanddgError(f"{path} has no variable '{name}' (expected {expected})")
        return np.asarray(fh[name]).T


def as_array(value: Any, shape: tuple[int | None, ...], path: Path, what: str) -> np.ndarray:
    """Convert `value` to float64 and check its shape (None = any length), naming file and field on error."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise HanddgError(f"{path}: {what} is not a numeric array (expected shape {_shape_text(shape)})") from None
    if arr.ndim != len(shape) or any(want is not None and got != want for got, want in zip(arr.shape, shape)):
        raise HanddgError(f"{path}: {what} has shape {arr.shape}, expected {_shape_text(shape)}")
    return arr


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"
