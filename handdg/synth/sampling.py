"""Which random numbers and which person each synthetic sample gets: pure functions of the seed.

Every sample draws from its own generator seeded by (seed, layout, split, index), so a dataset
depends only on its seed, never on the number of worker processes or the order of work.
"""

from __future__ import annotations

import numpy as np

from handdg.errors import HanddgError
from handdg.synth.people import Subject, sample_subject

LAYOUTS = ("freihand", "rhd", "stb")


def check_seed(seed: int) -> None:
    """A seed must be a non-negative integer (numpy's seed sequences take no negatives)."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise HanddgError(f"seed must be a non-negative integer (got {seed!r})")


def sample_rng(seed: int, layout: str, split: str, index: int) -> np.random.Generator:
    """The generator of one sample: a pure function of (seed, layout, split, index)."""
    return np.random.default_rng([seed, LAYOUTS.index(layout), ("train", "test").index(split), index])


# Distinct people per split, as in the real datasets: FreiHAND 32 training subjects (a disjoint
# pool of 8 for evaluation here), RHD 16 training and 4 evaluation characters, STB one subject.
SUBJECTS = {("freihand", "train"): 32, ("freihand", "test"): 8, ("rhd", "train"): 16, ("rhd", "test"): 4,
            ("stb", "train"): 1, ("stb", "test"): 1}
_LOOKS = {"freihand": (0.5, 0.0), "rhd": (0.7, 0.25), "stb": (1.0, 0.0)}  # P(sleeve), P(gloves): RHD's CG characters


def subject_for(seed: int, layout: str, split: str, index: int) -> Subject:
    """The person in sample `index`: member index % pool of the split's subject pool (STB: the same one in both)."""
    split_key = 0 if layout == "stb" else ("train", "test").index(split)
    member = index % SUBJECTS[layout, split]
    rng = np.random.default_rng([seed, LAYOUTS.index(layout), split_key, member, 1])  # 5 words: not a sample stream
    sleeves, gloves = _LOOKS[layout]
    return sample_subject(rng, sleeve_probability=sleeves, glove_probability=gloves)


def eval_count(count: int) -> int:
    """Size of the small held-out split written next to `count` training samples (one in eight, at least 1)."""
    return max(1, -(-count // 8))
