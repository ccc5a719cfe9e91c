"""A training step's CLIP feature f_CLIP: each sample's image feature (cached in the store, or frozen CLIP
run on its crop in `--clip-mode online`) mixed with the feature of one prompt drawn for it.

`prompt_texts` is what an online CLIP encodes at a run's start (all 3,920 prompts); a benchmark that times
a step may replace it to encode fewer, and the run's CLIP provenance then records how many it encoded.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from handdg import prompts
from handdg.device import distributed
from handdg.inputs.features import ClipFeatures
from handdg.inputs.seeds import PROMPTS, keyed_generator
from handdg.run.config import TrainConfig

PROMPT_BATCH = 256
prompt_texts: Callable[[], tuple[str, ...]] = prompts.all_prompts
"""The prompts an online CLIP encodes at a run's start (a hook: benchmarks timing a step encode fewer)."""


class OnlineClip:
    """Frozen CLIP run inside the step on the geometric crop (the official code's way)."""

    def __init__(self, encoder, features: ClipFeatures) -> None:
        self.encoder = encoder
        self.features = features
        self.mean = torch.tensor(encoder.mean).view(1, 3, 1, 1)
        self.std = torch.tensor(encoder.std).view(1, 3, 1, 1)

    @classmethod
    def load(cls, config: TrainConfig, device: torch.device, show: bool) -> "OnlineClip":
        """Build the run's CLIP and encode the prompts once (CLIP is frozen: they never change)."""
        from handdg.featurize.clip import load_clip

        encoder = load_clip(config.clip_model, config.clip_weights, str(device))
        texts = prompt_texts()
        provenance = encoder.provenance
        if len(texts) != prompts.COUNT:
            provenance = {**provenance, "prompts_encoded": len(texts)}
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
    def for_run(cls, config: TrainConfig, dataset, ctx: distributed.Context) -> "ClipInput | None":
        """None for the baseline; else cached features from the store or an online CLIP."""
        if not config.uses_clip:
            return None
        if config.clip_mode == "online":
            online = OnlineClip.load(config, ctx.device, ctx.main)
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
