"""PCK curves from `handdg eval` JSON files, one panel per protocol, AUC in the legend.

Curves run over 0–50 mm; for STB results the legend also gives the AUC over 20–50 mm, the range
hand3d reports for STB, and the axis starts at 20 mm when every curve is STB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from handdg.analysis.figure import FigureContext, body_top, new_figure, save_figure
from handdg.analysis.variants import run_variant
from handdg.errors import HanddgError
from handdg.train.metrics import auc
from handdg.train.runs import CONFIG

PROTOCOLS = ("hand3d", "official")


@dataclass(frozen=True)
class EvalResult:
    """One eval JSON as analysis needs it."""

    path: Path
    label: str
    dataset: str
    data: dict

    def protocol(self, name: str) -> dict:
        """The block of one protocol ('hand3d' or 'official')."""
        try:
            return self.data["protocols"][name]
        except KeyError:
            raise HanddgError(f"{self.path} has no '{name}' protocol; re-run `handdg eval` to write both") from None


def load_eval(path: Path, label: str | None = None) -> EvalResult:
    """Read an eval JSON written by `handdg eval` (one clear line if it is not one)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise HanddgError(f"eval result {path} not found; write it with `handdg eval ... --out {path}`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HanddgError(f"{path} is not JSON ({exc}); pass the file `handdg eval --out` wrote") from None
    if not isinstance(data, dict) or "protocols" not in data or "dataset" not in data:
        raise HanddgError(f"{path} is not a `handdg eval` result (no 'protocols'/'dataset' keys)")
    return EvalResult(path, label or default_label(path), str(data["dataset"]), data)


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
    block = result.protocol(protocol)
    pck = block["pck"]
    auc_full = block.get("auc_0_50", auc_between(pck["thresholds_mm"], pck["values"], 0, 50))
    text = f"{result.label} ({result.dataset}): AUC 0–50 {auc_full:.3f}"
    if result.dataset == "stb":
        text += f", 20–50 {block.get('auc_20_50', auc_between(pck['thresholds_mm'], pck['values'], 20, 50)):.3f}"
    return text + f", EPE {block['epe_mean_mm']:.1f} mm"


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
            pck = result.protocol(protocol)["pck"]
            ax.plot(pck["thresholds_mm"], pck["values"], marker=".", label=legend_label(result, protocol))
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
    checkpoint = Path(result.data.get("checkpoint", ""))
    for folder in (checkpoint.parent, checkpoint.parent.parent, result.path.parent):
        config = folder / CONFIG
        if config.is_file():
            return json.loads(config.read_text()).get("clip")
    return {"model": "?", "weights": "unknown (run folder not found)"}


def eval_context(results: Sequence[EvalResult]) -> FigureContext:
    """Figure context from the runs: their CLIP (or 'several'), the eval datasets and r when shared."""
    def one(values: set[str]) -> str:
        if len(values) == 1:
            return values.pop()
        return "several, some random" if any("random" in v for v in values) else "several"

    clips = [run_clip(r) or {"model": "none", "weights": "none (baseline)"} for r in results]
    ratios = {run_variant(r.data.get("run_config", {})).ratio for r in results}
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
    results = [load_eval(p, labels[i] if labels else None) for i, p in enumerate(paths)]
    return pck_figure(results, eval_context(results), out, protocols)
