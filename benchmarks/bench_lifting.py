"""Where a hand3d-style network's 3D error comes from: the heatmaps, or the lifting from them?

Two measurements on synthetic FreiHAND (1,000 unique poses, seed 0, as bench_learning.py):

1. **Lifting ceiling.** PosePrior + ViewPoint alone, trained on *ground-truth* heatmaps at a
   preset's map size (input / 8; σ scaled from the 2 px at 32² the training loss uses), for each
   ViewPoint rotation form (`axis-angle`, H3D's; `6d`, continuous), with the loss training gives them
   (λ2·L_pose of handdg.model.losses, the 6-D form's vector term included). Scored on the evaluation split
   as `handdg eval`'s hand3d protocol does (root-relative, scaled by the GT bone): the EPE a
   network whose heatmaps were perfect would reach, and the rotation error in degrees.
2. **A trained run's error, taken apart** (`--run DIR`, e.g. a bench_learning run): its EPE as
   is, with the GT rotation in place of the predicted one (what the pose shape costs) and with the
   GT canonical pose in place of the predicted one (what the rotation costs), the rotation error,
   the 2D error of the heatmap maxima in crop pixels, its own lifting nets' EPE and rotation
   error on the GT maps (what its heatmaps cost), and the mean length of ViewPoint's raw output
   (the 6-D form's grew without bound before recipe 4).

Claims (report): lifting-ceiling EPE / constant-pose EPE per map size and rotation form.

Usage: python benchmarks/bench_lifting.py [--quick] [--sizes 64,128] [--rotations axis-angle,6d]
       [--steps 1500] [--run DIR ...] [--work DIR]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harness import Claim, parse_args, print_table, write_result

SIGMA_AT_32 = 2.0
BATCH = 32


def _extra(ap) -> None:
    ap.add_argument("--sizes", default="64,128", help="network input sizes (maps are input / 8)")
    ap.add_argument("--rotations", default="axis-angle,6d", help="ViewPoint rotation forms")
    ap.add_argument("--steps", type=int, default=1500, help="optimiser steps of the lifting nets")
    ap.add_argument("--run", type=Path, action="append", default=[], help="trained run folder(s) to take apart")
    ap.add_argument("--work", type=Path, default=Path("/tmp/handdg-bench-learning"), help="where the dataset lives")


def _gt_map_spec(size: int):
    """Crops of `size` px with GT maps at the network's own map size (size / 8), σ scaled from 2 px at 32²."""
    from handdg.inputs.batches import CropSpec
    from handdg.run.config import TrainConfig

    maps = size // 8
    return CropSpec(input_size=size, heatmap_size=maps, heatmap_sigma=SIGMA_AT_32 * maps / 32,
                    crop_scale=TrainConfig().crop_scale)


def _crops(root: Path, split: str, spec) -> dict[str, torch.Tensor]:
    """Every un-augmented crop of a split as one batch (images, GT maps, 2D and 3D joints, hand side)."""
    from torch.utils.data import default_collate

    from handdg.data import open_dataset
    from handdg.inputs.batches import HandCrops

    crops = HandCrops(open_dataset(root, "freihand", split), spec)
    return default_collate([crops[i] for i in range(len(crops))])


def _errors(coords: torch.Tensor, rotation: torch.Tensor, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """hand3d EPE (mm) of canonical coords + rotation, and the mean rotation error (degrees)."""
    from handdg.data.transforms import bone_length
    from handdg.model.targets import canonical_target, canonical_to_relative

    gt = batch["xyz_mm"].double()
    target = canonical_target(gt, batch["hand_side"])
    relative = canonical_to_relative(coords.double(), rotation.double(), batch["hand_side"])
    relative = relative * bone_length(gt)[:, None, None]
    relative_rotation = rotation.double().transpose(1, 2) @ target.rotation
    cosine = ((relative_rotation.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)
    return {"epe_mm": float((relative - (gt - gt[:, :1])).norm(dim=-1).mean()),
            "rotation_deg": float(torch.rad2deg(torch.acos(cosine)).mean())}


def lifting_ceiling(root: Path, size: int, rotation: str, steps: int, seed: int = 0) -> dict[str, float]:
    """Train PosePrior + ViewPoint on GT maps of the training split with training's own λ2·L_pose
    (handdg.model.losses.pose_loss: coordinate and rotation MSE, and the 6-D vectors' term); errors on both splits."""
    from handdg.model.losses import LossConfig, pose_loss
    from handdg.model.network import HandPoseNet, ModelConfig, ModelOutput
    from handdg.model.targets import canonical_target

    torch.manual_seed(seed)
    train, val = _crops(root, "training", _gt_map_spec(size)), _crops(root, "evaluation", _gt_map_spec(size))
    net = HandPoseNet(ModelConfig.from_preset("tiny", input_size=size, rotation=rotation))  # the presets' lifting widths
    lifting = torch.nn.ModuleList([net.pose_prior, net.view_point])
    optimiser = torch.optim.Adam(lifting.parameters(), 1e-3)
    target = canonical_target(train["xyz_mm"], train["hand_side"])
    coords, rotations = target.coords.float(), target.rotation.float()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        pick = torch.randint(0, len(coords), (BATCH,), generator=generator)
        maps = train["heatmaps"][pick]
        lifted, rotation_out, rows = net.lift_with_rows(maps, train["hand_side"][pick])
        output = ModelOutput(heatmaps=maps, coords=lifted, rotation=rotation_out, rotation_rows=rows)
        loss = LossConfig().pose * pose_loss(output, coords[pick], rotations[pick])  # training's λ2·L_pose
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        scored = {name: _errors(*net.lift(batch["heatmaps"], batch["hand_side"]), batch)
                  for name, batch in (("train", train), ("val", val))}
    return {"train_epe_mm": scored["train"]["epe_mm"], "val_epe_mm": scored["val"]["epe_mm"],
            "val_rotation_deg": scored["val"]["rotation_deg"], "count": len(val["xyz_mm"])}


def take_apart(run: Path, root: Path) -> dict[str, float]:
    """A trained run's val EPE as is, with the GT rotation, with the GT canonical pose, and of its own lifting
    nets on the GT maps (resampled to its map size, as `--gt-lifting` trains them); rotation and 2D error."""
    from handdg.evaluation.evaluate import load_model
    from handdg.inputs.batches import CropSpec
    from handdg.model.hand_frame import side_onehot
    from handdg.model.heatmaps import HeatmapCodec
    from handdg.model.targets import canonical_target

    net, ckpt = load_model(run / "last.safetensors", torch.device("cpu"))
    batch = _crops(root, "evaluation", CropSpec.for_run(ckpt.config, net.config))
    with torch.no_grad():
        out = net(batch["image"], batch["hand_side"], gt_heatmaps=batch["heatmaps"])
        view = net.view_point(out.heatmaps, side_onehot(batch["hand_side"], out.heatmaps.dtype))
    target = canonical_target(batch["xyz_mm"], batch["hand_side"])
    full = _errors(out.coords, out.rotation, batch)
    on_gt_maps = _errors(out.gt_coords, out.gt_rotation, batch)
    uv, _ = HeatmapCodec(net.config.input_size).decode(out.heatmaps.double())
    return {"epe_mm": full["epe_mm"], "rotation_deg": full["rotation_deg"],
            "epe_gt_rotation_mm": _errors(out.coords, target.rotation, batch)["epe_mm"],
            "epe_gt_canonical_mm": _errors(target.coords, out.rotation, batch)["epe_mm"],
            "epe_gt_maps_mm": on_gt_maps["epe_mm"], "rotation_gt_maps_deg": on_gt_maps["rotation_deg"],
            "viewpoint_norm": float(view.norm(dim=1).mean()), "rotation": net.config.rotation,
            "px_2d_crop": float((uv - batch["uv"].double()).norm(dim=-1).mean()),
            "input_size": net.config.input_size}


def main() -> None:
    """Measure the lifting ceiling per map size and rotation form, take apart the given runs, write the JSON."""
    args = parse_args(__doc__.splitlines()[0], _extra)
    from handdg.data import open_dataset
    from handdg.evaluation.reference import constant_pose_scores, mean_pose
    from handdg.synth import make_dataset

    count = 12 if args.quick else 1000
    root = args.work / ("quick" if args.quick else "full") / f"freihand-{count}"
    if not root.is_dir():
        make_dataset(root, "freihand", count, seed=0, workers=2)
    steps = 5 if args.quick else args.steps
    val = _crops(root, "evaluation", _gt_map_spec(64))
    reference = mean_pose(open_dataset(root, "freihand", "training"), "wrist")
    constant = constant_pose_scores(reference, val["xyz_mm"].double().numpy(), None, False)["hand3d"]["epe_mean_mm"]
    rows, claims, details = [], [], {"steps": steps, "constant_hand3d_mm": constant, "ceiling": {}, "runs": {}}
    for size in [int(s) for s in args.sizes.split(",") if s]:
        for rotation in [r for r in args.rotations.split(",") if r]:
            found = lifting_ceiling(root, size, rotation, steps)
            details["ceiling"][f"{size}/{rotation}"] = found
            rows.append([f"{size // 8}²", rotation, found["train_epe_mm"], found["val_epe_mm"],
                         found["val_epe_mm"] / constant, found["val_rotation_deg"]])
            claims.append(Claim("L", f"lifting from GT {size // 8}² maps, {rotation}: val hand3d EPE / constant pose",
                                found["val_epe_mm"] / constant,
                                f"{found['val_epe_mm']:.1f} vs {constant:.1f} mm, rotation error "
                                f"{found['val_rotation_deg']:.0f}° ({steps} steps of {BATCH})"))
    print_table(f"lifting nets on ground-truth maps (constant pose {constant:.1f} mm)",
                ["maps", "rotation", "train EPE", "val EPE", "ratio", "rotation err °"], rows)
    parts = []
    for run in args.run:
        found = take_apart(run, root)
        details["runs"][str(run)] = found
        parts.append([run.name, found["epe_mm"], found["epe_gt_rotation_mm"], found["epe_gt_canonical_mm"],
                      found["rotation_deg"], found["px_2d_crop"], found["epe_gt_maps_mm"], found["rotation_gt_maps_deg"],
                      found["viewpoint_norm"]])
    if parts:
        print_table("trained runs taken apart (val, hand3d mm)",
                    ["run", "EPE", "with GT rotation", "with GT canonical", "rotation err °", "2D crop px",
                     "lifting GT maps", "its rotation err °", "ViewPoint out norm"], parts)
    write_result("lifting", args, claims, details)


if __name__ == "__main__":
    main()
