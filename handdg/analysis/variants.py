"""Which ablation variant a training run is, read from the training config that eval results carry."""

from __future__ import annotations

from dataclasses import dataclass

from handdg.errors import HanddgError
from handdg.inputs.augment import PHOTOMETRIC
from handdg.jsonfields import require, require_list, shown
from handdg.run.config import BRANCH2_MODES, TARGET_RATIOS, TrainConfig


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


def run_variant(run_config: dict, where: str | None = None, at: str = "") -> RunVariant:
    """The variant of a run from the training config an eval result carries (`run_config`).

    The fields the variant reads are checked first: a wrong one is one HanddgError line that starts
    with `where` (e.g. "eval result PATH") and names the field under `at` (e.g. "run_config.ratio").
    """
    label = where or "training config"
    if not isinstance(run_config, dict):
        raise HanddgError(f"{label}: {at or 'the training config'} is {shown(run_config)}, expected an object")
    for key, kind, choices in (("branch2", str, BRANCH2_MODES), ("fusion", str, ("concat", "sum")),
                               ("lambda_con", float, None)):
        if key in run_config:  # absent: TrainConfig's default
            require(run_config, key, kind, label, at=at, choices=choices)
    require(run_config, "ratio", float, label, at=at, optional=True)
    require(run_config, "target", str, label, at=at, optional=True, choices=tuple(TARGET_RATIOS))
    if "augment" in run_config:
        require_list(run_config, "augment", str, label, at=at)
    try:
        config = TrainConfig.from_dict(run_config)
        unresolved = config.branch2 == "ie+te" and config.ratio is None and config.target is None
        ratio = None if unresolved else config.mixing_ratio()
    except HanddgError as exc:
        raise HanddgError(f"{where}: {exc}" if where else str(exc)) from None
    return RunVariant(config.branch2, ratio, config.fusion, config.lambda_con, frozenset(config.augment))
