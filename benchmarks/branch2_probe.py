"""What Branch2 does to a run: how alike e1' and e2' are, and how much of the heatmap net's gradient L_con gives.

Branch2 never runs at test time; IE and IE+TE can only change the target error through the
gradient L_con sends into the heatmap net (e1 and e2 both read its pool3 features). This measures
that on a run's own training batches, at a checkpoint and at the run's initialisation (the same
seed's fresh network), so "does the method change the pose features at all?" has a number.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from handdg.data import open_dataset
from handdg.device.distributed import Context
from handdg.errors import HanddgError
from handdg.inputs.batches import CropSpec, HandCrops, StepBatches
from handdg.model.losses import total_loss
from handdg.model.network import HandPoseNet
from handdg.run import runs
from handdg.train.loop import ClipInput, loss_config, model_config, pose_targets


def _gradient(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> torch.Tensor:
    """d loss / d params, flattened into one vector (zeros where a parameter gets none)."""
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(params, grads)])


def _measure(net: HandPoseNet, batches: list[dict], clip: ClipInput, config) -> dict[str, float]:
    """Mean over batches of cos(e1', e2'), L_con and the heatmap net's gradient split between the losses."""
    losses = loss_config(config)
    params = [p for p in net.heatmap_net.parameters() if p.requires_grad]
    rows = []
    for step, batch in enumerate(batches, start=1):
        output = net(batch["image"], batch["hand_side"], clip(batch, step, 0),
                     lift_detached=config.pose_gradient == "lifting",
                     gt_heatmaps=batch["heatmaps"] if config.gt_lifting else None)
        coords, rotation = pose_targets(batch, config.pose_target, net.config.input_size)
        terms = total_loss(output, batch["heatmaps"], coords, rotation, losses)
        task = _gradient(losses.heat * terms.heat + losses.pose * terms.pose, params)
        con = _gradient(losses.con * terms.con, params)
        rows.append({"cos_e1_e2": F.cosine_similarity(output.e1p, output.e2p, dim=1).mean().item(),
                     "l_con": terms.con.item(), "grad_norm_task": task.norm().item(), "grad_norm_con": con.norm().item(),
                     "grad_share_con": (con.norm() / (con.norm() + task.norm())).item(),
                     "grad_cos_con_task": F.cosine_similarity(con, task, dim=0).item()})
    return {k: statistics.fmean(r[k] for r in rows) for k in rows[0]}


def probe(run_dir: Path | str, step: int | None = None, batches: int = 4) -> dict:
    """Branch2's effect in run `run_dir` at checkpoint `step` (default: the newest) and at its start (the seed's
    fresh network, or the --init checkpoint it started from)."""
    run_dir = Path(run_dir)
    config, provenance = runs.read_run(run_dir)
    if not config.uses_clip:
        raise HanddgError(f"{run_dir} trained without Branch2 (--branch2 none): there is nothing to probe")
    step = step if step is not None else runs.latest_checkpoint(run_dir)
    if step is None:
        raise HanddgError(f"{run_dir} has no checkpoint yet: train it first")
    dataset = open_dataset(config.data, config.layout, config.split)
    clip = ClipInput.for_run(config, dataset, Context(0, 1, torch.device("cpu")))
    torch.manual_seed(config.seed)  # the run's own initialisation, as training built it
    fresh = HandPoseNet(model_config(config, clip.features.dim, provenance.get("model")))
    if config.init:  # an --init run started from that checkpoint's weights, not from the seed's
        runs.load_into(fresh, runs.load_weights(config.init).weights, config.init)
    trained = HandPoseNet(fresh.config)
    runs.restore_weights(run_dir / "checkpoints" / f"step_{step}.safetensors", trained, provenance["model"])
    crops = HandCrops(dataset, CropSpec.for_run(config, trained.config), config.augment)
    order = StepBatches(len(dataset), config.batch_size, config.seed, 0, 1, 0, batches)
    batch_list = [torch.utils.data.default_collate([crops[i] for i in indices]) for indices in order]
    out = {"run": str(run_dir), "step": step, "batches": batches, "batch_size": config.batch_size,
           "branch2": config.branch2, "ratio": config.mixing_ratio(), "lambda_con": config.lambda_con}
    for name, net in (("init", fresh), ("trained", trained)):
        net.train()
        out[name] = _measure(net, batch_list, clip, config)
    return out
