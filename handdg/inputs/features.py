"""Cached CLIP features for training: image features of the training set held in RAM, prompt
features, one prompt drawn per sample per step, and the paper's mixing of the two.

f_CLIP = r·n(f_CI(x)) + (1−r)·n(f_CT(t)), n = L2 normalisation (`normalise=False` mixes the raw
CLIP outputs, as the paper's formula reads literally). The whole image-feature array is read
from the Zarr store once: random row reads from Zarr are far slower than from RAM (docs/performance.md, claim 6).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from handdg.errors import HanddgError

if TYPE_CHECKING:
    from handdg.data.base import HandDataset


def mix(image: torch.Tensor, text: torch.Tensor, ratio: float, normalise: bool = True) -> torch.Tensor:
    """r·n(image) + (1−r)·n(text) for (B,D) features (n = identity when `normalise` is False)."""
    if normalise:
        image, text = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    return ratio * image + (1.0 - ratio) * text


class ClipFeatures:
    """The training set's CLIP image features (row i = dataset index i) and the prompt features."""

    def __init__(self, image: torch.Tensor | None, prompts: torch.Tensor, provenance: dict,
                 normalise: bool = True) -> None:
        self.image = image
        self.prompts = prompts
        self.provenance = provenance
        self.normalise = normalise

    @property
    def dim(self) -> int:
        """CLIP embedding size D."""
        return int(self.prompts.shape[1])

    @classmethod
    def from_store(cls, path: str | Path, dataset: "HandDataset", normalise: bool = True) -> "ClipFeatures":
        """Load a feature store made from `dataset`, all image rows at once; refuse a store of another
        dataset, an incomplete one or one with skipped images (FeatureStore.check_dataset)."""
        from handdg.stores import FeatureStore

        store = FeatureStore.open(path).check_readable(index=False)
        store.check_dataset(dataset)
        rows = store.row_of(list(dataset.ids))
        everything = store.image_features()
        image = torch.from_numpy(np.ascontiguousarray(everything[rows]))
        prompts = torch.from_numpy(np.asarray(store.prompt_features(), dtype=np.float32))
        return cls(image, prompts, dict(store.clip_provenance), normalise)

    def draw_prompts(self, count: int, gen: torch.Generator) -> torch.Tensor:
        """`count` prompt ids drawn uniformly (with replacement) from `gen`."""
        return torch.randint(0, self.prompts.shape[0], (count,), generator=gen)

    def mixed(self, image_features: torch.Tensor, prompt_ids: torch.Tensor, ratio: float) -> torch.Tensor:
        """f_CLIP for a batch of image features and the prompts drawn for them, float32."""
        return mix(image_features.float(), self.prompts[prompt_ids].float(), ratio, self.normalise)

    def cached_image(self, indices: torch.Tensor) -> torch.Tensor:
        """The cached image features of dataset indices, float32."""
        if self.image is None:
            raise HanddgError("these CLIP features hold no cached image features (online mode)")
        return self.image[indices].float()
