"""Which training runs a paper table needs: its variants (derived from the table rows of
handdg.analysis.tables), one run directory per variant × seed, each run's full TrainConfig, and
the checks that refuse bad inputs before anything is written.

A variant is trained once however many tables use it (the baseline, IE+TE r 0.6 concat λ3 0.1);
the baseline is part of every table's plan, since each row is compared with it seed by seed.
"""

from __future__ import annotations

import dataclasses

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handdg.analysis.tables import DATASETS, TABLES, Table
from handdg.analysis.variants import RunVariant, run_variant
from handdg.errors import HanddgError
from handdg.run.config import AUGMENT_PRESETS, TrainConfig
from handdg.run.options import OPTION, PLANNED, RUNTIME

TABLE_NAMES = tuple(t.name.removeprefix("table") for t in TABLES)
"""The TABLE argument: 3, 4a, 4b, 5, 6 (and `all`)."""
SOURCE_LAYOUT, SOURCE_SPLIT, TEST_SPLIT = "freihand", "train", "test"
RUNTIME_FIELDS = RUNTIME
"""Config fields that may differ between a run directory and its variant (where and how it runs):
the options declared `runtime` (handdg.run.options)."""
FIXED_FIELDS = PLANNED
"""Fields set by the plan itself (the tables' knobs, the inputs, the seed, the runtime options): `--set`
cannot change them; the options declared `reproduce="plan"`."""


@dataclass(frozen=True)
class Variant:
    """One ablation setting of the tables: a name (its folder) and the TrainConfig fields it sets."""

    name: str
    overrides: tuple[tuple[str, Any], ...]

    @property
    def values(self) -> dict[str, Any]:
        """The overrides as a dict."""
        return dict(self.overrides)

    @property
    def uses_clip(self) -> bool:
        """Whether the variant reads the FreiHAND feature store (all but the baselines)."""
        return self.values["branch2"] != "none"

    def knobs(self) -> RunVariant:
        """What the tables read from a run of this variant."""
        return run_variant(TrainConfig(**self.values).to_dict())


def _variant(name: str, branch2: str, **values: Any) -> Variant:
    return Variant(name, (("branch2", branch2), *values.items()))


VARIANTS = (
    _variant("baseline", "none"),
    _variant("ie", "ie"),
    *(_variant(f"ie-te-r{r:g}", "ie+te", ratio=r) for r in (0.9, 0.8, 0.6, 0.4)),
    _variant("te-concat", "te", fusion="concat"),
    _variant("te-sum", "te", fusion="sum"),
    _variant("ie-te-r0.6-sum", "ie+te", ratio=0.6, fusion="sum"),
    *(_variant(f"ie-te-r0.6-lambda{lam:g}", "ie+te", ratio=0.6, lambda_con=lam) for lam in (1.0, 0.01, 0.001)),
    _variant("baseline-normal-aug", "none", augment=AUGMENT_PRESETS["normal"]),
)
"""Every variant of Tables 3–6, each once. Unset knobs keep TrainConfig's defaults (concat, λ3 0.1,
the official augmentation), which is what the tables' rows ask for."""
BASELINE = VARIANTS[0]


def select_tables(name: str) -> tuple[Table, ...]:
    """The tables a TABLE argument names (`all` = every one); HanddgError for any other name."""
    key = name.lower().removeprefix("table")
    if key == "all":
        return TABLES
    if key not in TABLE_NAMES:
        raise HanddgError(f"unknown table {name!r}: choose one of {', '.join(TABLE_NAMES)} or all")
    return (TABLES[TABLE_NAMES.index(key)],)


def fills(variant: Variant, table: Table) -> bool:
    """Whether runs of `variant` fill some row of `table` on some test set."""
    knobs = variant.knobs()
    return any(row.match is not None and row.match(knobs, d) for row in table.rows for d in DATASETS)


def variants_for(tables: tuple[Table, ...], only: tuple[str, ...] = ()) -> list[Variant]:
    """The variants the tables need, the baseline first, in VARIANTS order; `only` (names) keeps just
    those and the baseline. HanddgError for a name that is no variant or fills none of the tables."""
    needed = [v for v in VARIANTS if v is BASELINE or any(fills(v, t) for t in tables)]
    if not only:
        return needed
    names = [v.name for v in VARIANTS]
    for name in only:
        if name not in names:
            raise HanddgError(f"--variants {name}: no such variant; choose from {', '.join(names)}")
        if name not in [v.name for v in needed]:
            raise HanddgError(f"--variants {name}: fills no row of the table(s) asked for; "
                              f"they need {', '.join(v.name for v in needed)}")
    return [v for v in needed if v is BASELINE or v.name in only]


def parse_variants(text: str | None) -> tuple[str, ...]:
    """`--variants a,b,...` -> the names, stripped, without repeats (empty = every variant)."""
    names = [n.strip() for n in (text or "").split(",")]
    return tuple(dict.fromkeys(n for n in names if n))


@dataclass
class Settings:
    """Inputs and options of a reproduction: the same for every run (paths are made absolute)."""

    data: Path
    store: Path
    stb: Path
    rhd: Path
    out: Path
    seeds: int = 3
    train: dict[str, Any] = field(default_factory=lambda: {"preset": "paper"})
    stb_camera: str = "sk"
    device: str = "auto"
    workers: int = 0
    eval_batch_size: int = 32
    variants: tuple[str, ...] = ()
    """Run only these variants (and the baseline); empty = every variant the tables need."""

    def __post_init__(self) -> None:
        for name in ("data", "store", "stb", "rhd", "out"):
            setattr(self, name, Path(getattr(self, name)).expanduser().absolute())
        for name in self.train:
            if name not in OPTION:
                raise HanddgError(f"--set {name}: no such training option (see `handdg train --help`)")
            if name in FIXED_FIELDS:
                raise HanddgError(f"--set {name}: reproduce sets {name} itself (it is a table knob, an input or "
                                  "a run option); use its own option where there is one")
        if self.seeds < 1:
            raise HanddgError(f"--seeds must be at least 1, got {self.seeds}")


@dataclass(frozen=True)
class Run:
    """One training run of the plan: variant × seed, its directory and its full config."""

    index: int
    variant: Variant
    seed: int
    dir: Path
    config: TrainConfig

    @property
    def name(self) -> str:
        """`variant/seedN`, the run directory relative to OUT/runs."""
        return f"{self.variant.name}/seed{self.seed}"


@dataclass(frozen=True)
class Plan:
    """The runs (seed-major, so every variant's seed 0 comes first) behind some tables."""

    table: str
    tables: tuple[Table, ...]
    settings: Settings
    runs: tuple[Run, ...]

    @property
    def variants(self) -> list[str]:
        """The names of the variants the plan runs, in run order."""
        return list(dict.fromkeys(run.variant.name for run in self.runs))

    def run(self, index: int) -> Run:
        """Run number `index` (0-based, as a Slurm array index); HanddgError when out of range."""
        if not 0 <= index < len(self.runs):
            raise HanddgError(f"--run-index {index} is out of range: table {self.table} has {len(self.runs)} runs "
                              f"(0 to {len(self.runs) - 1}); see --list")
        return self.runs[index]


def run_config(variant: Variant, seed: int, settings: Settings, folder: Path) -> TrainConfig:
    """The complete, validated training config of one run."""
    config = TrainConfig(**{**settings.train, **variant.values}, data=str(settings.data), layout=SOURCE_LAYOUT,
                         split=SOURCE_SPLIT, store=str(settings.store) if variant.uses_clip else None,
                         out=str(folder), seed=seed, device=settings.device, workers=settings.workers)
    return config.validate()


def make_plan(table: str, settings: Settings) -> Plan:
    """The runs of `table` (3, 4a, 4b, 5, 6 or all) under `settings`; touches no file."""
    tables = select_tables(table)
    chosen = variants_for(tables, settings.variants)
    runs = []
    for seed in range(settings.seeds):
        for variant in chosen:
            folder = settings.out / "runs" / variant.name / f"seed{seed}"
            runs.append(Run(len(runs), variant, seed, folder, run_config(variant, seed, settings, folder)))
    return Plan(table, tables, settings, tuple(runs))


def check_inputs(settings: Settings) -> None:
    """HanddgError (one line) unless the roots open as their datasets and the store was made from --data."""
    from handdg.data import open_dataset
    from handdg.stores import FeatureStore

    for option, path in (("--data", settings.data), ("--store", settings.store), ("--stb", settings.stb),
                         ("--rhd", settings.rhd)):
        if not path.exists():
            raise HanddgError(f"{option} {path} does not exist")
    source = open_dataset(settings.data, SOURCE_LAYOUT, SOURCE_SPLIT)
    FeatureStore.open(settings.store).check_dataset(source)
    open_dataset(settings.stb, "stb", TEST_SPLIT, settings.stb_camera)
    open_dataset(settings.rhd, "rhd", TEST_SPLIT)


def check_run_dir(run: Run) -> None:
    """HanddgError if `run.dir` holds a run trained with other settings than the plan gives it."""
    from handdg.run.runs import CONFIG
    from handdg.train.validate import default_validation

    path = run.dir / CONFIG
    if not path.is_file():
        return
    try:
        have = TrainConfig.from_dict(json.loads(path.read_text())["config"]).to_dict()
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        raise HanddgError(f"{path} is not a handdg run config; move {run.dir} away or choose another --out") from None
    want = default_validation(dataclasses.replace(run.config)).to_dict()  # as train() records it
    differ = [k for k in want if k not in RUNTIME_FIELDS and have[k] != want[k]]
    if differ:
        shown = ", ".join(f"{k} {have[k]!r} there, {want[k]!r} here" for k in differ[:3])
        raise HanddgError(f"{run.dir} holds a run made with other settings ({shown}); "
                          "give the options it was made with, or choose another --out")


def parse_train_option(text: str) -> tuple[str, Any]:
    """`FIELD=VALUE` of a `--set` option -> (field, value read and checked as the option's declaration says;
    `none` or `null` for an option that may be unset)."""
    name, sep, raw = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep:
        raise HanddgError(f"--set {text}: expected FIELD=VALUE, e.g. --set lr=3e-4")
    if name not in OPTION:
        raise HanddgError(f"--set {name}: no such training option (a TrainConfig field such as lr or "
                          "heatmap_sigma; see `handdg train --help`)")
    option = OPTION[name]
    if option.optional and raw.strip().lower() in ("none", "null"):
        return name, None
    return name, option.parse(raw)
