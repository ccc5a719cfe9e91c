"""PCK curves from `handdg eval` JSON files, one panel per protocol, AUC in the legend.

Curves run over 0–50 mm; for STB results the legend also gives the AUC over 20–50 mm, the range
hand3d reports for STB, and the axis starts at 20 mm when every curve is STB.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from handdg.analysis.figure import FigureContext, body_top, new_figure, save_figure
from handdg.analysis.variants import run_variant
from handdg.errors import HanddgError
from handdg.evaluation.metrics import auc
from handdg.jsonfields import NotAnObject, read_json, require, require_numbers
from handdg.run.runs import CONFIG

PROTOCOLS = ("hand3d", "official")


@dataclass(frozen=True)
class EvalResult:
    """One eval JSON as analysis needs it; the protocol fields are checked when first asked for."""

    path: Path
    label: str
    dataset: str
    data: dict

    @property
    def where(self) -> str:
        """How messages name this file: 'eval result PATH'."""
        return f"eval result {self.path}"

    @property
    def run_config(self) -> dict:
        """The run's training config the result carries ({} when it has none; checked to be an object)."""
        return require(self.data, "run_config", dict, self.where, optional=True, default={})

    def protocol(self, name: str) -> dict:
        """The block of one protocol ('hand3d' or 'official'), checked to be an object."""
        if name not in self.data["protocols"]:
            raise HanddgError(f"{self.where}: protocols.{name} is missing; re-run `handdg eval` to write both "
                              "protocols")
        return require(self.data, f"protocols.{name}", dict, self.where)

    def epe(self, name: str) -> float:
        """Mean EPE (mm) under one protocol."""
        self.protocol(name)
        return require(self.data, f"protocols.{name}.epe_mean_mm", float, self.where)

    def curve(self, name: str) -> tuple[list[float], list[float]]:
        """(thresholds_mm, values) of one protocol's PCK curve, of equal length."""
        self.protocol(name)
        require(self.data, f"protocols.{name}.pck", dict, self.where)
        thresholds = require_numbers(self.data, f"protocols.{name}.pck.thresholds_mm", self.where)
        values = require_numbers(self.data, f"protocols.{name}.pck.values", self.where)
        if len(values) != len(thresholds):
            raise HanddgError(f"{self.where}: protocols.{name}.pck.values has {len(values)} numbers but "
                              f"thresholds_mm has {len(thresholds)}")
        return thresholds, values

    def stored_auc(self, name: str, key: str) -> float | None:
        """The AUC `key` ('auc_0_50', 'auc_20_50') the result carries for a protocol, None when absent."""
        self.protocol(name)
        return require(self.data, f"protocols.{name}.{key}", float, self.where, optional=True)

    def check(self, protocols: Sequence[str], curves: bool = False) -> "EvalResult":
        """Check every field a figure or table of `protocols` reads (the curves and AUCs too if `curves`)."""
        for name in protocols:
            self.epe(name)
            if curves:
                self.curve(name)
                self.stored_auc(name, "auc_0_50")
                self.stored_auc(name, "auc_20_50")
        return self


class NotAnEvalResult(HanddgError):
    """A JSON object without a `protocols` block: some other file (skipped when scanning run folders)."""


def load_eval(path: Path, label: str | None = None) -> EvalResult:
    """Read an eval JSON written by `handdg eval` (one line naming the file and the field if it is not one).

    Checks the fields every use needs (dataset, the protocols object, run_config, checkpoint); the
    fields of a protocol are checked when a figure or table asks for them (EvalResult.check).
    """
    path = Path(path)
    try:
        data = read_json(path, "eval result", missing=f"write it with `handdg eval ... --out {path}`")
    except NotAnObject as exc:
        raise NotAnEvalResult(str(exc)) from None
    where = f"eval result {path}"
    if "protocols" not in data:
        raise NotAnEvalResult(f"{where}: protocols is missing, so it is not a `handdg eval` result; pass the file "
                              "`handdg eval --out` wrote")
    require(data, "protocols", dict, where)
    dataset = require(data, "dataset", str, where)
    require(data, "run_config", dict, where, optional=True)
    require(data, "checkpoint", str, where, optional=True)
    return EvalResult(path, label or default_label(path), dataset, data)


def default_label(path: Path) -> str:
    """A short legend label for an eval file: its run folder and file stem."""
    path = Path(path)
    return f"{path.parent.name}/{path.stem}" if path.parent.name else path.stem


def auc_between(thresholds: Sequence[float], values: Sequence[float], lo: float, hi: float) -> float:
    """Normalised area under the PCK curve over its thresholds within [lo, hi] mm (eval's AUC rule),
    for results that do not carry the AUC of that range themselves."""
    t = np.asarray(thresholds, dtype=np.float64)
    keep = (t >= lo - 1e-9) & (t <= hi + 1e-9)
    if keep.sum() < 2:
        raise HanddgError(f"the PCK curve has fewer than two thresholds in {lo:g}–{hi:g} mm")
    return auc(t[keep], np.asarray(values, dtype=np.float64)[keep])


def legend_label(result: EvalResult, protocol: str) -> str:
    """'label (dataset): AUC 0–50 x.xxx[, 20–50 y.yyy], EPE z.z mm' from the JSON's own numbers."""
    thresholds, values = result.curve(protocol)

    def area(key: str, lo: float, hi: float) -> float:
        stored = result.stored_auc(protocol, key)
        if stored is not None:
            return stored
        try:
            return auc_between(thresholds, values, lo, hi)
        except HanddgError as exc:
            raise HanddgError(f"{result.where}: protocols.{protocol}.pck: {exc}") from None

    text = f"{result.label} ({result.dataset}): AUC 0–50 {area('auc_0_50', 0, 50):.3f}"
    if result.dataset == "stb":
        text += f", 20–50 {area('auc_20_50', 20, 50):.3f}"
    return text + f", EPE {result.epe(protocol):.1f} mm"


def pck_figure(results: Sequence[EvalResult], context: FigureContext, out: Path,
               protocols: Sequence[str] = PROTOCOLS) -> list[Path]:
    """One panel per protocol with every result's PCK curve; PNG + PDF."""
    if not results:
        raise HanddgError("no eval results given; pass one or more eval JSON files")
    width, height = 6.5 * len(protocols), 6.0
    fig = new_figure("3D PCK", context, (width, height))
    grid = fig.add_gridspec(1, len(protocols), left=0.07, right=0.98, bottom=0.1, top=body_top(fig) - 0.05,
                            wspace=0.2)
    start = 20.0 if all(r.dataset == "stb" for r in results) else 0.0
    for j, protocol in enumerate(protocols):
        ax = fig.add_subplot(grid[0, j])
        for result in results:
            ax.plot(*result.curve(protocol), marker=".", label=legend_label(result, protocol))
        ax.set_xlim(start, 50)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("error threshold (mm)")
        ax.set_ylabel("PCK (fraction of joints within threshold)")
        ax.set_title(f"protocol: {protocol}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    return save_figure(fig, out)


def run_clip(result: EvalResult) -> dict | None:
    """CLIP provenance of the run behind an eval result, from the run's config.json (None: no CLIP used).

    The run folder is found from the checkpoint path the result names (RUN/last.safetensors or
    RUN/checkpoints/step_N.safetensors), else beside the eval file.
    """
    checkpoint = Path(require(result.data, "checkpoint", str, result.where, optional=True, default=""))
    for folder in (checkpoint.parent, checkpoint.parent.parent, result.path.parent):
        config = folder / CONFIG
        if config.is_file():
            return require(read_json(config, "run config"), "clip", dict, f"run config {config}", optional=True)
    return {"model": "?", "weights": "unknown (run folder not found)"}


def eval_context(results: Sequence[EvalResult]) -> FigureContext:
    """Figure context from the runs: their CLIP (or 'several'), the eval datasets and r when shared."""
    def one(values: set[str]) -> str:
        if len(values) == 1:
            return values.pop()
        return "several, some random" if any("random" in v for v in values) else "several"

    clips = [run_clip(r) or {"model": "none", "weights": "none (baseline)"} for r in results]
    ratios = {run_variant(r.run_config, r.where, at="run_config").ratio for r in results}
    return FigureContext(
        one({str(c.get("model", "?")) for c in clips}),
        one({str(c.get("weights", "?")) for c in clips}),
        " + ".join(sorted({r.dataset for r in results})),
        ratios.pop() if len(ratios) == 1 else None,
    )


def pck_report(paths: Sequence[Path], labels: Sequence[str], out: Path,
               protocols: Sequence[str] = PROTOCOLS) -> list[Path]:
    """`handdg figures pck`: PCK curves of the eval JSON files `paths` (optionally labelled, in order)."""
    if labels and len(labels) != len(paths):
        raise HanddgError(f"{len(labels)} --label for {len(paths)} eval files; give one label per file or none")
    results = [load_eval(p, labels[i] if labels else None).check(protocols, curves=True) for i, p in enumerate(paths)]
    return pck_figure(results, eval_context(results), out, protocols)
