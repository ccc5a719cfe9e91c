"""Training crops restyled from a style bank: each sample draws, from its own keyed generator, whether it is
restyled (probability `share`) and by which prompt's style; the style is applied to the geometric crop, before
the photometric augmentations, with the crop's own warped hand mask (handdg.styles.families)."""

from __future__ import annotations

import numpy as np
import torch

from handdg.errors import HanddgError
from handdg.inputs.seeds import STYLES, keyed_generator
from handdg.styles.families import Family, apply


class StyleSampler:
    """A bank's styles in memory and the share of crops they restyle; picklable for DataLoader workers."""

    def __init__(self, family: Family, params: torch.Tensor, strength: torch.Tensor, share: float,
                 provenance: dict | None = None) -> None:
        self.family = family
        self.provenance = provenance or {}
        self.params = params.float()
        self.strength = strength.float()
        self.share = share

    @classmethod
    def for_run(cls, path: str | None, share: float, dataset) -> "StyleSampler | None":
        """The run's sampler (None without --styles); HanddgError when the family needs masks the data lacks."""
        if not path:
            return None
        from handdg.styles.bank import StyleBank

        bank = StyleBank.open(path)
        if bank.family.needs_mask and dataset.load_mask(0) is None:
            raise HanddgError(f"--styles {path} restyles hand and background apart ({bank.family.name}), but "
                              f"{dataset.name} {dataset.split} ships no hand masks: use a bank of family global")
        return cls(bank.family, bank.params, bank.strength, share, {**bank.provenance(), "share": share})

    @property
    def needs_mask(self) -> bool:
        """Whether applying a style reads the crop's hand mask."""
        return self.family.needs_mask

    def draw(self, seed: int) -> int:
        """The bank row that restyles the sample of augmentation seed `seed`, or -1 (left as it is)."""
        gen = keyed_generator(seed, STYLES)
        restyled = float(torch.rand((), generator=gen)) < self.share
        row = int(torch.randint(len(self.params), (), generator=gen))
        return row if restyled else -1

    def apply(self, images: torch.Tensor, masks: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor:
        """(B,3,S,S) crops in [0,1], their (B,1,S,S) masks and (B,) bank rows (-1: none) -> the restyled crops."""
        chosen = (rows >= 0).nonzero().flatten()
        if len(chosen) == 0:
            return images
        picked = rows[chosen].cpu()
        params = self.params[picked].to(images.device)
        strength = self.strength[picked].to(images.device)
        mask = None if masks is None else masks[chosen]
        done = apply(self.family, images[chosen], mask, params, strength).to(images.dtype)
        return images.index_copy(0, chosen, done)


def mirrored_mask(mask: np.ndarray, side: str) -> np.ndarray:
    """A sample's hand mask as uint8 0/255, flipped as its image is for a left hand."""
    out = np.where(np.asarray(mask, bool), 255, 0).astype(np.uint8)
    return np.ascontiguousarray(out[:, ::-1]) if side == "left" else out
