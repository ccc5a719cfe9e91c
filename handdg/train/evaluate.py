"""Run a checkpoint over a test set and score it under both protocols (`hand3d` and `official`).

Test sets as the paper and hand3d used them: STB B1Counting + B1Random (SK camera by default,
BB selectable), RHD's evaluation split (dominant hand), FreiHAND's evaluation split (when its
ground truth is present). Crops come from the ground-truth 2D joints, as the official code's
stored boxes did, with the crop rule and joint-0 convention the model was trained with (a
palm-rooted test set is compared with a wrist-rooted model through hand3d's palm->wrist rule).
No CLIP is needed: Branch2 only shapes training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from handdg.options import check_int
from handdg.train import metrics, runs
from handdg.train.batches import HandCrops
from handdg.train.distributed import pick_device
from handdg.train.loop import crop_spec
from handdg.train.model import HandPoseNet, ModelConfig
from handdg.train.targets import decode

DEFAULT_XY_FROM = {"stb": "heatmap", "rhd": "regression", "freihand": "regression"}
"""Where a 2.5-D model's x, y come from in the official protocol, as the official code read them."""


def load_model(checkpoint: str | Path, device: torch.device) -> tuple[HandPoseNet, runs.Checkpoint]:
    """The network of a checkpoint, in eval mode on `device`."""
    ckpt = runs.load_weights(checkpoint)
    net = HandPoseNet(ModelConfig.from_dict(ckpt.model))
    runs.load_into(net, ckpt.weights, checkpoint)
    return net.to(device).eval(), ckpt


def _predict(net: HandPoseNet, loader: DataLoader, device: torch.device, xy_from: str, show: bool) -> dict[str, np.ndarray]:
    """Decoded predictions and ground truth of every test sample (crop camera frame, mm)."""
    collected: dict[str, list[np.ndarray]] = {"relative": [], "camera": [], "gt": [], "visible": []}
    size = net.config.input_size
    with torch.inference_mode():
        for batch in tqdm(loader, desc="evaluating", unit="batch", disable=not show):
            output = net(batch["image"].to(device), batch["hand_side"].to(device))
            output.heatmaps, output.coords = output.heatmaps.cpu(), output.coords.cpu()
            if output.rotation is not None:
                output.rotation = output.rotation.cpu()
            decoded = decode(output, batch["hand_side"], batch["xyz_mm"].double(), batch["K"].double(), size, xy_from)
            collected["relative"].append(decoded.relative_mm.numpy())
            collected["camera"].append(decoded.camera_mm.numpy())
            collected["gt"].append(batch["xyz_mm"].double().numpy())
            collected["visible"].append(batch["visible"].numpy())
    return {name: np.concatenate(parts) for name, parts in collected.items()}


def evaluate(checkpoint: str | Path, layout: str, root: str | Path, split: str = "test", camera: str = "sk",
             batch_size: int = 32, xy_from: str | None = None, device: str = "auto", workers: int = 0,
             show_progress: bool = True) -> dict[str, Any]:
    """Score `checkpoint` on a test set; returns the eval JSON (see contracts: dataset, count, protocols...)."""
    from handdg.data import open_dataset

    check_int("batch_size", batch_size, 1)
    check_int("workers", workers, 0)
    chosen = pick_device(device)
    net, ckpt = load_model(checkpoint, chosen)
    dataset = open_dataset(root, layout, split, camera)
    spec = crop_spec(ckpt.config, net.config)
    loader = DataLoader(HandCrops(dataset, spec), batch_size=batch_size, shuffle=False, num_workers=workers)
    xy_from = xy_from or DEFAULT_XY_FROM[layout]
    found = _predict(net, loader, chosen, xy_from, show_progress)
    stb = layout == "stb"
    return {
        "dataset": layout,
        "split": dataset.split,
        "camera": camera if stb else None,
        "count": len(dataset),
        "checkpoint": str(checkpoint),
        "step": ckpt.step,
        "root": spec.root,
        "xy_from": xy_from if ckpt.config.pose_target == "2.5d" else "regression",
        "run_config": ckpt.config.to_dict(),
        "protocols": {
            "hand3d": metrics.hand3d(found["relative"], found["gt"], found["visible"], stb_subset=stb),
            "official": metrics.official(found["camera"], found["gt"], stb_subset=stb),
        },
    }


def format_table(result: dict[str, Any]) -> str:
    """The headline numbers of an eval result as a small fixed-width table."""
    header = f"{result['dataset']} {result['split']} ({result['count']} samples, step {result['step']}, root {result['root']})"
    lines = [header, f"{'protocol':<10} {'EPE mean':>9} {'median':>8} {'AUC 0-50':>9} {'AUC 20-50':>10}"]
    for name, block in result["protocols"].items():
        subset = f"{block['auc_20_50']:.3f}" if "auc_20_50" in block else "-"
        lines.append(f"{name:<10} {block['epe_mean_mm']:>9.2f} {block['epe_median_mm']:>8.2f} "
                     f"{block['auc_0_50']:>9.3f} {subset:>10}")
    return "\n".join(lines)
