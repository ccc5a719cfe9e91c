"""The authors' released checkpoint (`snapshot_45.pth.tar`) as a handdg checkpoint.

The official file is a torch pickle `{'network': state_dict, ...}` saved from the DDP-wrapped
official `Model`: `module.pose_model.{posenet,poseprior,viewpoint,handsegnet}.*` and
`module.clip_model.*`, plus modules its forward never uses (docs/official-code.md#the-network). Every
tensor the forward uses maps one to one onto handdg's `paper` network (the three 128->1 ViewPoint
heads become one 128->3 layer); CLIP, HandSegNet and the dead modules are dropped and counted.
The file is read with `weights_only=True`: a .pth.tar can run code when unpickled, so a file
that needs more than tensors and containers is refused, never loaded another way.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from handdg.errors import HanddgError
from handdg.files import sha256
from handdg.load_errors import load_failure
from handdg.model.network import HandPoseNet, ModelConfig
from handdg.run import runs
from handdg.run.config import AUGMENT_PRESETS, TrainConfig

OFFICIAL_MODEL = ModelConfig(input_size=256, width_divisor=1, clip_dim=512, fusion="concat", target="2.5d",
                             rotation_eps=0.0, norm="none", rotation="axis-angle", lifting_divisor=1,
                             side_input="official")
"""The released forward: 256 px input in [0, 1] without mean/std, no BatchNorm, axis-angle ViewPoint
through Rodrigues without an epsilon, the 2.5-D output, constant hand side [1, 0] and x negated."""

DEAD_MODULES = ("dconv1", "dconv2", "dconv3", "dconv4", "dconv5", "bn1", "bn2", "bn3", "bn4", "bn5", "cconv6",
                "norm1", "norm2", "norm3", "proj_linear1", "proj_linear2", "proj_linear3", "ablation_add_fc1")
"""PoseNet modules the official forward never calls (docs/official-code.md#the-network, "Dead modules")."""

_VIEW_HEADS = ("viewpoint.fc_vp_ux", "viewpoint.fc_vp_uy", "viewpoint.fc_vp_uz")


def official_train_config(steps: int) -> TrainConfig:
    """What is known of how the released model was trained, as a handdg training config
    (docs/official-code.md#training-targets-and-augmentation).

    2.5-D target, last-stage heatmap loss, Eq. 4 as printed, Adam at a constant 1e-4, the official
    augmentation, the config's image weight 0.8; heatmaps of σ 10/√2 px at 256 are recorded at
    handdg's 32-pixel GT size. Crops from ground-truth joints (no boxes) use twice the joints' extent,
    about what the official test boxes give (docs/official-code.md#test-sets-and-boxes).
    """
    return TrainConfig(data="", preset="paper", norm="none", rotation="axis-angle", branch2="ie+te", ratio=0.8,
                       contrastive="paper", heat_stages="last", heat_reduction="mean", gt_lifting=False,
                       pose_target="2.5d", root="wrist", heatmap_size=32, heatmap_sigma=10 / 2**0.5 / 8,
                       crop_scale=2.0, batch_size=32, steps=max(1, steps), lr=1e-4, lr_schedule="constant",
                       augment=AUGMENT_PRESETS["official"], clip_mode="online")


def official_names() -> dict[str, str]:
    """handdg `paper` state-dict name -> official name (after `module.pose_model.`), except ViewPoint's head."""
    pairs: list[tuple[str, str]] = []
    trunk = ["1_1", "1_2", "2_1", "2_2", "3_1", "3_2", "3_3", "3_4"]
    pairs += [(f"heatmap_net.trunk.{i}", f"posenet.conv{name}") for i, name in enumerate(trunk)]
    pairs += [(f"heatmap_net.conv4.{i}", f"posenet.conv4_{i + 1}") for i in range(7)]
    pairs += [("heatmap_net.conv5_1", "posenet.conv5_1"), ("heatmap_net.conv5_2", "posenet.conv5_2")]
    pairs += [(f"heatmap_net.stages.{s}.{j}", f"posenet.conv{6 + s}_{j + 1}") for s in range(2) for j in range(7)]
    pairs += [(f"pose_prior.convs.{i}", f"poseprior.conv_pose_{i // 2}_{i % 2 + 1}") for i in range(6)]
    pairs += [("pose_prior.fcs.0", "poseprior.fc_rel0"), ("pose_prior.fcs.1", "poseprior.fc_rel1"),
              ("pose_prior.out", "poseprior.fc_xyz")]
    pairs += [(f"view_point.convs.{i}", f"viewpoint.conv_vp_{i // 2}_{i % 2 + 1}") for i in range(6)]
    pairs += [("view_point.fcs.0", "viewpoint.fc_vp0"), ("view_point.fcs.1", "viewpoint.fc_vp1")]
    pairs += [("branch2.conv1", "posenet.cat_cnn1"), ("branch2.conv2", "posenet.cat_cnn2"),
              ("branch2.fc1", "posenet.cat_fc1"), ("branch2.fc2", "posenet.cat_fc2")]
    pairs += [(f"projection.net.{i}", f"posenet.projection_head.{i}") for i in (0, 1, 3)]
    names: dict[str, str] = {}
    for key in HandPoseNet(OFFICIAL_MODEL).state_dict():
        if key.startswith("view_point.out."):
            continue
        module, _, tensor = key.rpartition(".")
        official = next((theirs for mine, theirs in pairs if mine == module), None)
        if official is None:
            raise AssertionError(f"no official name for {key}")  # a bug: the table above misses a layer
        names[key] = f"{official}.{tensor}"
    return names


@dataclass
class Imported:
    """A converted checkpoint: handdg weights and what was dropped (per group: tensors, parameters)."""

    weights: dict[str, torch.Tensor]
    used: int
    dropped: dict[str, tuple[int, int]] = field(default_factory=dict)
    epoch: int | None = None


def read_official(path: str | Path) -> tuple[dict[str, torch.Tensor], int | None]:
    """The state dict (and epoch) of an official checkpoint, read with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise HanddgError(f"official checkpoint not found: {path} (the authors' snapshot_45.pth.tar)")
    try:
        with warnings.catch_warnings():  # torch warns of pickle protocols it did not write; the file decides
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise HanddgError(f"{path} holds more than tensors ({load_failure(exc)}); handdg reads weights only: "
                          "re-save its state dict from a trusted session") from None
    except Exception as exc:  # noqa: BLE001 - torch reports corrupt files as RuntimeError, EOFError, zip errors...
        raise HanddgError(f"cannot read {path} as a torch checkpoint ({load_failure(exc)}): give the authors' "
                          "snapshot_45.pth.tar") from None
    if not isinstance(payload, dict):
        raise HanddgError(f"{path} holds a {type(payload).__name__}, not a checkpoint dict with a 'network' state dict")
    state = payload.get("network", payload)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise HanddgError(f"{path} has no 'network' state dict of tensors: not an official checkpoint")
    epoch = payload.get("epoch")
    return dict(state), epoch if isinstance(epoch, int) else None


def _group(name: str) -> str:
    """Which part of the official model a (prefix-stripped) tensor belongs to."""
    if name.startswith("clip_model."):
        return "CLIP"
    if name.startswith("pose_model.handsegnet."):
        return "HandSegNet"
    parts = name.split(".")
    if len(parts) > 2 and parts[1] == "posenet" and parts[2] in DEAD_MODULES:
        return "unused modules"
    return "used" if name.startswith("pose_model.") else "unknown"


def convert(state: dict[str, torch.Tensor], source: str = "checkpoint") -> Imported:
    """Map an official state dict onto the paper network, strictly: every used tensor present, of the right
    shape, and no pose-model tensor left unexplained."""
    stripped = {name.removeprefix("module."): t for name, t in state.items()}
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for name, tensor in stripped.items():
        groups.setdefault(_group(name), {})[name] = tensor
    if groups.get("unknown"):
        first = sorted(groups["unknown"])[0]
        raise HanddgError(f"{source}: tensor {first} is not part of the official Model (pose_model / clip_model): "
                          "not the released checkpoint")
    used = {name.removeprefix("pose_model."): t for name, t in groups.get("used", {}).items()}
    target = HandPoseNet(OFFICIAL_MODEL).state_dict()
    weights: dict[str, torch.Tensor] = {}
    for mine, theirs in official_names().items():
        weights[mine] = _take(used, theirs, tuple(target[mine].shape), source)
    heads = [(_take(used, f"{h}.weight", (1, 128), source), _take(used, f"{h}.bias", (1,), source)) for h in _VIEW_HEADS]
    weights["view_point.out.weight"] = torch.cat([w for w, _ in heads])
    weights["view_point.out.bias"] = torch.cat([b for _, b in heads])
    taken = set(official_names().values()) | {f"{h}.{t}" for h in _VIEW_HEADS for t in ("weight", "bias")}
    left = sorted(set(used) - taken)
    if left:
        raise HanddgError(f"{source}: tensor module.pose_model.{left[0]} belongs to the forward's modules but not to "
                          f"the released network ({len(left)} such tensors): another architecture, not importable")
    dropped = {group: (len(tensors), sum(t.numel() for t in tensors.values()))
               for group, tensors in sorted(groups.items()) if group != "used"}
    weights = {name: t.to(target[name].dtype) for name, t in weights.items()}
    return Imported(weights, sum(t.numel() for t in weights.values()), dropped)


def _take(state: dict[str, torch.Tensor], name: str, shape: tuple[int, ...], source: str) -> torch.Tensor:
    """One official tensor, present and of the shape handdg's paper network needs."""
    if name not in state:
        raise HanddgError(f"{source}: tensor module.pose_model.{name} is missing: not the released checkpoint "
                          "(or a truncated file)")
    tensor = state[name]
    if tuple(tensor.shape) != shape:
        raise HanddgError(f"{source}: tensor module.pose_model.{name} is {tuple(tensor.shape)}, the released network's "
                          f"is {shape}: another architecture, not importable")
    return tensor


def import_official(snapshot: str | Path, out: str | Path) -> tuple[Path, Imported]:
    """Convert `snapshot` into a handdg checkpoint at `out` (written atomically) and say what was dropped."""
    snapshot, out = Path(snapshot), Path(out)
    state, epoch = read_official(snapshot)
    imported = convert(state, str(snapshot))
    imported.epoch = epoch
    source: dict[str, Any] = {"kind": "official", "file": snapshot.name, "sha256": sha256(snapshot), "epoch": epoch,
                              "dropped": {g: {"tensors": n, "parameters": p} for g, (n, p) in imported.dropped.items()}}
    out.parent.mkdir(parents=True, exist_ok=True)
    runs.write_weights(out, 0, imported.weights, official_train_config(epoch or 1), OFFICIAL_MODEL.to_dict(),
                       source=source)
    return out, imported


def describe(imported: Imported) -> list[str]:
    """Terminal lines: what was kept and what was dropped."""
    lines = [f"kept {len(imported.weights)} tensors ({imported.used:,} parameters): the paper network with Branch2 "
             "and the projection head"]
    lines += [f"dropped {group}: {n} tensors ({p:,} parameters)" for group, (n, p) in imported.dropped.items()]
    return lines
