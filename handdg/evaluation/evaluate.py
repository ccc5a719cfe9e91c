"""Run a checkpoint over a test set and score it under both protocols (`hand3d` and `official`).

Test sets as the paper and hand3d used them: STB B1Counting + B1Random (SK camera by default,
BB selectable), RHD's evaluation split (dominant hand), FreiHAND's evaluation split (when its
ground truth is present). Crops come from the ground-truth 2D joints, as the official code's
stored boxes did, with the crop rule and joint-0 convention the model was trained with (a
palm-rooted test set is compared with a wrist-rooted model through hand3d's palm->wrist rule).
No CLIP is needed: Branch2 only shapes training.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from handdg.device.distributed import pick_device
from handdg.device.precision import Precision
from handdg.errors import HanddgError
from handdg.evaluation import metrics
from handdg.evaluation.reference import constant_pose_scores
from handdg.inputs.batches import CropSpec, HandCrops
from handdg.loading import default_workers, loader_options
from handdg.model.heatmaps import HeatmapCodec
from handdg.model.network import HandPoseNet, ModelConfig
from handdg.model.targets import Decoded, decode, decode_official
from handdg.options import check_int
from handdg.run import runs

DEFAULT_XY_FROM = {"stb": "heatmap", "rhd": "regression", "freihand": "regression"}
"""Where a 2.5-D model's x, y come from in the official protocol, as the official code read them."""
PAPER_TABLE3_MM = {"stb": 34.9, "rhd": 46.8}
"""The paper's Table 3 ("Ours", FreiHAND -> target), measured with the official protocol."""
DECODES = ("official", "handdg")
Decoder = Callable[[Any, dict], Decoded]


def load_model(checkpoint: str | Path, device: torch.device) -> tuple[HandPoseNet, runs.Checkpoint]:
    """The network of a checkpoint, in eval mode on `device`."""
    ckpt = runs.load_weights(checkpoint)
    net = HandPoseNet(ModelConfig.from_dict(ckpt.model))
    runs.load_into(net, ckpt.weights, checkpoint)
    return net.to(device).eval(), ckpt


def decoder(kind: str, layout: str, xy_from: str, size: int) -> Decoder:
    """(model output, batch) -> Decoded, as handdg decodes (`handdg.model.targets.decode`) or as the official
    test code did (`decode_official`)."""
    if kind == "official":
        return lambda out, batch: decode_official(out, batch["xyz_mm"].double(), batch["K"].double(), size, layout, xy_from)
    return lambda out, batch: decode(out, batch["hand_side"], batch["xyz_mm"].double(), batch["K"].double(), size,
                                     xy_from)


def _predict(net: HandPoseNet, loader: DataLoader, amp: Precision, decoded_by: Decoder, show: bool) -> dict[str, np.ndarray]:
    """Decoded predictions and ground truth of every test sample (crop camera frame, mm; 2D in original pixels)."""
    collected: dict[str, list[np.ndarray]] = {"relative": [], "camera": [], "gt": [], "visible": [],
                                              "uv": [], "gt_uv": []}
    codec = HeatmapCodec(net.config.input_size)
    with torch.inference_mode():
        for batch in tqdm(loader, desc="evaluating", unit="batch", disable=not show):
            inputs = amp.batch_to_device({"image": batch["image"], "hand_side": batch["hand_side"]})
            with amp.autocast():
                output = net(inputs["image"], inputs["hand_side"])
            output.heatmaps, output.coords = output.heatmaps.float().cpu(), output.coords.float().cpu()
            if output.rotation is not None:
                output.rotation = output.rotation.float().cpu()
            decoded = decoded_by(output, batch)
            zoom = batch["zoom"].double()[:, None, None]
            collected["relative"].append(decoded.relative_mm.numpy())
            collected["camera"].append(decoded.camera_mm.numpy())
            collected["gt"].append(batch["xyz_mm"].double().numpy())
            collected["visible"].append(batch["visible"].numpy())
            collected["uv"].append((codec.decode(output.heatmaps.double())[0] / zoom).numpy())
            collected["gt_uv"].append((batch["uv"].double() / zoom).numpy())
    return {name: np.concatenate(parts) for name, parts in collected.items()}


def score(net: HandPoseNet, crops: Dataset, layout: str, device: torch.device, xy_from: str,
          reference: dict | None, batch_size: int = 32, workers: int | None = 0, show_progress: bool = False,
          precision: str = "fp32", decode_as: str = "handdg") -> dict[str, Any]:
    """Every metric of `net` on un-augmented crops: both protocols, 2D error, the constant-pose
    reference with the skill ratio, and FreiHAND's own figures on FreiHAND data."""
    loader = DataLoader(crops, batch_size=batch_size, shuffle=False,
                        **loader_options(default_workers() if workers is None else workers, device))
    decoded_by = decoder(decode_as, layout, xy_from, net.config.input_size)
    found = _predict(net, loader, Precision.for_device(precision, device), decoded_by, show_progress)
    stb = layout == "stb"
    protocols = {"hand3d": metrics.hand3d(found["relative"], found["gt"], found["visible"], stb_subset=stb),
                 "official": metrics.official(found["camera"], found["gt"], stb_subset=stb)}
    result: dict[str, Any] = {"protocols": protocols,
                              "keypoints_2d": metrics.keypoints_2d(found["uv"], found["gt_uv"])}
    result["constant_pose"] = None
    if reference and reference.get("normed") is not None:
        constant = constant_pose_scores(reference, found["gt"], found["visible"], stb)
        result["constant_pose"] = {
            name: {"epe_mean_mm": block["epe_mean_mm"], "auc_0_50": block["auc_0_50"],
                   "skill_ratio": protocols[name]["epe_mean_mm"] / block["epe_mean_mm"] if block["epe_mean_mm"] else None}
            for name, block in constant.items()}
    if layout == "freihand":
        result["freihand"] = metrics.freihand(found["camera"], found["gt"])
    return result


def evaluate(checkpoint: str | Path, layout: str, root: str | Path, split: str = "test", camera: str = "sk",
             batch_size: int = 32, xy_from: str | None = None, device: str = "auto", workers: int | None = None,
             show_progress: bool = True, precision: str = "auto", boxes: str | Path | None = None,
             decode_as: str | None = None) -> dict[str, Any]:
    """Score `checkpoint` on a test set; returns the eval JSON (see contracts: dataset, count, protocols...).

    `boxes` (official .npy or JSON, handdg.data.boxes) replace the crops around the ground-truth joints;
    `decode_as` "official" decodes 2.5-D output as the official test code (its depth ranges, its
    order of back-projection, its box cut, RHD without the files it skips); the default is
    "official" for an imported official checkpoint and "handdg" otherwise.
    """
    from handdg.data import open_dataset
    from handdg.data.base import Selection
    from handdg.data.boxes import OFFICIAL_RHD_SKIPPED, sample_boxes

    check_int("batch_size", batch_size, 1)
    if workers is not None:
        check_int("workers", workers, 0)
    chosen = pick_device(device)
    net, ckpt = load_model(checkpoint, chosen)
    imported = bool(ckpt.source and ckpt.source.get("kind") == "official")
    decode_as = decode_as or ("official" if imported else "handdg")
    if decode_as not in DECODES:
        raise HanddgError(f"unknown decoding {decode_as!r}: use official or handdg")
    if decode_as == "official" and net.config.target != "2.5d":
        raise HanddgError(f"--decode official reads 2.5-D output, and {checkpoint} predicts the canonical pose: "
                          "use --decode handdg")
    amp = Precision.for_device(precision, chosen)
    amp.prepare(net)
    dataset = open_dataset(root, layout, split, camera)
    skipped: list[str] = []
    if decode_as == "official" and layout == "rhd":
        skipped = [i for i in dataset.ids if i in OFFICIAL_RHD_SKIPPED]
        dataset = Selection(dataset, [n for n, i in enumerate(dataset.ids) if i not in OFFICIAL_RHD_SKIPPED])
    spec = CropSpec.for_run(ckpt.config, net.config)
    spec = replace(spec, box_convention="official" if decode_as == "official" else "handdg")
    crop_boxes = sample_boxes(boxes, dataset) if boxes is not None else None
    xy_from = xy_from or DEFAULT_XY_FROM[layout]
    scores = score(net, HandCrops(dataset, spec, boxes=crop_boxes), layout, chosen, xy_from, ckpt.reference,
                   batch_size, workers, show_progress, precision=amp.name, decode_as=decode_as)
    return {
        "dataset": layout,
        "split": dataset.split,
        "camera": camera if layout == "stb" else None,
        "count": len(dataset),
        "checkpoint": str(checkpoint),
        "step": ckpt.step,
        "root": spec.root,
        "xy_from": xy_from if ckpt.config.pose_target == "2.5d" else "regression",
        "decode": decode_as,
        "boxes": str(boxes) if boxes is not None else None,
        "skipped": skipped,
        "source": ckpt.source,
        "paper_table3_mm": PAPER_TABLE3_MM.get(layout),
        "run_config": ckpt.config.to_dict(),
        "precision": amp.name,
        **scores,
    }


def format_table(result: dict[str, Any]) -> str:
    """The headline numbers of an eval result as a small fixed-width table."""
    header = f"{result['dataset']} {result['split']} ({result['count']} samples, step {result['step']}, root {result['root']})"
    constant = result.get("constant_pose") or {}
    lines = [header, f"{'protocol':<10} {'EPE mean':>9} {'median':>8} {'AUC 0-50':>9} {'AUC 20-50':>10} "
                     f"{'const. pose':>11} {'ratio':>6}"]
    for name, block in result["protocols"].items():
        subset = f"{block['auc_20_50']:.3f}" if "auc_20_50" in block else "-"
        ref = constant.get(name)
        ratio = f"{ref['skill_ratio']:.2f}" if ref and ref["skill_ratio"] is not None else "-"
        ref_text = f"{ref['epe_mean_mm']:>11.2f} {ratio:>6}" if ref else f"{'-':>11} {'-':>6}"
        lines.append(f"{name:<10} {block['epe_mean_mm']:>9.2f} {block['epe_median_mm']:>8.2f} "
                     f"{block['auc_0_50']:>9.3f} {subset:>10} {ref_text}")
    if "keypoints_2d" in result:
        k2 = result["keypoints_2d"]
        pck = ", ".join(f"{t:g} px {v:.2f}" for t, v in zip(k2["pck"]["thresholds_px"], k2["pck"]["values"]))
        lines.append(f"2D heatmap maxima: mean {k2['mean_px']:.2f} px, median {k2['median_px']:.2f} px; PCK {pck}")
    if "freihand" in result:
        fh = result["freihand"]
        lines.append(f"FreiHAND: EPE {fh['unaligned']['epe_mean_mm']:.2f} mm (AUC {fh['unaligned']['auc_0_50']:.3f}), "
                     f"PA-MPJPE {fh['aligned']['epe_mean_mm']:.2f} mm (AUC {fh['aligned']['auc_0_50']:.3f})")
    if result.get("paper_table3_mm") is not None:
        official = result["protocols"]["official"]["epe_mean_mm"]
        lines.append(f"paper Table 3 (official protocol): {result['paper_table3_mm']:.1f} mm; measured here: "
                     f"{official:.1f} mm ({result.get('decode', 'handdg')} decoding"
                     f"{', boxes ' + result['boxes'] if result.get('boxes') else ', crops from the GT joints'})")
    if not constant:
        why = "an imported model" if result.get("source") else "trained by an older handdg"
        lines.append(f"constant-pose reference: not recorded in this checkpoint ({why})")
    return "\n".join(lines)
