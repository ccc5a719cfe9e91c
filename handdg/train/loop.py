"""The training loop: one function, `train`, for 1 process or N under torchrun.

Each step: a batch of augmented right-hand crops; with Branch2 on, a CLIP feature per sample
(cached image feature from the store, or frozen CLIP run on the crop in `online` mode) mixed
with the feature of one prompt drawn for it; the loss λ1·L_heat + λ2·L_pose + λ3·L_con; Adam.
All randomness of step s is drawn from generators keyed by (seed, s, ...), so a run resumed
from a checkpoint continues with exactly the losses an uninterrupted run would have logged.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from handdg import prompts
from handdg.errors import HanddgError
from handdg.train import distributed, runs
from handdg.train.batches import CropSpec, HandCrops, StepBatches
from handdg.train.config import TrainConfig
from handdg.train.features import ClipFeatures
from handdg.train.losses import LossConfig, total_loss
from handdg.train.model import HandPoseNet, ModelConfig
from handdg.train.seeds import PROMPTS, keyed_generator
from handdg.train.targets import canonical_target, uvd_target

METRIC_FIELDS = ["loss", "heat", "pose", "con"]
PROMPT_BATCH = 256


def model_config(config: TrainConfig, clip_dim: int) -> ModelConfig:
    """The network a training config asks for."""
    return ModelConfig.from_preset(config.preset, clip_dim=clip_dim, fusion=config.fusion, target=config.pose_target)


def crop_spec(config: TrainConfig, model: ModelConfig) -> CropSpec:
    """Input and heatmap geometry of a run."""
    return CropSpec(input_size=model.input_size, heatmap_size=config.heatmap_size,
                    heatmap_sigma=config.heatmap_sigma, crop_scale=config.crop_scale, root=config.root)


def pose_targets(batch: dict[str, torch.Tensor], target: str, input_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The 3D head's targets for a batch: canonical coords + rotation, or 2.5-D crop coords."""
    if target == "canonical":
        canonical = canonical_target(batch["xyz_mm"], batch["hand_side"])
        return canonical.coords.float(), canonical.rotation.float()
    return uvd_target(batch["uv"], batch["xyz_mm"], input_size).float(), None


def loss_config(config: TrainConfig) -> LossConfig:
    """The loss weights and contrastive form of a run."""
    return LossConfig(heat=config.lambda_heat, pose=config.lambda_pose, con=config.lambda_con,
                      contrastive=config.contrastive)


class OnlineClip:
    """Frozen CLIP run inside the step on the geometric crop (the official code's way)."""

    def __init__(self, config: TrainConfig, device: torch.device, show: bool) -> None:
        from handdg.featurize.clip import load_clip

        self.encoder = load_clip(config.clip_model, config.clip_weights, str(device))
        self.mean = torch.tensor(self.encoder.mean).view(1, 3, 1, 1)
        self.std = torch.tensor(self.encoder.std).view(1, 3, 1, 1)
        texts = prompts.all_prompts()
        chunks = [self.encoder.encode_text(list(texts[i:i + PROMPT_BATCH]))
                  for i in tqdm(range(0, len(texts), PROMPT_BATCH), desc="encoding prompts", unit="batch",
                                disable=not show)]
        self.features = ClipFeatures(None, torch.cat(chunks), self.encoder.provenance, config.normalise_mix)

    def image_features(self, clean: torch.Tensor) -> torch.Tensor:
        """(B,3,S,S) crops in [0,1] -> raw CLIP image features: bicubic resize + CLIP normalisation."""
        size = self.encoder.image_size
        x = F.interpolate(clean.float().cpu(), size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
        return self.encoder.encode_images((x - self.mean) / self.std)


def _dataset_identity(dataset) -> dict:
    return {"name": dataset.name, "root": str(dataset.root), "split": dataset.split, "count": len(dataset),
            "fingerprint": dataset.fingerprint()}


def _build_model(config: TrainConfig, clip_dim: int, ctx: distributed.Context) -> tuple[HandPoseNet, torch.nn.Module]:
    torch.manual_seed(config.seed)
    net = HandPoseNet(model_config(config, clip_dim))
    if not config.uses_clip:
        for module in (net.branch2, net.projection):
            module.requires_grad_(False)
    net.to(ctx.device)
    return net, distributed.wrap(net, ctx)


def resume_config(out: Path, steps: int | None = None) -> TrainConfig:
    """The config of the run in `out`, with its step budget optionally extended."""
    config, _ = runs.read_run(out)
    if steps is not None:
        if steps < config.steps:
            raise HanddgError(f"--steps {steps} is below the run's {config.steps}: resume can only extend a run")
        config.steps = steps
    return config


def train(config: TrainConfig, resume: bool = False) -> Path:
    """Train (or, with `resume`, continue) the run described by `config`; returns the run directory."""
    config.validate()
    ctx = distributed.start(config.device)
    try:
        return _train(config, resume, ctx)
    finally:
        distributed.stop()


def _train(config: TrainConfig, resume: bool, ctx: distributed.Context) -> Path:
    from handdg.data import open_dataset

    out = Path(config.out)
    dataset = open_dataset(config.data, config.layout, config.split)
    online = OnlineClip(config, ctx.device, ctx.main) if config.uses_clip and config.clip_mode == "online" else None
    features = online.features if online else (
        ClipFeatures.from_store(config.store, dataset, config.normalise_mix) if config.uses_clip else None)
    net, model = _build_model(config, features.dim if features else 512, ctx)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=config.lr, betas=(0.9, 0.999))
    start = _restore(out, net, optimizer, config) if resume else 0
    batches = StepBatches(len(dataset), config.batch_size, config.seed, ctx.rank, ctx.world, start, config.steps)
    if ctx.main and not resume:
        runs.create_run(out, config, {"clip": features.provenance if features else None,
                                      "dataset": _dataset_identity(dataset), "store": config.store,
                                      "model": net.config.to_dict(), "world_size": ctx.world})
    distributed.barrier(ctx)
    crops = HandCrops(dataset, crop_spec(config, net.config), config.augment, keep_clean=online is not None)
    loader = DataLoader(crops, batch_sampler=batches, num_workers=config.workers)
    log = runs.MetricsLog(out, METRIC_FIELDS, start if resume else None) if ctx.main else None
    ratio = config.mixing_ratio()
    losses = loss_config(config)
    per_step = config.batch_size * ctx.world
    bar = tqdm(total=config.steps * per_step, initial=start * per_step, unit="sample", unit_scale=True,
               desc=f"training {out.name}", disable=not ctx.main, dynamic_ncols=True)
    model.train()
    try:
        for step, batch in enumerate(loader, start=start + 1):
            batch = {k: v.to(ctx.device) for k, v in batch.items()}
            clip_feature = None
            if features is not None:
                image_features = (online.image_features(batch["clean"]) if online
                                  else features.cached_image(batch["index"].cpu()))
                drawn = features.draw_prompts(len(image_features), keyed_generator(config.seed, PROMPTS, step, ctx.rank))
                clip_feature = features.mixed(image_features, drawn, ratio).to(ctx.device)
            output = model(batch["image"], batch["hand_side"], clip_feature)
            coords, rotation = pose_targets(batch, config.pose_target, net.config.input_size)
            terms = total_loss(output, batch["heatmaps"], coords, rotation, losses)
            values = distributed.mean_over_processes(torch.stack([
                terms.total.detach(), terms.heat.detach(), terms.pose.detach(),
                terms.con.detach() if terms.con is not None else torch.zeros((), device=ctx.device)]), ctx)
            if not torch.isfinite(values).all():
                last = runs.latest_checkpoint(out)
                kept = f"the last good checkpoint is step {last}" if last else "no checkpoint was written yet"
                raise HanddgError(f"loss became non-finite at step {step} ({values[0].item()}); stopped, {kept} "
                                  "(lower --lr or check the data, then --resume)")
            optimizer.zero_grad(set_to_none=True)
            terms.total.backward()
            optimizer.step()
            bar.update(per_step)
            bar.set_postfix(loss=f"{values[0].item():.4g}", step=step)
            if log is not None and (step % config.log_every == 0 or step == config.steps):
                log.log(step, dict(zip(METRIC_FIELDS, values.tolist())))
            if step % config.checkpoint_every == 0 or step == config.steps:
                _checkpoint(out, step, net, optimizer, config, ctx)
    finally:
        bar.close()
        if log is not None:
            log.close()
    return out


def _checkpoint(out: Path, step: int, net: HandPoseNet, optimizer: torch.optim.Optimizer,
                config: TrainConfig, ctx: distributed.Context) -> None:
    if ctx.main:
        state = {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state()}
        runs.save_checkpoint(out, step, net.state_dict(), state, config, config.keep_checkpoints,
                             net.config.to_dict())
    distributed.barrier(ctx)


def _restore(out: Path, net: HandPoseNet, optimizer: torch.optim.Optimizer, config: TrainConfig) -> int:
    """Load the newest checkpoint of `out` into the model and optimiser; returns its step."""
    step = runs.latest_checkpoint(out)
    if step is None:
        raise HanddgError(f"{out} has no complete checkpoint to resume from: start the run again without --resume")
    net.load_state_dict(runs.load_weights(out / "checkpoints" / f"step_{step}.safetensors").weights)
    state = runs.load_state(out, step)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["torch_rng"])
    if step >= config.steps:
        raise HanddgError(f"{out} already finished its {config.steps} steps: pass a larger --steps to continue it")
    return step
