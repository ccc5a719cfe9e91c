"""The paper's training loss L = λ1·L_heat + λ2·L_pose + λ3·L_con (Eq. 1–4) and its negative mining.

Choices the paper leaves open (the official code has no loss: docs/official-code.md), made here and recorded in a run:
* L_heat is Eq. 2 as printed, a squared L2 norm: the sum of squared errors over the 21 maps
  (at the GT resolution) per sample, then a mean over the batch (`heat_reduction="sum"`). The
  per-pixel mean (`"mean"`) makes L_heat ~1/20,000 of L_pose, whose gradient then flows back
  through the heatmaps and turns them into a free code for the lifting nets: the maps collapse
  to zero and the network outputs a constant pose. Every CPM stage is supervised
  (`heat_stages="all"`, hand3d's intermediate supervision) or only the last (`"last"`).
* L_pose is Eq. 3's "standard MSE": the mean over the coordinates (and over R's entries).
* ‖·‖₁ is the L1 norm as printed: a sum over the embedding's dimensions, then a mean over the batch.
* The heatmap distance used to mine negatives is L2 over all 21×h×w values, computed on the
  ground-truth resolution (predictions are upsampled bilinearly when the sizes differ), and a
  sample is never its own negative.
* e_neg is taken from the e2' rows by default (`negative_from="e2"`): the anchor's positive and
  negative then come from the same CLIP-enriched embedding set, a plain triplet over one space.
  `negative_from="e1"` takes the other sample's own image embedding instead.
* `paper` is Eq. 4 exactly, ‖e1'−e2'‖₁ − max(0.5, ‖e1'−e_neg‖₁), unbounded below once negatives
  are farther than the margin; `hinge` is the bounded ‖e1'−e2'‖₁ + max(0, m − ‖e1'−e_neg‖₁).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from handdg.errors import HanddgError
from handdg.model.network import ModelOutput
from handdg.model.defaults import DEFAULTS, check

Contrastive = Literal["paper", "hinge"]
NegativeFrom = Literal["e2", "e1"]
HeatReduction = Literal["sum", "mean"]
HeatStages = Literal["all", "last"]


@dataclass(frozen=True)
class LossConfig:
    """Weights, heatmap-loss form and contrastive variant; paper λ = (1, 1, 0.1), margin 0.5. The defaults
    are `handdg train`'s (handdg.model.defaults: --lambda-*, --contrastive, --heat-*)."""

    heat: float = DEFAULTS["lambda_heat"]
    pose: float = DEFAULTS["lambda_pose"]
    con: float = DEFAULTS["lambda_con"]
    contrastive: Contrastive = DEFAULTS["contrastive"]
    margin: float = 0.5
    negative_from: NegativeFrom = "e2"
    heat_reduction: HeatReduction = DEFAULTS["heat_reduction"]
    heat_stages: HeatStages = DEFAULTS["heat_stages"]

    def __post_init__(self) -> None:
        for name, option in (("heat", "lambda_heat"), ("pose", "lambda_pose"), ("con", "lambda_con"),
                             ("contrastive", "contrastive"), ("heat_reduction", "heat_reduction"),
                             ("heat_stages", "heat_stages")):
            check(option, getattr(self, name))  # the message names the training option (--lambda-con)
        if self.negative_from not in ("e2", "e1"):
            raise HanddgError(f"unknown negative source {self.negative_from!r}: use 'e2' or 'e1'")

    def to_dict(self) -> dict:
        """Plain JSON-able dict of the fields."""
        return asdict(self)


@dataclass
class LossTerms:
    """The weighted total (what to backpropagate) and each unweighted term, for logging."""

    total: torch.Tensor
    heat: torch.Tensor
    pose: torch.Tensor
    con: torch.Tensor | None


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, reduction: HeatReduction = "sum") -> torch.Tensor:
    """Squared error between predicted and GT heatmaps (B,21,·,·), predictions upsampled to the GT size:
    summed over maps and pixels then averaged over the batch (`sum`, Eq. 2), or averaged over all (`mean`)."""
    return _reduce(_UpsampledError(target, tuple(pred.shape[-2:]))(pred), target, reduction)


def supervised_heatmap_loss(output: ModelOutput, target: torch.Tensor, config: LossConfig) -> torch.Tensor:
    """L_heat of the supervised CPM stages: all three summed (hand3d) or the last one only."""
    stages = output.stages if config.heat_stages == "all" and output.stages else (output.heatmaps,)
    error = _UpsampledError(target, tuple(stages[0].shape[-2:]))
    return sum(_reduce(error(maps), target, config.heat_reduction) for maps in stages)


def _reduce(per_sample: torch.Tensor, target: torch.Tensor, reduction: HeatReduction) -> torch.Tensor:
    return per_sample.mean() if reduction == "sum" else per_sample.mean() / target[0].numel()


def _interpolation(out: int, size: int, device: torch.device) -> torch.Tensor:
    """(out, size) matrix of 1-D linear resampling, align_corners=False: bilinear upsampling is A·P·Aᵀ."""
    eye = torch.eye(size, dtype=torch.float64, device=device)[:, None, :]
    return F.interpolate(eye, size=out, mode="linear", align_corners=False)[:, 0, :].T.float()


class _UpsampledError:
    """Per-sample ‖up(P) − T‖² over 21 maps, computed at the predictions' own size (h, w).

    With U = A_h ⊗ A_w the bilinear upsampling, ‖UP − T‖² = ⟨(A_hᵀA_h) P (A_wᵀA_w), P⟩ − 2⟨P, A_hᵀ T A_w⟩ + ‖T‖²:
    the same value and gradient as upsampling every stage's maps to the GT size (tests/test_losses.py, to float
    rounding), with the target projected once per batch instead of three 21×32² passes per stage forward and
    backward (what that saves: docs/performance.md). In float32 under autocast too."""

    def __init__(self, target: torch.Tensor, size: tuple[int, int]) -> None:
        self.direct = tuple(target.shape[-2:]) == size
        self.target = target.float()
        if self.direct:
            return
        with torch.autocast(target.device.type, enabled=False):
            a_h, a_w = (_interpolation(o, n, target.device) for o, n in zip(target.shape[-2:], size))
            self.gram_h, self.gram_w = a_h.T @ a_h, a_w.T @ a_w
            self.projected = a_h.T @ self.target @ a_w
            self.target_sq = self.target.square().flatten(1).sum(dim=1)

    def __call__(self, pred: torch.Tensor) -> torch.Tensor:
        """(B,) sums of squared errors of the maps `pred` (B,21,h,w)."""
        pred = pred.float()
        if self.direct:
            return (pred - self.target).square().flatten(1).sum(dim=1)
        with torch.autocast(pred.device.type, enabled=False):
            fitted = (self.gram_h @ pred @ self.gram_w) * pred - 2.0 * self.projected * pred
            return fitted.flatten(1).sum(dim=1) + self.target_sq

    def between(self, pred: torch.Tensor) -> torch.Tensor:
        """(B, B) squared distances between every sample's upsampled maps and every target, same expansion."""
        pred = pred.float()
        with torch.autocast(pred.device.type, enabled=False):
            if self.direct:
                return torch.cdist(pred.flatten(1), self.target.flatten(1)).square()
            own = ((self.gram_h @ pred @ self.gram_w) * pred).flatten(1).sum(dim=1)
            return own[:, None] - 2.0 * pred.flatten(1) @ self.projected.flatten(1).T + self.target_sq[None, :]


def pose_loss(output: ModelOutput, coords: torch.Tensor, rotation: torch.Tensor | None = None) -> torch.Tensor:
    """MSE of the 3D coordinates, plus MSE of the rotation matrix when the model predicts one (H3D) and of
    the 6-D form's two vectors against R's first two rows; plus the same for the lifting of the GT maps."""
    loss = _pose_mse(output.coords, output.rotation, output.rotation_rows, coords, rotation)
    if output.gt_coords is not None:
        loss = loss + _pose_mse(output.gt_coords, output.gt_rotation, output.gt_rotation_rows, coords, rotation)
    return loss


def _pose_mse(pred_coords: torch.Tensor, pred_rotation: torch.Tensor | None, pred_rows: torch.Tensor | None,
              coords: torch.Tensor, rotation: torch.Tensor | None) -> torch.Tensor:
    """Gram-Schmidt ignores the 6-D vectors' length, so the matrix MSE alone lets it grow without bound (to
    ~1e5 in 800 tiny steps at lr 3e-3), which shrinks every later step's turn of R; their own MSE pins it near 1."""
    loss = F.mse_loss(pred_coords, coords)
    if pred_rotation is not None:
        if rotation is None:
            raise ValueError("a canonical-target model needs the rotation target")
        loss = loss + F.mse_loss(pred_rotation, rotation)
    if pred_rows is not None:
        loss = loss + F.mse_loss(pred_rows, rotation[:, :2].flatten(1))
    return loss


@torch.no_grad()
def select_negatives(pred_heatmaps: torch.Tensor, gt_heatmaps: torch.Tensor) -> torch.Tensor:
    """(B,) index of the sample whose GT heatmap is farthest (L2) from each anchor's prediction, self excluded."""
    if pred_heatmaps.shape[0] < 2:
        raise ValueError("negative mining needs a batch of at least 2 samples")
    dist = _UpsampledError(gt_heatmaps, tuple(pred_heatmaps.shape[-2:])).between(pred_heatmaps)
    dist.fill_diagonal_(-1.0)
    return dist.argmax(dim=1)


def contrastive_loss(e1p: torch.Tensor, e2p: torch.Tensor, negatives: torch.Tensor,
                     form: Contrastive = DEFAULTS["contrastive"], margin: float = 0.5,
                     negative_from: NegativeFrom = "e2") -> torch.Tensor:
    """Eq. 4 (`paper`) or its hinge form, batch mean; anchor e1', positive e2', negative row `negatives`."""
    e_neg = (e2p if negative_from == "e2" else e1p)[negatives]
    d_pos = (e1p - e2p).abs().sum(dim=1)
    d_neg = (e1p - e_neg).abs().sum(dim=1)
    if form == "paper":
        per_sample = d_pos - torch.clamp(d_neg, min=margin)
    else:
        per_sample = d_pos + torch.clamp(margin - d_neg, min=0.0)
    return per_sample.mean()


def total_loss(output: ModelOutput, gt_heatmaps: torch.Tensor, gt_coords: torch.Tensor,
               gt_rotation: torch.Tensor | None, config: LossConfig = LossConfig()) -> LossTerms:
    """λ1·L_heat + λ2·L_pose (+ λ3·L_con when the output carries Branch2 embeddings)."""
    heat = supervised_heatmap_loss(output, gt_heatmaps, config)
    pose = pose_loss(output, gt_coords, gt_rotation)
    total = config.heat * heat + config.pose * pose
    con = None
    if output.e1p is not None and output.e2p is not None:
        negatives = select_negatives(output.heatmaps, gt_heatmaps)
        con = contrastive_loss(output.e1p, output.e2p, negatives, config.contrastive, config.margin,
                               config.negative_from)
        total = total + config.con * con
    return LossTerms(total=total, heat=heat, pose=pose, con=con)
