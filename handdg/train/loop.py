"""The training loop: one function, `train`, for 1 process or N under torchrun.

Each step: a batch of augmented right-hand crops; with Branch2 on, a CLIP feature per sample
(cached image feature from the store, or frozen CLIP run on the crop in `online` mode) mixed
with the feature of one prompt drawn for it; the loss λ1·L_heat + λ2·L_pose + λ3·L_con; Adam.
All randomness of step s is drawn from generators keyed by (seed, s, ...), so a run resumed
from a checkpoint continues with exactly the losses an uninterrupted run would have logged.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from handdg.device import allocator, distributed
from handdg.device.compile import compiled, require_toolchain
from handdg.device.precision import Precision
from handdg.errors import HanddgError
from handdg.evaluation.reference import mean_pose
from handdg.inputs.batch_augment import finish_batch
from handdg.inputs import decoded
from handdg.inputs.batches import CropSpec, HandCrops, StepBatches, collate_plans
from handdg.inputs.decoded import DecodedImages
from handdg.inputs.clip_input import ClipInput
from handdg.inputs.styles import StyleSampler
from handdg.loading import loader_options
from handdg.model.losses import LossConfig, LossTerms, total_loss
from handdg.model.network import HandPoseNet, ModelConfig
from handdg.model.targets import canonical_target, uvd_target
from handdg.run import runs
from handdg.run.config import TrainConfig
from handdg.train import init, validate
from handdg.train.timing import StepTimer

METRIC_FIELDS = ["loss", "heat", "pose", "con", "lr"]
DEFAULT_CLIP_DIM = 512
"""Branch2's CLIP input size when a run has no CLIP (baseline: Branch2 is built but frozen, unused)."""


def model_config(config: TrainConfig, clip_dim: int, saved: dict | None = None) -> ModelConfig:
    """The network a training config asks for (with the forward-only fields of `saved`, an --init network)."""
    model = ModelConfig.from_preset(config.preset, clip_dim=clip_dim, fusion=config.fusion, target=config.pose_target,
                                    norm=config.norm, rotation=config.rotation, feature_stats=config.feature_stats)
    return init.inherit(model, saved)


crop_spec = CropSpec.for_run


def pose_targets(batch: dict[str, torch.Tensor], target: str, input_size: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The 3D head's targets for a batch: canonical coords + rotation, or 2.5-D crop coords."""
    if target == "canonical":
        canonical = canonical_target(batch["xyz_mm"], batch["hand_side"])
        return canonical.coords.float(), canonical.rotation.float()
    return uvd_target(batch["uv"], batch["xyz_mm"], input_size).float(), None


def loss_config(config: TrainConfig) -> LossConfig:
    """The loss weights and contrastive form of a run."""
    return LossConfig(heat=config.lambda_heat, pose=config.lambda_pose, con=config.lambda_con,
                      contrastive=config.contrastive, heat_reduction=config.heat_reduction,
                      heat_stages=config.heat_stages)


def adam(params: list[torch.nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam (β 0.9, 0.999) as PyTorch's fused kernel where this torch has one for the device, else its foreach form.

    The fused kernel updates every parameter in one pass: the same update to float rounding (1 ulp after 50
    steps, tests/test_train_loop.py), and faster (docs/performance.md). Checkpoints of either form load into
    the other."""
    try:
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), fused=True)
    except (RuntimeError, TypeError):  # torch < 2.4 fuses on CUDA only
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), foreach=True)


def _dataset_identity(dataset) -> dict:
    return {"name": dataset.name, "root": str(dataset.root), "split": dataset.split, "count": len(dataset),
            "fingerprint": dataset.fingerprint()}


def _build_model(config: TrainConfig, clip_dim: int, ctx: distributed.Context, amp: Precision,
                 resume: bool) -> tuple[HandPoseNet, torch.nn.Module]:
    """The run's network (what checkpoints and validation use: fresh and seeded, or --init's weights; a resumed
    run gets its checkpoint's later) and what trains it (DDP-wrapped under torchrun, compiled with --compile)."""
    torch.manual_seed(config.seed)
    if config.init and not resume:
        start = init.init_checkpoint(config.init, model_config(config, clip_dim))
        net = HandPoseNet(model_config(config, clip_dim, start.model))
        runs.load_into(net, start.weights, config.init)
    else:
        saved = runs.read_run(Path(config.out))[1].get("model") if config.init else None
        net = HandPoseNet(model_config(config, clip_dim, saved))
    if not config.uses_clip:
        for module in (net.branch2, net.projection):
            module.requires_grad_(False)
    amp.prepare(net)
    model = distributed.wrap(net, ctx)
    return net, compiled(model, ctx.device) if config.compile else model


def train(config: TrainConfig, resume: bool = False, timer: StepTimer | None = None) -> Path:
    """Train (or, with `resume`, continue from its newest checkpoint) the run described by `config`;
    returns the run directory. When to start, resume or leave a run is handdg.train.lifecycle's.
    `timer` (handdg.train.timing.StepTimer) records each step's wait for data and its compute time.
    What a run settles at its start (where augmentation runs, precision, the validation set) is settled on its
    own copy of `config`, which config.json records; the caller's `config` is left as it was."""
    config = dataclasses.replace(config).validate()
    if not resume:
        config.check_inputs()
    allocator.keep_freed_memory()
    ctx = distributed.start(config.device)
    try:
        if config.compile:
            require_toolchain(ctx.device)
        return _train(config, resume, ctx, timer)
    finally:
        distributed.stop()


def _train(config: TrainConfig, resume: bool, ctx: distributed.Context, timer: StepTimer | None) -> Path:
    from handdg.data import open_dataset

    out = Path(config.out)
    if config.augment_on == "auto":
        config.augment_on = "device" if ctx.device.type == "cuda" else "workers"
    amp = Precision.for_run(config, ctx.device)
    dataset = open_dataset(config.data, config.layout, config.split)
    validate.default_validation(config)
    clip = ClipInput.for_run(config, dataset, ctx)
    styles = StyleSampler.for_run(config.styles, config.style_share, dataset)
    net, model = _build_model(config, clip.features.dim if clip else DEFAULT_CLIP_DIM, ctx, amp, resume)
    optimizer = adam([p for p in model.parameters() if p.requires_grad], config.lr)
    start = _restore(out, net, optimizer, config, amp) if resume else 0
    batches = StepBatches(len(dataset), config.batch_size, config.seed, ctx.rank, ctx.world, start, config.steps)
    spec = crop_spec(config, net.config)
    if resume:
        reference = runs.read_run(out)[1].get("reference")
    else:
        reference = mean_pose(dataset, spec.root)
        if ctx.main:
            runs.create_run(out, config, {"clip": clip.features.provenance if clip else None,
                                          "dataset": _dataset_identity(dataset), "store": config.store,
                                          "model": net.config.to_dict(), "world_size": ctx.world,
                                          "reference": reference,
                                          "styles": styles.provenance if styles else None})
    distributed.barrier(ctx)
    keep_clean = clip is not None and clip.online is not None
    on_device = config.augment_on == "device"
    crops = training_crops(config, dataset, spec, keep_clean, ctx, styles)
    loader = DataLoader(crops, batch_sampler=batches, collate_fn=collate_plans if on_device else None,
                        **loader_options(config.workers, ctx.device))
    validator = validate.Validator(config, spec, reference, ctx.device, amp.name) if ctx.main and config.val_data else None
    fields = METRIC_FIELDS + (validate.FIELDS if config.val_data else [])
    log = runs.MetricsLog(out, fields, start if resume else None) if ctx.main else None
    losses = loss_config(config)
    per_step = config.batch_size * ctx.world
    bar = tqdm(total=config.steps * per_step, initial=start * per_step, unit="sample", unit_scale=True,
               desc=f"training {out.name}", disable=not ctx.main, dynamic_ncols=True)
    model.train()
    try:
        for step, batch in enumerate(timer.batches(loader, ctx.device) if timer else loader, start=start + 1):
            batch = amp.batch_to_device(batch)
            if on_device:
                batch = finish_batch(batch, spec.input_size, spec.heatmap_size, spec.heatmap_sigma, keep_clean,
                                     styles)
            with amp.autocast():
                output = model(batch["image"], batch["hand_side"], clip(batch, step, ctx.rank) if clip else None,
                               lift_detached=config.pose_gradient == "lifting",
                               gt_heatmaps=batch["heatmaps"] if config.gt_lifting else None)
                coords, rotation = pose_targets(batch, config.pose_target, net.config.input_size)
                terms = total_loss(output, batch["heatmaps"], coords, rotation, losses)
            values = _logged_values(terms, ctx)
            _stop_unless_finite(values, step, out)
            lr = config.lr_at(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            amp.step(terms.total, optimizer)
            bar.update(per_step)
            bar.set_postfix(loss=f"{values[0].item():.4g}", step=step)
            if timer is not None:
                timer.step_done()
            row = dict(zip(METRIC_FIELDS, values.tolist() + [lr]))
            if validator is not None and (step % config.validation_every() == 0 or step == config.steps):
                row.update(validate.logged(validator(net)))
                validate.keep_best(out, step, row, net, config, reference)
                bar.write(f"step {step}: validation hand3d EPE {row['val_hand3d_mm']:.1f} mm, "
                          f"2D {row['val_2d_px']:.1f} px", file=sys.stderr)
            if log is not None and (step % config.log_every == 0 or step == config.steps or len(row) > len(METRIC_FIELDS)):
                log.log(step, row)
            if step % config.checkpoint_every == 0 or step == config.steps:
                _checkpoint(out, step, net, optimizer, config, ctx, reference, amp)
    finally:
        bar.close()
        if log is not None:
            log.close()
    return out


def training_crops(config: TrainConfig, dataset, spec: CropSpec, keep_clean: bool,
                   ctx: distributed.Context | None = None, styles: StyleSampler | None = None) -> HandCrops:
    """A run's training crops: its augmentations, where they run (resolved `augment_on`), its decoded images and
    its style bank (`styles`, opened by the caller)."""
    return HandCrops(dataset, spec, config.augment, keep_clean=keep_clean, on_device=config.augment_on == "device",
                     images=_decoded_images(config, dataset, ctx), styles=styles)


def _decoded_images(config: TrainConfig, dataset, ctx: distributed.Context | None) -> DecodedImages | None:
    """The run's decoded-image cache (rank 0 builds or repairs it first, the others then open it), or None
    (`--decode-cache none`, or no room for it on the disk)."""
    if config.decode_cache == "none":
        return None
    root = decoded.default_root() if config.decode_cache == "auto" else Path(config.decode_cache).expanduser()
    if ctx is None or ctx.main:
        images = decoded.open_cache(dataset, root, show=ctx is not None)
    if ctx is not None:
        distributed.barrier(ctx)
    return images if ctx is None or ctx.main else decoded.open_cache(dataset, root, show=False)


def _logged_values(terms: LossTerms, ctx: distributed.Context) -> torch.Tensor:
    """(loss, heat, pose, con) of a step averaged over processes, detached (con 0 without Branch2)."""
    con = terms.con if terms.con is not None else torch.zeros_like(terms.total)
    return distributed.mean_over_processes(torch.stack([terms.total, terms.heat, terms.pose, con]).detach(), ctx)


def _stop_unless_finite(values: torch.Tensor, step: int, out: Path) -> None:
    """HanddgError naming the step (before the optimiser touches the weights) if a loss is NaN/inf."""
    if torch.isfinite(values).all():
        return
    raise runs.non_finite_loss(dict(zip(METRIC_FIELDS, values.tolist())), step, out)


def _checkpoint(out: Path, step: int, net: HandPoseNet, optimizer: torch.optim.Optimizer,
                config: TrainConfig, ctx: distributed.Context, reference: dict | None, amp: Precision) -> None:
    if ctx.main:
        state = {"optimizer": optimizer.state_dict(), "torch_rng": torch.get_rng_state(), **amp.state_dict()}
        runs.save_checkpoint(out, step, net.state_dict(), state, config, config.keep_checkpoints,
                             net.config.to_dict(), reference)
    distributed.barrier(ctx)


def _restore(out: Path, net: HandPoseNet, optimizer: torch.optim.Optimizer, config: TrainConfig,
             amp: Precision) -> int:
    """Load the newest checkpoint of `out` into the model and optimiser; returns its step (handdg.train.lifecycle
    resumes only a run with a checkpoint before its last step)."""
    step = runs.latest_checkpoint(out)
    if step is None or step >= config.steps:
        raise HanddgError(f"{out} has no checkpoint before step {config.steps} to continue from: "
                          "start or continue runs through handdg.train.lifecycle")
    runs.restore_weights(out / "checkpoints" / f"step_{step}.safetensors", net, net.config.to_dict())
    state = runs.load_state(out, step)
    optimizer.load_state_dict(state["optimizer"])
    amp.load_state_dict(state)
    torch.set_rng_state(state["torch_rng"])
    return step
