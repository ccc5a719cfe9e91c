"""The training loop: one function, `train`, for 1 process or N under torchrun.

Each step: a batch of augmented right-hand crops; with Branch2 on, a CLIP feature per sample
(cached image feature from the store, or frozen CLIP run on the crop in `online` mode) mixed
with the feature of one prompt drawn for it; the loss λ1·L_heat + λ2·L_pose + λ3·L_con; Adam.
All randomness of step s is drawn from generators keyed by (seed, s, ...), so a run resumed
from a checkpoint continues with exactly the losses an uninterrupted run would have logged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from handdg import prompts
from handdg.device import allocator, distributed
from handdg.device.compile import compiled, require_toolchain
from handdg.device.precision import Precision
from handdg.errors import HanddgError
from handdg.evaluation.reference import mean_pose
from handdg.inputs.batch_augment import finish_batch
from handdg.inputs import decoded
from handdg.inputs.batches import CropSpec, HandCrops, StepBatches, collate_plans
from handdg.inputs.decoded import DecodedImages
from handdg.inputs.features import ClipFeatures
from handdg.inputs.seeds import PROMPTS, keyed_generator
from handdg.loading import loader_options
from handdg.model.losses import LossConfig, LossTerms, total_loss
from handdg.model.network import HandPoseNet, ModelConfig
from handdg.model.targets import canonical_target, uvd_target
from handdg.run import runs
from handdg.run.config import TrainConfig
from handdg.train import init, validate
from handdg.train.lifecycle import resume  # noqa: F401 - `loop.resume`, the name tests and notebooks use
from handdg.train.timing import StepTimer

METRIC_FIELDS = ["loss", "heat", "pose", "con", "lr"]
PROMPT_BATCH = 256
DEFAULT_CLIP_DIM = 512
"""Branch2's CLIP input size when a run has no CLIP (baseline: Branch2 is built but frozen, unused)."""


def model_config(config: TrainConfig, clip_dim: int, saved: dict | None = None) -> ModelConfig:
    """The network a training config asks for (with the forward-only fields of `saved`, an --init network)."""
    model = ModelConfig.from_preset(config.preset, clip_dim=clip_dim, fusion=config.fusion, target=config.pose_target,
                                    norm=config.norm, rotation=config.rotation)
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


class OnlineClip:
    """Frozen CLIP run inside the step on the geometric crop (the official code's way)."""

    def __init__(self, encoder, features: ClipFeatures) -> None:
        self.encoder = encoder
        self.features = features
        self.mean = torch.tensor(encoder.mean).view(1, 3, 1, 1)
        self.std = torch.tensor(encoder.std).view(1, 3, 1, 1)

    @classmethod
    def load(cls, config: TrainConfig, device: torch.device, show: bool,
             prompt_limit: int | None = None) -> "OnlineClip":
        """Build the run's CLIP and encode the 3,920 prompts once (CLIP is frozen: they never change).

        `prompt_limit` encodes only the first N prompts (prompts are then drawn from those), recorded in the
        run's CLIP provenance as `prompts_encoded`: for benchmarks that time a step, never for a real run."""
        from handdg.featurize.clip import load_clip

        encoder = load_clip(config.clip_model, config.clip_weights, str(device))
        texts = prompts.all_prompts()
        provenance = encoder.provenance
        if prompt_limit is not None:
            if isinstance(prompt_limit, bool) or not isinstance(prompt_limit, int) or prompt_limit < 1:
                raise HanddgError(f"prompt_limit must be a whole number of prompts, at least 1, got {prompt_limit!r}")
            texts, provenance = texts[:prompt_limit], {**provenance, "prompts_encoded": prompt_limit}
        chunks = [encoder.encode_text(list(texts[i:i + PROMPT_BATCH]))
                  for i in tqdm(range(0, len(texts), PROMPT_BATCH), desc="encoding prompts", unit="batch",
                                disable=not show)]
        return cls(encoder, ClipFeatures(None, torch.cat(chunks), provenance, config.normalise_mix))

    def image_features(self, clean: torch.Tensor) -> torch.Tensor:
        """(B,3,S,S) crops in [0,1] -> raw CLIP image features: bicubic resize + CLIP normalisation."""
        size = self.encoder.image_size
        x = F.interpolate(clean.float(), size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
        return self.encoder.encode_images((x - self.mean.to(x.device)) / self.std.to(x.device))


class ClipInput:
    """A step's f_CLIP: each sample's image feature (cached, or CLIP on its crop when online) mixed
    with the feature of one prompt drawn for it from a generator keyed by (seed, step, rank)."""

    def __init__(self, features: ClipFeatures, online: OnlineClip | None, ratio: float, seed: int) -> None:
        self.features, self.online, self.ratio, self.seed = features, online, ratio, seed

    @classmethod
    def for_run(cls, config: TrainConfig, dataset, ctx: distributed.Context,
                prompt_limit: int | None = None) -> "ClipInput | None":
        """None for the baseline; else cached features from the store or an online CLIP (OnlineClip.load's
        `prompt_limit`)."""
        if not config.uses_clip:
            return None
        if config.clip_mode == "online":
            online = OnlineClip.load(config, ctx.device, ctx.main, prompt_limit)
            return cls(online.features, online, config.mixing_ratio(), config.seed)
        features = ClipFeatures.from_store(config.store, dataset, config.normalise_mix)
        return cls(features, None, config.mixing_ratio(), config.seed)

    def __call__(self, batch: dict[str, torch.Tensor], step: int, rank: int) -> torch.Tensor:
        """(B, D) float32 mixed features of a batch, on the batch's device."""
        if self.online is not None:
            image = self.online.image_features(batch["clean"])
        else:
            image = self.features.cached_image(batch["index"].cpu())
        drawn = self.features.draw_prompts(len(image), keyed_generator(self.seed, PROMPTS, step, rank))
        return self.features.mixed(image, drawn, self.ratio).to(batch["image"].device)


def adam(params: list[torch.nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam (β 0.9, 0.999) as PyTorch's fused kernel where this torch has one for the device, else its foreach form.

    The fused kernel updates every parameter in one pass: the same update to float rounding (1 ulp after 50
    steps, tests/test_train_loop.py), and 1/10 of the tiny preset's CPU step time that the per-tensor loop
    spent (docs/performance.md). Checkpoints of either form load into the other."""
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


def train(config: TrainConfig, resume: bool = False, timer: StepTimer | None = None,
          prompt_limit: int | None = None) -> Path:
    """Train (or, with `resume`, continue from its newest checkpoint) the run described by `config`;
    returns the run directory. When to start, resume or leave a run is handdg.train.lifecycle's.
    `timer` (handdg.train.timing.StepTimer) records each step's wait for data and its compute time.
    `prompt_limit` (benchmarks timing a step of --clip-mode online) encodes only the first N prompts at
    start (OnlineClip.load); it is no training option, and a run without it encodes all 3,920."""
    config.validate()
    if not resume:
        config.check_inputs()
    allocator.keep_freed_memory()
    ctx = distributed.start(config.device)
    try:
        if config.compile:
            require_toolchain(ctx.device)
        return _train(config, resume, ctx, timer, prompt_limit)
    finally:
        distributed.stop()


def _train(config: TrainConfig, resume: bool, ctx: distributed.Context, timer: StepTimer | None,
           prompt_limit: int | None = None) -> Path:
    from handdg.data import open_dataset

    out = Path(config.out)
    if config.augment_on == "auto":
        config.augment_on = "device" if ctx.device.type == "cuda" else "workers"
    amp = Precision.for_run(config, ctx.device)
    dataset = open_dataset(config.data, config.layout, config.split)
    validate.default_validation(config)
    clip = ClipInput.for_run(config, dataset, ctx, prompt_limit)
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
                                          "reference": reference})
    distributed.barrier(ctx)
    keep_clean = clip is not None and clip.online is not None
    on_device = config.augment_on == "device"
    crops = training_crops(config, dataset, spec, keep_clean, ctx)
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
                batch = finish_batch(batch, spec.input_size, spec.heatmap_size, spec.heatmap_sigma, keep_clean)
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
                   ctx: distributed.Context | None = None) -> HandCrops:
    """A run's training crops: its augmentations, where they run (resolved `augment_on`) and its decoded images."""
    return HandCrops(dataset, spec, config.augment, keep_clean=keep_clean, on_device=config.augment_on == "device",
                     images=_decoded_images(config, dataset, ctx))


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
    """Load the newest checkpoint of `out` into the model and optimiser; returns its step."""
    step = runs.latest_checkpoint(out)
    if step is None:
        return 0  # killed before its first checkpoint: start again, as an uninterrupted run did
    runs.restore_weights(out / "checkpoints" / f"step_{step}.safetensors", net, net.config.to_dict())
    state = runs.load_state(out, step)
    optimizer.load_state_dict(state["optimizer"])
    amp.load_state_dict(state)
    torch.set_rng_state(state["torch_rng"])
    if step >= config.steps:
        raise HanddgError(f"{out} already finished its {config.steps} steps: pass a larger --steps to continue it")
    return step
