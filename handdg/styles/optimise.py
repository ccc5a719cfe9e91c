"""Finding each prompt's style with the frozen CLIP: the transform's parameters that move CLIP's embedding of
the styled source images toward the prompt.

The loss of a prompt t over source images x is StyleGAN-NADA's directional loss (Gal et al. 2022) plus CLIP's
match score: 1 − cos(E(T x) − E(x), E(t) − E(neutral)) + w·(1 − cos(E(T x), E(t))), E the L2-normalised CLIP
embeddings and `neutral` a description of the source (by default the mean of all prompts' embeddings: what every
prompt shares). Gradient descent from the source's own statistics stalls in poor optima (on the synthetic
CLIP a "white hand" turned green), so each prompt starts from the best of a shared set of random styles
(scored in one pass) and is refined from there by Adam. Prompts are optimised independently, in batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from handdg.styles.families import Family, apply, pixel_change, random_params, source_params


@dataclass(frozen=True)
class OptimiseSettings:
    """How a bank is optimised: random candidates, Adam steps and rate, and the weight of the match term."""

    candidates: int = 256
    steps: int = 30
    lr: float = 0.05
    match_weight: float = 1.0
    seed: int = 0


@dataclass
class Styles:
    """One batch of styles and their scores (all (P,...) CPU float32 tensors)."""

    params: torch.Tensor
    strength: torch.Tensor
    gain_own: torch.Tensor  # mean over images of cos(E(T x), E(t)) − cos(E(x), E(t))
    gain_random: torch.Tensor  # the same for another prompt (the check that the text is obeyed)
    pixel_distance: torch.Tensor  # mean |T x − x| in [0,1] units
    clip_distance: torch.Tensor  # mean 1 − cos(E(T x), E(x))


class ClipImages:
    """The frozen CLIP's differentiable image embedding of [0,1] images at its own resolution, L2-normalised."""

    def __init__(self, encoder, batch: int = 256) -> None:
        self.model = encoder.model
        self.mean = torch.tensor(encoder.mean, device=encoder.device).view(1, 3, 1, 1)
        self.std = torch.tensor(encoder.std, device=encoder.device).view(1, 3, 1, 1)
        self.device = encoder.device
        self.batch = batch

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.model.encode_image((images - self.mean) / self.std).float(), dim=-1)

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Embeddings of many images without gradients, `batch` at a time."""
        return torch.cat([self(images[i:i + self.batch]) for i in range(0, len(images), self.batch)])


def styled(fam: Family, images: torch.Tensor, masks: torch.Tensor | None, params: torch.Tensor,
           strength: torch.Tensor | None = None) -> torch.Tensor:
    """Every style on every image: (P*K,3,S,S), style-major."""
    p, k = len(params), len(images)
    return apply(fam, images.repeat(p, 1, 1, 1), None if masks is None else masks.repeat(p, 1, 1, 1),
                 params.repeat_interleave(k, 0), None if strength is None else strength.repeat_interleave(k, 0))


def _loss(embedded: torch.Tensor, source: torch.Tensor, text: torch.Tensor, direction: torch.Tensor,
          match_weight: float) -> torch.Tensor:
    """(S,K,D) styled embeddings of S styles -> (P,S) loss of each of the P prompts for each style."""
    moved = F.normalize(embedded - source[None], dim=-1)
    directional = 1 - torch.einsum("skd,pd->psk", moved, direction).mean(-1)
    match = 1 - torch.einsum("skd,pd->psk", embedded, text).mean(-1)
    return directional + match_weight * match


class Optimiser:
    """Fits styles to prompts on K fixed source images; the random candidates are embedded once for all prompts."""

    def __init__(self, fam: Family, clip: ClipImages, images: torch.Tensor, masks: torch.Tensor | None,
                 settings: OptimiseSettings) -> None:
        self.fam, self.clip, self.settings = fam, clip, settings
        self.images = images.to(clip.device)
        self.masks = None if masks is None else masks.to(clip.device)
        self.source = clip.embed(self.images)
        gen = torch.Generator().manual_seed(settings.seed)
        start = source_params(fam, self.images, self.masks).cpu()
        self.candidates = torch.cat([start[None], random_params(fam, settings.candidates, gen, start)]).to(clip.device)
        per_batch = max(1, clip.batch // len(images))
        self.embedded = torch.cat([clip.embed(styled(fam, self.images, self.masks, self.candidates[i:i + per_batch]))
                                   for i in range(0, len(self.candidates), per_batch)]
                                  ).view(len(self.candidates), len(images), -1)

    def fit(self, text: torch.Tensor, neutral: torch.Tensor) -> torch.Tensor:
        """(P,size) styles for P normalised text embeddings: the best candidate of each, refined by Adam."""
        text, neutral = text.to(self.clip.device), neutral.to(self.clip.device)
        direction = F.normalize(text - neutral, dim=-1)
        weight = self.settings.match_weight
        best = _loss(self.embedded, self.source, text, direction, weight).argmin(dim=1)
        params = self.candidates[best].clone().requires_grad_(True)
        optimizer = torch.optim.Adam([params], lr=self.settings.lr)
        k = len(self.images)
        for _ in range(self.settings.steps):
            embedded = self.clip(styled(self.fam, self.images, self.masks, params)).view(len(text), k, -1)
            moved = F.normalize(embedded - self.source[None], dim=-1)
            loss = (1 - (moved * direction[:, None]).sum(-1)).mean(1)
            loss = loss + weight * (1 - (embedded * text[:, None]).sum(-1)).mean(1)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
        return params.detach()


@torch.no_grad()
def score(fam: Family, clip: ClipImages, images: torch.Tensor, masks: torch.Tensor | None, params: torch.Tensor,
          strength: torch.Tensor, text: torch.Tensor, other: torch.Tensor) -> Styles:
    """How far each style moves CLIP toward its own prompt `text` and toward another prompt `other` (both (P,D)
    normalised), and how large its change is in pixels and in CLIP space."""
    images = images.to(clip.device)
    masks = None if masks is None else masks.to(clip.device)
    params, strength = params.to(clip.device), strength.to(clip.device)
    text, other = text.to(clip.device), other.to(clip.device)
    source = clip.embed(images)
    embedded = clip.embed(styled(fam, images, masks, params, strength)).view(len(params), len(images), -1)

    def gain(t: torch.Tensor) -> torch.Tensor:
        return ((embedded * t[:, None]).sum(-1) - (source[None] * t[:, None]).sum(-1)).mean(1)

    clip_distance = (1 - (embedded * source[None]).sum(-1)).mean(1)
    pixels = pixel_change(fam, images, masks, params, strength)
    return Styles(params.cpu(), strength.cpu(), gain(text).cpu(), gain(other).cpu(), pixels.cpu(),
                  clip_distance.cpu())
