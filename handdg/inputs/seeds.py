"""Seeded generators keyed by (run seed, step, rank, sample, stream): a step's randomness depends
only on its keys, never on what ran before, so a resumed run redraws exactly the same values."""

from __future__ import annotations

import numpy as np
import torch

PROMPTS = 1
AUGMENT = 2
ORDER = 3
STYLES = 4


def keyed_seed(seed: int, *keys: int) -> int:
    """A 64-bit seed mixed from the run seed and integer keys (numpy SeedSequence hashing)."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1, np.uint64)[0])


def keyed_generator(seed: int, *keys: int) -> torch.Generator:
    """A CPU torch.Generator seeded by keyed_seed(seed, *keys)."""
    return torch.Generator().manual_seed(keyed_seed(seed, *keys))
