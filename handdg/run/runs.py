"""A run directory: config.json, metrics.csv (+ TensorBoard when installed) and checkpoints.

    RUN/config.json                      resolved TrainConfig + CLIP provenance + dataset identity
    RUN/metrics.csv                      one row per logged step
    RUN/checkpoints/step_<N>.safetensors model weights; metadata holds the config, so a checkpoint
                                         file alone is enough for `handdg eval`
    RUN/checkpoints/step_<N>.opt.pt      optimiser state, torch RNG state, step
    RUN/last.safetensors                 copy of the newest weights

A checkpoint counts only once its .safetensors exists, and that file is renamed into place after
its .opt.pt: a kill at any moment leaves the previous checkpoint as the newest complete one.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from handdg import __version__
from handdg.errors import HanddgError
from handdg.files import write_atomic, write_json_atomic
from handdg.run.config import TrainConfig

CONFIG = "config.json"
METRICS = "metrics.csv"
LAST = "last.safetensors"
BEST = "best.safetensors"
_STEP = re.compile(r"step_(\d+)\.safetensors$")


def write_json(path: Path, payload: dict) -> None:
    """Write JSON atomically, keys sorted (handdg.files)."""
    write_json_atomic(path, payload, sort_keys=True)


def create_run(out: Path, config: TrainConfig, provenance: dict[str, Any]) -> None:
    """Write config.json of a run starting at step 0 (whether a folder may be started is handdg.train.lifecycle's)."""
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    write_json(out / CONFIG, {"handdg_version": __version__, "config": config.to_dict(), **provenance})


def read_run(out: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and provenance of an existing run directory."""
    path = out / CONFIG
    if not path.exists():
        raise HanddgError(f"no run to resume in {out} ({CONFIG} missing): start it without --resume")
    payload = json.loads(path.read_text())
    config = TrainConfig.from_dict(payload.pop("config"))
    return config, payload


def relocate(config: TrainConfig, out: Path, data: str | None, store: str | None) -> None:
    """Point a resumed run at its own folder `out` (it may be a copy) and at where its data and store are now."""
    config.out = str(out)
    if data is not None:
        if config.val_data == config.data:  # the default validation set lives in the training root
            config.val_data = str(Path(data).resolve())
        config.data = str(Path(data).resolve())
    if store is not None:
        config.store = str(Path(store).resolve())
    if not Path(config.data).exists():
        raise HanddgError(f"the training data {config.data} named in {out / CONFIG} is not there (moved, or a path "
                          "relative to another folder); pass --data DIR (and --store STORE) with --resume")
    if config.store and config.branch2 != "none" and config.clip_mode == "cached" and not Path(config.store).exists():
        raise HanddgError(f"the feature store {config.store} named in {out / CONFIG} is not there; "
                          "pass --store STORE with --resume")


def non_finite_loss(values: dict[str, float], step: int, out: Path) -> HanddgError:
    """The error for a NaN/inf loss: which terms, and what to do about it at this point of the run."""
    bad = ", ".join(f"{name}={value}" for name, value in values.items() if name != "loss" and not math.isfinite(value))
    last = latest_checkpoint(out)
    kept = f"the last good checkpoint is step {last}" if last else "no checkpoint was written yet"
    if last is None and step <= 2:
        cause = ("this early it is the inputs: check the data (`handdg data check`), the feature store "
                 "(`handdg store verify`) and the loss weights (--lambda-*)")
    else:
        cause = "training diverged: lower --lr (or the loss weights --lambda-*), then --resume"
    return HanddgError(f"loss became non-finite at step {step} ({bad or 'loss'}); stopped before updating the "
                       f"weights, {kept}; {cause}")


def checkpoint_steps(out: Path) -> list[int]:
    """Steps of the complete checkpoints in a run, ascending."""
    folder = out / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _STEP.match(p.name)))


def _weights_path(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step_{step}.safetensors"


def _state_path(out: Path, step: int) -> Path:
    return out / "checkpoints" / f"step_{step}.opt.pt"


def _written(path: Path, write: Callable[[Path], None]) -> Path:
    """`write(tmp)` (torch.save / safetensors) atomically into `path` (handdg.files); a failure leaves
    nothing behind and says why in one line.

    Both libraries report a full disk or a missing folder as their own RuntimeError-like errors.
    """
    try:
        return write_atomic(path, write)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - torch's and safetensors' write errors are not OSErrors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HanddgError(f"cannot write checkpoint {path} ({reason}); free disk space or fix the folder, "
                          "then continue with --resume") from None


def write_weights(path: Path, step: int, weights: dict[str, torch.Tensor], config: TrainConfig,
                  model: dict[str, Any] | None = None, reference: dict[str, Any] | None = None,
                  source: dict[str, Any] | None = None) -> Path:
    """Write a self-describing .safetensors atomically: metadata holds the training and network
    configs, the constant-pose reference and, for an imported model, where it came from (`source`),
    so the file alone is enough for `handdg eval` and `handdg predict`."""
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in weights.items()}
    metadata = {"handdg_config": json.dumps(config.to_dict()), "handdg_model": json.dumps(model or {}),
                "handdg_reference": json.dumps(reference), "step": str(step), "handdg_version": __version__}
    if source is not None:
        metadata["handdg_source"] = json.dumps(source)
    return _written(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def save_checkpoint(out: Path, step: int, weights: dict[str, torch.Tensor], state: dict[str, Any],
                    config: TrainConfig, keep: int, model: dict[str, Any] | None = None,
                    reference: dict[str, Any] | None = None) -> Path:
    """Write step_<step> (state first, weights last), refresh last.safetensors, prune to `keep`."""
    state_path, weights_path = _state_path(out, step), _weights_path(out, step)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    _written(state_path, lambda tmp: torch.save({**state, "step": step}, tmp))
    write_weights(weights_path, step, weights, config, model, reference)
    write_atomic(out / LAST, lambda tmp: shutil.copyfile(weights_path, tmp))
    for old in checkpoint_steps(out)[:-keep]:
        _weights_path(out, old).unlink()
        _state_path(out, old).unlink(missing_ok=True)
    return weights_path


@dataclass
class Checkpoint:
    """A checkpoint file's weights, training config, network config, step, constant-pose reference and,
    for an imported model, its source (`{"kind": "official", "sha256": ..., ...}`)."""

    weights: dict[str, torch.Tensor]
    config: TrainConfig
    model: dict[str, Any]
    step: int
    reference: dict[str, Any] | None = None
    source: dict[str, Any] | None = None


def load_weights(path: str | Path) -> Checkpoint:
    """Read a handdg checkpoint (.safetensors); HanddgError if it is missing, corrupt or foreign."""
    path = Path(path)
    if not path.is_file():
        raise HanddgError(f"checkpoint not found: {path} (give a .safetensors file from a run's checkpoints/)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            weights = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise HanddgError(f"cannot read checkpoint {path}: {exc}") from None
    if "handdg_config" not in metadata:
        raise HanddgError(f"{path} is not a handdg checkpoint (no training config in its metadata)")
    return Checkpoint(weights, TrainConfig.from_dict(json.loads(metadata["handdg_config"])),
                      json.loads(metadata.get("handdg_model", "{}")), int(metadata["step"]),
                      json.loads(metadata.get("handdg_reference", "null")),
                      json.loads(metadata.get("handdg_source", "null")))


def load_into(net: torch.nn.Module, weights: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load `weights` into `net`; HanddgError naming the first tensor that is missing, extra or of another shape."""
    mine = net.state_dict()
    missing = sorted(set(mine) - set(weights))
    extra = sorted(set(weights) - set(mine))
    wrong = [name for name in mine if name in weights and weights[name].shape != mine[name].shape]
    if missing or extra or wrong:
        if wrong:
            name = wrong[0]
            what = f"tensor {name} is {tuple(weights[name].shape)}, the network's is {tuple(mine[name].shape)}"
        else:
            what = f"tensor {(missing or extra)[0]} is {'missing' if missing else 'not in the network'}"
        raise HanddgError(f"checkpoint {path} does not fit the network recorded with it ({what}; "
                          f"{len(missing) + len(extra) + len(wrong)} tensors differ): it was saved by another "
                          "network or edited; use a checkpoint written by `handdg train`")
    net.load_state_dict(weights)


def restore_weights(path: Path, net: torch.nn.Module, model: dict[str, Any]) -> Checkpoint:
    """Load a run's checkpoint into `net`, refusing one saved by another network (`model` = this run's)."""
    ckpt = load_weights(path)
    differs = sorted(k for k in set(model) & set(ckpt.model) if model[k] != ckpt.model[k])
    if differs:
        raise HanddgError(f"checkpoint {path} was saved by another network ({ckpt.config.preset} preset; "
                          f"{', '.join(differs)} differ) than the one this run's config.json describes; "
                          "it belongs to another run: resume that run, or start this one again")
    load_into(net, ckpt.weights, path)
    return ckpt


def load_state(out: Path, step: int) -> dict[str, Any]:
    """The optimiser/RNG state saved beside the step's weights."""
    return torch.load(_state_path(out, step), map_location="cpu", weights_only=True)


def latest_checkpoint(out: Path) -> int | None:
    """Step of the newest complete checkpoint, None when there is none."""
    steps = checkpoint_steps(out)
    return steps[-1] if steps else None


class MetricsLog:
    """metrics.csv (one row per logged step) and, when installed, TensorBoard scalars."""

    def __init__(self, out: Path, fields: list[str], resume_step: int | None) -> None:
        self.path = out / METRICS
        self.fields = ["step", *fields]
        rows = self._rows_up_to(resume_step) if resume_step is not None else []
        self._file = self.path.open("w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=self.fields)
        self._writer.writeheader()
        self._writer.writerows(rows)
        self._file.flush()
        self._board = _tensorboard(out)

    def _rows_up_to(self, step: int) -> list[dict[str, str]]:
        """Rows logged before the checkpoint we resume from; later ones will be logged again."""
        if not self.path.exists():
            return []
        with self.path.open(newline="") as handle:
            return [row for row in csv.DictReader(handle) if int(row["step"]) <= step]

    def log(self, step: int, values: dict[str, float]) -> None:
        """Append one row and flush it to disk."""
        self._writer.writerow({"step": step, **{k: f"{v:.9g}" for k, v in values.items()}})
        self._file.flush()
        if self._board is not None:
            for name, value in values.items():
                self._board.add_scalar(name, value, step)

    def close(self) -> None:
        """Close the CSV (and TensorBoard) files."""
        self._file.close()
        if self._board is not None:
            self._board.close()


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def read_metrics(out: Path) -> list[dict[str, float]]:
    """metrics.csv as a list of dicts of floats (step included)."""
    with (out / METRICS).open(newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]
