"""`show_sample`: one sample exactly as handdg reads it, as a JSON-ready dict or a text table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from handdg.data.base import HandDataset, Sample
from handdg.data.joints import NAMES
from handdg.data.layouts import open_dataset
from handdg.data.overlay import save_overlay
from handdg.data.values import annotation_problems
from handdg.errors import HanddgError


def show_sample(
    root: Path | str,
    layout: str,
    index: int,
    split: str = "train",
    camera: str = "sk",
    overlay: Path | str | None = None,
) -> dict[str, Any]:
    """Read sample `index` of a split, optionally draw it to `overlay`, and describe it."""
    dataset = open_dataset(root, layout, split, camera)
    try:
        sample = dataset[index]
    except IndexError:
        raise HanddgError(
            f"--index {index} out of range: {layout} {dataset.split} in {root} has {len(dataset)} samples (0..{len(dataset) - 1})"
        ) from None
    if overlay is not None:
        save_overlay(sample, overlay)
    return describe(dataset, index, sample)


def describe(dataset: HandDataset, index: int, sample: Sample) -> dict[str, Any]:
    """JSON-ready description: id, side, K, xyz_mm (camera frame, FreiHAND order), uv, and context."""
    height, width = sample.image.shape[:2]
    out: dict[str, Any] = {
        "problems": annotation_problems(sample),
        "id": sample.id,
        "dataset": dataset.name,
        "split": dataset.split,
        "index": dataset.position(index),
        "image_path": str(dataset.image_path(index)),
        "image_size": [width, height],
        "side": sample.side,
        "root": sample.root,
        "joint_order": "freihand",
        "joint_names": list(NAMES),
        "K": _plain(sample.K),
        "xyz_mm": _plain(sample.xyz_mm),
        "uv": _plain(sample.uv),
        "visible": None if sample.visible is None else [bool(v) for v in sample.visible],
        "extra": {k: _plain(v) for k, v in sample.extra.items()},
    }
    if dataset.camera is not None:
        out["camera"] = dataset.camera
    return out


def format_text(info: dict[str, Any]) -> str:
    """A readable table of what `describe` returns."""
    camera = f" camera {info['camera']}" if "camera" in info else ""
    lines = [
        f"{info['dataset']} {info['split']}{camera} #{info['index']}  id {info['id']}",
        f"image  {info['image_path']} ({info['image_size'][0]}x{info['image_size'][1]})",
        f"side   {info['side']}   joint 0 = {info['root']}   joint order: FreiHAND (root, thumb..pinky, root->tip)",
    ]
    lines += [f"{key:<6} {value}" for key, value in info["extra"].items()]
    lines.append("K      " + "  ".join("[" + ", ".join(_num(x, 3) for x in row) + "]" for row in info["K"]))
    lines.append(f"{'joint':<12} {'x_mm':>9} {'y_mm':>9} {'z_mm':>9} {'u':>8} {'v':>8}  visible")
    visible = info["visible"] or [None] * len(info["joint_names"])
    for name, xyz, uv, vis in zip(info["joint_names"], info["xyz_mm"], info["uv"], visible):
        cells = [f"{_num(c, 1):>9}" for c in xyz] + [f"{_num(c, 1):>8}" for c in uv]
        lines.append(f"{name:<12} " + " ".join(cells) + ("" if vis is None else f"  {'yes' if vis else 'no'}"))
    lines += [f"problem: {problem}" for problem in info.get("problems", [])]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    """numpy values to JSON-ready Python values; NaN becomes None (JSON has no NaN)."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.ndim else _plain(value.item())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _num(value: float | None, digits: int) -> str:
    return "nan" if value is None else f"{value:.{digits}f}"
