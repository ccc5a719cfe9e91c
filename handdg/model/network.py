"""The paper's hand pose network: CPM heatmap net, PosePrior + ViewPoint, and Branch2.

Layer for layer as the official code (docs/official-code.md#the-network): a VGG trunk and three CPM
stages give 21 heatmaps at 1/8 of the input; PosePrior regresses 21x3 coordinates and
ViewPoint an axis-angle rotation from those heatmaps (H3D's lifting); Branch2 taps the trunk
after pool3 and, given a CLIP feature, produces the two contrastive embeddings e1', e2'
through one shared projection head. The official model's dead modules are left out.

The heatmap net's and Branch2's widths are divided by `ModelConfig.width_divisor` and the lifting
nets' by `lifting_divisor`, so the CPU presets run the same code.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from handdg import saved
from handdg.errors import HanddgError
from handdg.model.feature_stats import feature_stats_layer
from handdg.model.hand_frame import flip_right_hand, rodrigues, rotation_6d, rows_6d, side_onehot
from handdg.model.heatmaps import HeatmapCodec
from handdg.model.defaults import DEFAULTS, NETWORK_PRESETS, check

NUM_JOINTS = 21
LEAK = 0.01  # leaky ReLU slope of H3D / the official code (PyTorch's default)

Target = Literal["canonical", "2.5d"]
Fusion = Literal["concat", "sum"]
Norm = Literal["batch", "none"]
Rotation = Literal["6d", "axis-angle"]
SideInput = Literal["given", "official"]

PRESETS = NETWORK_PRESETS
"""--preset's network sizes (handdg.model.defaults)."""
_DEFAULT_SIZE = PRESETS[DEFAULTS["preset"]]


@dataclass(frozen=True)
class ModelConfig:
    """Everything that shapes the network; stored in a run's config.json and checkpoints.

    `target` picks what `coords` means: "canonical" (H3D: canonical pose, with the rotation
    returned separately) or "2.5d" (the released checkpoint's normalised crop u, v, depth,
    read from the rotated PosePrior/ViewPoint output as the official model does).
    `fusion` is how Branch2 joins the CLIP feature: "concat" (paper) or "sum" (Table 4b).
    `norm` "batch" puts a BatchNorm after every hidden conv of the heatmap net (the 3 score
    layers stay linear); "none" is the official network layer for layer, which from scratch
    needs far more steps to localise joints (docs/training.md, "The recipe").
    `rotation` is what ViewPoint outputs: "axis-angle" (H3D, 3 numbers through Rodrigues) or "6d"
    (two vectors made orthonormal, Zhou et al. CVPR 2019), continuous over all rotations where
    axis-angle jumps at 180°, near which most views of a freely turning hand lie (docs/training.md, "The recipe").
    `lifting_divisor` narrows PosePrior / ViewPoint apart from `width_divisor` (1 in every preset).
    `side_input` "given" feeds the lifting nets each hand's side; "official" is the released model's
    forward (docs/official-code.md#the-network, "Hand side"): the constant side [1, 0] (H3D's "left", so no z
    flip) and x negated after the rotation, whatever the hand; only with the 2.5-D target, as the released
    checkpoint was trained.
    The defaults are the network `handdg train` builds by default (handdg.model.defaults: --preset, --fusion,
    --pose-target, --norm, --rotation; a CLIP of 512 dims), so `ModelConfig.from_preset(name)` is
    `handdg train --preset NAME`'s network.
    """

    input_size: int = _DEFAULT_SIZE["input_size"]
    width_divisor: int = _DEFAULT_SIZE["width_divisor"]
    clip_dim: int = 512
    fusion: Fusion = DEFAULTS["fusion"]
    target: Target = DEFAULTS["pose_target"]
    rotation_eps: float = 1e-8
    norm: Norm = DEFAULTS["norm"]
    rotation: Rotation = DEFAULTS["rotation"]
    lifting_divisor: int = _DEFAULT_SIZE["lifting_divisor"]
    side_input: SideInput = "given"
    feature_stats: str = "none"

    def __post_init__(self) -> None:
        if self.input_size < 32 or self.input_size % 8:
            raise HanddgError(f"model input size {self.input_size} is not a multiple of 8 of at least 32: "
                              "choose e.g. 64, 128 or 256")
        for name in ("width_divisor", "lifting_divisor"):
            divisor = getattr(self, name)
            if divisor < 1 or 64 % divisor:
                raise HanddgError(f"model {name.replace('_', ' ')} {divisor} does not divide 64: use 1, 2, 4, 8, 16 or 32")
        if self.clip_dim < 1:
            raise HanddgError(f"CLIP feature size {self.clip_dim} must be positive: use the store's embed_dim")
        for name, option in (("fusion", "fusion"), ("target", "pose_target"), ("norm", "norm"), ("rotation", "rotation"),
                             ("feature_stats", "feature_stats")):
            check(option, getattr(self, name))  # the message names the training option (--pose-target)
        if self.side_input not in ("given", "official"):
            raise HanddgError(f"unknown hand-side input {self.side_input!r}: use 'given' or 'official'")
        if self.side_input == "official" and self.target != "2.5d":
            raise HanddgError("the official hand-side input (constant [1, 0], x negated) belongs to the 2.5-D target")

    @classmethod
    def from_preset(cls, name: str, **overrides: object) -> "ModelConfig":
        """A preset ("paper", "small", "tiny") with any field overridden."""
        return cls(**{**PRESETS[check("preset", name)], **overrides})

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        """Inverse of `to_dict` (e.g. from a checkpoint); unknown fields are a user error, missing ones were
        not there yet and mean what the network then was (handdg.saved)."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise HanddgError(f"unknown model field(s) {', '.join(unknown)} in the checkpoint's config "
                              "(written by another handdg version?)")
        return cls(**saved.network_fields(data))

    def to_dict(self) -> dict:
        """Plain JSON-able dict of the fields."""
        return asdict(self)

    def width(self, channels: int) -> int:
        """A published layer width of the heatmap net and Branch2 scaled by this config's divisor."""
        return channels // self.width_divisor

    def lifting_width(self, channels: int) -> int:
        """A published layer width of PosePrior / ViewPoint scaled by the lifting divisor."""
        return channels // self.lifting_divisor

    @property
    def heatmap_size(self) -> int:
        """Side of the predicted heatmaps (1/8 of the input, 32 for the paper)."""
        return self.input_size // 8


@dataclass
class ModelOutput:
    """What `HandPoseNet.forward` returns.

    heatmaps: (B,21,h,w) at the net's native resolution (input/8), not upsampled: the last CPM stage.
    coords: (B,21,3), canonical coordinates or normalised 2.5-D crop coordinates (per target).
    rotation: (B,3,3) row-vector rotation (xyz = coords @ rotation) for "canonical", else None.
    e1p, e2p: (B, proj_dim) projected Branch2 embeddings, None when no CLIP feature was given.
    stages: every CPM stage's maps, first to last (the last is `heatmaps`), for intermediate supervision.
    gt_coords, gt_rotation: the lifting nets' output from the ground-truth maps, when those were passed.
    rotation_rows, gt_rotation_rows: (B,6) the 6-D form's two vectors before Gram-Schmidt (None for
    axis-angle); the loss pulls them onto R's first two rows, which keeps their norm from growing.
    """

    heatmaps: torch.Tensor
    coords: torch.Tensor
    rotation: torch.Tensor | None
    e1p: torch.Tensor | None = None
    e2p: torch.Tensor | None = None
    stages: tuple[torch.Tensor, ...] = ()
    gt_coords: torch.Tensor | None = None
    gt_rotation: torch.Tensor | None = None
    rotation_rows: torch.Tensor | None = None
    gt_rotation_rows: torch.Tensor | None = None


def _conv(c_in: int, c_out: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, k, padding=k // 2)


def _hidden(c_in: int, c_out: int, k: int, norm: Norm) -> nn.Module:
    """A hidden conv of the heatmap net, followed by BatchNorm when `norm` is "batch"."""
    conv = _conv(c_in, c_out, k)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out)) if norm == "batch" else conv


class SameConv2d(nn.Conv2d):
    """A conv padded like TensorFlow's "SAME": 3x3 stride 2 on even sizes pads 0 before, 1 after;
    stride 1 pads 1/1 (so it also stands for the official ViewPoint's stride-1 TFConv2D)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        pads: list[int] = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _leaky_stack(layers: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        x = F.leaky_relu(layer(x), LEAK)
    return x


class HeatmapNet(nn.Module):
    """VGG trunk + three CPM stages (H3D's PoseNet); returns the pool3 feature and every stage's maps."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w, norm = cfg.width, cfg.norm
        trunk: list[nn.Module] = []
        self.block_ends: list[int] = []  # max-pool after these trunk layers
        c = 3
        for n, ch in [(2, 64), (2, 128), (4, 256)]:
            for _ in range(n):
                trunk.append(_hidden(c, w(ch), 3, norm))
                c = w(ch)
            self.block_ends.append(len(trunk) - 1)
        self.trunk = nn.ModuleList(trunk)
        self.feature_stats = nn.ModuleList([feature_stats_layer(cfg.feature_stats) for _ in range(2)])
        chans = [w(512), w(512), w(256), w(256), w(256), w(256), w(128)]
        conv4: list[nn.Module] = []
        for ch in chans:
            conv4.append(_hidden(c, ch, 3, norm))
            c = ch
        self.conv4 = nn.ModuleList(conv4)
        self.conv5_1 = _hidden(c, w(512), 1, norm)
        self.conv5_2 = _conv(w(512), NUM_JOINTS, 1)
        self.stages = nn.ModuleList([self._refine_stage(c, w(128), norm) for _ in range(2)])
        self.pool3_channels = w(256)

    @staticmethod
    def _refine_stage(enc: int, ch: int, norm: Norm) -> nn.ModuleList:
        layers = [_hidden(NUM_JOINTS + enc, ch, 7, norm)] + [_hidden(ch, ch, 7, norm) for _ in range(4)]
        return nn.ModuleList(layers + [_hidden(ch, ch, 1, norm), _conv(ch, NUM_JOINTS, 1)])

    def score_layers(self) -> list[nn.Conv2d]:
        """The linear 1x1 convs that output each stage's 21 maps."""
        return [self.conv5_2] + [stage[-1] for stage in self.stages]

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(B,3,S,S) images in [0,1] -> (pool3 feature (B,C,S/8,S/8), the 3 stages' maps (B,21,S/8,S/8))."""
        x = images
        for i, layer in enumerate(self.trunk):
            x = F.leaky_relu(layer(x), LEAK)
            if i in self.block_ends:
                x = F.max_pool2d(x, 2, 2)
                block = self.block_ends.index(i)
                if block < len(self.feature_stats):
                    x = self.feature_stats[block](x)
        pool3 = x
        encoding = _leaky_stack(list(self.conv4), pool3)
        stages = [self.conv5_2(F.leaky_relu(self.conv5_1(encoding), LEAK))]
        for stage in self.stages:
            y = _leaky_stack(list(stage[:-1]), torch.cat([stages[-1], encoding], dim=1))
            stages.append(stage[-1](y))
        return pool3, stages


class _LiftingNet(nn.Module):
    """Six 3x3 convs (every second one stride 2, TF-SAME), NHWC flatten, hand side appended, FCs."""

    def __init__(self, cfg: ModelConfig, convs: list[int], fcs: list[int], out: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = NUM_JOINTS
        for i, ch in enumerate(convs):
            stride = 2 if i % 2 else 1
            layers.append(SameConv2d(c, ch, 3, stride))
            c = ch
        self.convs = nn.ModuleList(layers)
        side = cfg.heatmap_size
        for _ in range(3):
            side = math.ceil(side / 2)
        f = side * side * c + 2
        fc_layers: list[nn.Module] = []
        for ch in fcs:
            fc_layers.append(nn.Linear(f, ch))
            f = ch
        self.fcs = nn.ModuleList(fc_layers)
        self.out = nn.Linear(f, out)

    def forward(self, heatmaps: torch.Tensor, side_onehot: torch.Tensor) -> torch.Tensor:
        """(B,21,h,w) heatmaps and (B,2) hand-side one-hot -> (B, out)."""
        x = _leaky_stack(list(self.convs), heatmaps)
        x = torch.cat([x.permute(0, 2, 3, 1).flatten(1), side_onehot], dim=1)
        return self.out(_leaky_stack(list(self.fcs), x))


class PosePrior(_LiftingNet):
    """Heatmaps -> 21x3 coordinates (H3D's canonical-pose stream)."""

    def __init__(self, cfg: ModelConfig) -> None:
        w = cfg.lifting_width
        super().__init__(cfg, [w(32), w(32), w(64), w(64), w(128), w(128)], [w(512), w(512)],
                         NUM_JOINTS * 3)


class ViewPoint(_LiftingNet):
    """Heatmaps -> axis-angle (ux, uy, uz), the three official 128->1 heads as one 128->3 layer;
    or -> a 6-D rotation (two 3-vectors) when `cfg.rotation` is "6d"."""

    def __init__(self, cfg: ModelConfig) -> None:
        w = cfg.lifting_width
        out = 6 if cfg.rotation == "6d" else 3
        super().__init__(cfg, [w(64), w(64), w(128), w(128), w(256), w(256)], [w(256), w(128)], out)


class Branch2(nn.Module):
    """ConvBlock (two 1x1 stride-2 convs + global max-pool, linear as in the official code) -> e1, e2."""

    def __init__(self, cfg: ModelConfig, in_channels: int) -> None:
        super().__init__()
        w = cfg.width
        self.fusion = cfg.fusion
        self.conv1 = nn.Conv2d(in_channels, w(512), 1, stride=2)
        self.conv2 = nn.Conv2d(w(512), w(1024), 1, stride=2)
        self.fc1 = nn.Linear(w(1024), w(512))
        if cfg.fusion == "concat":
            self.fc2 = nn.Linear(w(1024) + cfg.clip_dim, w(512))
        else:
            self.clip_proj = nn.Linear(cfg.clip_dim, w(1024))
            self.fc2 = nn.Linear(w(1024), w(512))

    def forward(self, pool3: torch.Tensor, clip_feature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pool3 (B,C,h,w) and CLIP feature (B,clip_dim) -> (e1, e2), each (B, 512/divisor)."""
        feat = self.conv2(self.conv1(pool3)).amax(dim=(2, 3))
        clip_feature = clip_feature.to(feat.dtype)
        if self.fusion == "concat":
            fused = torch.cat([feat, clip_feature], dim=1)
        else:
            fused = feat + self.clip_proj(clip_feature)
        return self.fc1(feat), self.fc2(fused)


class ProjectionHead(nn.Module):
    """PeCLR's head shared by e1 and e2: Linear -> BatchNorm1d -> ReLU -> Linear (no bias)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        w = cfg.width
        self.net = nn.Sequential(nn.Linear(w(512), w(512)), nn.BatchNorm1d(w(512)), nn.ReLU(),
                                 nn.Linear(w(512), w(128), bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.net(x)


class HandPoseNet(nn.Module):
    """The whole network; Branch2 and the head run only when a CLIP feature is passed."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.heatmap_net = HeatmapNet(cfg)
        self.pose_prior = PosePrior(cfg)
        self.view_point = ViewPoint(cfg)
        self.branch2 = Branch2(cfg, self.heatmap_net.pool3_channels)
        self.projection = ProjectionHead(cfg)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Official init (docs/official-code.md#the-network, "Initialisation"): convs Kaiming-normal with zero
        bias, Linear/BatchNorm PyTorch defaults; except the linear score layers (conv5_2 and each stage's last
        1x1), which start at zero so the maps start flat: Kaiming puts noise of std ~1 on them that training
        would first have to unlearn."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                nn.init.zeros_(m.bias)
        for score in self.heatmap_net.score_layers():
            nn.init.zeros_(score.weight)

    def lift(self, heatmaps: torch.Tensor, hand_side: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """H3D's lifting: (B,21,h,w) maps and (B,) right-hand flags -> canonical coords (B,21,3), rotation (B,3,3)."""
        coords, rotation, _ = self.lift_with_rows(heatmaps, hand_side)
        return coords, rotation

    def lift_with_rows(self, heatmaps: torch.Tensor, hand_side: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """`lift`, plus the 6-D form's two vectors before Gram-Schmidt (None for axis-angle)."""
        onehot = side_onehot(hand_side, heatmaps.dtype)
        coords = self.pose_prior(heatmaps, onehot).view(-1, NUM_JOINTS, 3)
        view = self.view_point(heatmaps, onehot)
        if self.config.rotation == "6d":
            return coords, rotation_6d(view), rows_6d(view)
        return coords, rodrigues(view, self.config.rotation_eps), None

    def _pose(self, heatmaps: torch.Tensor, hand_side: torch.Tensor) -> tuple:
        """Lift maps to the configured target: (canonical coords, rotation, 6-D rows) or (2.5-D coords, None, None)."""
        official = self.config.side_input == "official"
        if official:
            hand_side = torch.zeros_like(hand_side)
        coords, rotation, rows = self.lift_with_rows(heatmaps, hand_side)
        if self.config.target == "2.5d":
            coords = flip_right_hand(coords, hand_side) @ rotation
            if official:
                coords = coords * coords.new_tensor([-1.0, 1.0, 1.0])
            return coords, None, None
        return coords, rotation, rows

    def _lift_both(self, maps: torch.Tensor, gt_heatmaps: torch.Tensor | None, hand_side: torch.Tensor) -> tuple:
        """Lift the predicted maps and, when given, the GT maps (resampled to the net's map size) in one
        batch: the lifting nets have no batch statistics, so this equals two calls, in less time.
        Returns (coords, rotation, rows) of the predicted maps, then of the GT maps (Nones when not given)."""
        if gt_heatmaps is None:
            return *self._pose(maps, hand_side), None, None, None
        gt_maps = HeatmapCodec.resize(gt_heatmaps.to(maps.dtype), maps.shape[-2:])
        both = self._pose(torch.cat([maps, gt_maps]), torch.cat([hand_side, hand_side]))
        n = len(maps)
        return (*(t if t is None else t[:n] for t in both), *(t if t is None else t[n:] for t in both))

    def forward(self, images: torch.Tensor, hand_side: torch.Tensor,
                clip_feature: torch.Tensor | None = None, lift_detached: bool = False,
                gt_heatmaps: torch.Tensor | None = None) -> ModelOutput:
        """images (B,3,S,S) RGB in [0,1]; hand_side (B,) with 1 = right hand, 0 = left;
        clip_feature (B, clip_dim) or None (then Branch2 is skipped, as at test time);
        lift_detached stops L_pose's gradient at the heatmaps (hand3d trains the two nets apart);
        gt_heatmaps (B,21,H,W), when given, are resampled to the net's map size and lifted too
        (hand3d trains the lifting nets on ground-truth maps)."""
        pool3, stages = self.heatmap_net(images)
        heatmaps = stages[-1]
        coords, rotation, rows, gt_coords, gt_rotation, gt_rows = self._lift_both(
            heatmaps.detach() if lift_detached else heatmaps, gt_heatmaps, hand_side)
        e1p = e2p = None
        if clip_feature is not None:
            e1, e2 = self.branch2(pool3, clip_feature)
            e1p, e2p = self.projection(torch.cat([e1, e2], dim=0)).chunk(2, dim=0)
        return ModelOutput(heatmaps=heatmaps, coords=coords, rotation=rotation, e1p=e1p, e2p=e2p,
                           stages=tuple(stages), gt_coords=gt_coords, gt_rotation=gt_rotation,
                           rotation_rows=rows, gt_rotation_rows=gt_rows)


def parameter_counts(model: HandPoseNet) -> dict[str, int]:
    """Trainable parameters per part (heatmap_net, pose_prior, view_point, branch2, projection) and total."""
    parts = {name: sum(p.numel() for p in module.parameters()) for name, module in model.named_children()}
    parts["total"] = sum(parts.values())
    return parts
