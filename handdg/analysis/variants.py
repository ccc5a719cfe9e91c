"""Which ablation variant a training run is, read from the training config that eval results carry."""

from __future__ import annotations

from dataclasses import dataclass

from handdg.train.augment import PHOTOMETRIC
from handdg.train.config import TrainConfig


@dataclass(frozen=True)
class RunVariant:
    """The ablation knobs of a training run, read from its config."""

    branch2: str  # none | ie | te | ie+te
    ratio: float | None
    fusion: str
    lambda_con: float
    augment: frozenset[str]

    @property
    def normal_augmentation(self) -> bool:
        """Whether the run used the 'normal augmentation' set of Table 6 (all six photometric ops)."""
        return set(PHOTOMETRIC) <= self.augment


def run_variant(run_config: dict) -> RunVariant:
    """The variant of a run from the training config an eval result carries (`run_config`)."""
    config = TrainConfig.from_dict(run_config)
    unresolved = config.branch2 == "ie+te" and config.ratio is None and config.target is None
    ratio = None if unresolved else config.mixing_ratio()
    return RunVariant(config.branch2, ratio, config.fusion, config.lambda_con, frozenset(config.augment))
