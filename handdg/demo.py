"""`handdg demo`: the whole pipeline on built-in synthetic hands, into one folder, in minutes on a CPU.

synth (FreiHAND source, STB and RHD targets) -> featurize (real ViT-B-32; pretrained weights
when cached locally, random weights otherwise, said loudly; the 3,920 prompts are encoded once,
in the FreiHAND store, and copied into the target stores) -> train a tiny baseline and an IE+TE
model -> eval both on the three test sets under both protocols -> one retrieval with its contact
sheet -> figures (similarity, t-SNE, PCK) and the paper's tables.

Every stage calls the same library function as its command. Re-running into the same folder
resumes: finished datasets and stores are kept (featurize resumes chunk by chunk), the training
run continues from its last checkpoint, and the cheap stages are redone.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

import click

from handdg import prompts
from handdg.errors import HanddgError
from handdg.loading import usable_cores

RANDOM_BANNER = ("!" * 78 + "\n"
                 "!!  {why}: the demo uses RANDOM CLIP weights.\n"
                 "!!  Every stage runs for real, but the CLIP features carry no meaning; every figure says so.\n"
                 "!!  For meaningful features: handdg demo --clip-weights PATH (a local .pt/.safetensors).\n"
                 + "!" * 78)
QUERY_PROMPT = prompts.PromptParts(head=5, hand_colour=1, hand=0, colour=11, background=1)
"""'a photo of dark brown hand with red background': a colour shift away from the green screen."""


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo: most of its time is training (two runs of `steps`; README says how long it takes)."""

    clip_model: str = "ViT-B-32"
    clip_weights: str | None = None  # None: 'openai' when cached locally, else the built-in handdg-synth
    freihand_count: int = 400  # unique samples; 4 image versions each -> 1,600 training images
    stb_count: int = 30  # frames per STB test sequence (B1Counting + B1Random) -> 60 test images
    rhd_count: int = 160  # RHD training frames written; its evaluation split (1 in 8) -> 20 test images
    preset: str = "tiny"
    steps: int = 1000
    batch_size: int = 32
    ratio: float = 0.6
    tsne_cap: int = 300
    tsne_iterations: int = 1000
    seed: int = 0  # training seed (initialisation, order, augmentation, prompt draws) and the t-SNE's
    data_seed: int = 1  # the synthetic datasets: not seed 0, on which the training recipe was tuned
    featurize_workers: int = 1  # image decoding processes beside the CLIP forward
    synth_workers: int = field(default_factory=usable_cores)  # rendering processes (same bytes for any count)


TINY = DemoSettings(clip_model="handdg-tiny", clip_weights="random", freihand_count=6, stb_count=4, rhd_count=16,
                    preset="tiny", steps=2, batch_size=4, tsne_cap=12, tsne_iterations=250, featurize_workers=0,
                    synth_workers=1)
"""Seconds instead of minutes: a tiny CLIP and network, for tests and a quick look."""


@dataclass
class DemoReport:
    """What the demo made: (description, path) in the order made, and seconds per stage."""

    out: Path
    clip_weights: str = ""
    made: list[tuple[str, Path]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, what: str, path: Path) -> None:
        """Record one artefact."""
        self.made.append((what, Path(path)))

    def summary(self) -> str:
        """A readable list of everything made, where, and how long each stage took."""
        width = max(len(w) for w, _ in self.made) if self.made else 0
        lines = [f"handdg demo: everything is in {self.out}  (CLIP weights: {self.clip_weights})", ""]
        lines += [f"  {what.ljust(width)}  {path}" for what, path in self.made]
        lines += ["", "  time: " + ", ".join(f"{stage} {sec:.0f} s" for stage, sec in self.seconds.items())
                  + f"; total {sum(self.seconds.values()):.0f} s"]
        return "\n".join(lines)


def choose_clip_weights(model: str, requested: str | None) -> str:
    """The requested weights, else 'openai' when that tag is already in the local cache, else 'random'."""
    if requested is not None:
        return requested
    from handdg.featurize.weights import ensure_tag_available

    with _offline_hub():
        try:
            ensure_tag_available(model, "openai")
        except HanddgError:
            return "random"
    return "openai"


@contextlib.contextmanager
def _offline_hub() -> Iterator[None]:
    """HF_HUB_OFFLINE=1 for the duration: look in the cache only, never download."""
    before = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["HF_HUB_OFFLINE"]
        else:
            os.environ["HF_HUB_OFFLINE"] = before


def run_demo(out: Path | str, settings: DemoSettings = DemoSettings(),
             say: Callable[[str], None] = lambda text: click.echo(text, err=True)) -> DemoReport:
    """Run every stage into `out` and return what was made; `say` receives progress lines."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights = choose_clip_weights(settings.clip_model, settings.clip_weights)
    if weights == "builtin" or (weights == "random" and settings.clip_weights is None):  # handdg's own synthetic CLIP
        settings, weights = replace(settings, clip_model="handdg-synth"), "builtin"
        say("CLIP: handdg's built-in handdg-synth, trained on captioned synthetic hands (handdg synthclip train)")
    if weights.startswith("random"):
        why = "As requested" if settings.clip_weights else f"No pretrained {settings.clip_model} weights in the local cache"
        say(RANDOM_BANNER.format(why=why))
    settings = replace(settings, clip_weights=weights)
    report = DemoReport(out, clip_weights=weights)
    stages: list[tuple[str, Callable[[Path, DemoSettings, DemoReport], None]]] = [
        ("synth", _synth), ("featurize", _featurize), ("train", _train), ("eval", _eval),
        ("retrieve", _retrieve), ("figures", _figures),
    ]
    for name, stage in stages:
        say(f"== {name}")
        start = time.perf_counter()
        stage(out, settings, report)
        report.seconds[name] = time.perf_counter() - start
    return report


DATASETS = {"freihand": "train", "stb": "test", "rhd": "test"}
"""The store of each dataset the demo featurizes: the source's training split, the targets' test splits."""


def _data(out: Path, layout: str) -> Path:
    return out / "data" / layout


def _store(out: Path, layout: str) -> Path:
    return out / "stores" / f"{layout}-{DATASETS[layout]}.zarr"


def _synth(out: Path, settings: DemoSettings, report: DemoReport) -> None:
    from handdg.synth import make_dataset

    counts = {"freihand": settings.freihand_count, "stb": settings.stb_count, "rhd": settings.rhd_count}
    for layout, count in counts.items():
        folder = _data(out, layout)
        if not folder.is_dir():
            make_dataset(folder, layout, count, settings.data_seed, workers=settings.synth_workers)
        report.add(f"synthetic {layout} dataset", folder)


def _featurize(out: Path, settings: DemoSettings, report: DemoReport) -> None:
    from handdg.featurize.run import featurize

    source = _store(out, "freihand")
    for layout, split in DATASETS.items():
        store = _store(out, layout)
        featurize(_data(out, layout), layout, split, store, model=settings.clip_model, weights=settings.clip_weights,
                  device="cpu", batch_size=32, workers=settings.featurize_workers,
                  prompts_from=None if store == source else source)
        report.add(f"feature store ({layout} {split})", store)


RUNS = ("baseline", "ie+te")
"""The demo's two runs: without Branch2 and with mixed image + text features (Table 4's first rows)."""


def _run_dir(out: Path, run: str) -> Path:
    return out / "runs" / run


def _train(out: Path, settings: DemoSettings, report: DemoReport) -> None:
    """Train both runs; a run killed earlier continues from its last checkpoint, a finished one is kept
    (handdg.train.lifecycle.ensure_trained)."""
    from handdg.run.config import TrainConfig
    from handdg.train.lifecycle import ensure_trained

    for name in RUNS:
        run = _run_dir(out, name)
        clip = {"branch2": "none"} if name == "baseline" else {
            "branch2": "ie+te", "store": str(_store(out, "freihand")), "ratio": settings.ratio}
        ensure_trained(TrainConfig(data=str(_data(out, "freihand")), layout="freihand", split="train", out=str(run),
                                   preset=settings.preset, steps=settings.steps, batch_size=settings.batch_size,
                                   checkpoint_every=max(settings.steps // 2, 1), seed=settings.seed, device="cpu",
                                   decode_cache=str(out / "cache"), **clip))
        report.add(f"training run {name} (config, metrics.csv, checkpoints, best.safetensors)", run)


def _eval_path(out: Path, run: str, layout: str) -> Path:
    return _run_dir(out, run) / f"eval_{layout}.json"


def _eval(out: Path, settings: DemoSettings, report: DemoReport) -> None:
    from handdg.evaluation.evaluate import evaluate, format_table
    from handdg.run.runs import write_json

    for name in RUNS:
        checkpoint = _run_dir(out, name) / "last.safetensors"
        for layout in DATASETS:
            result = evaluate(checkpoint, layout, _data(out, layout), split="test", device="cpu",
                              show_progress=False)
            write_json(_eval_path(out, name, layout), result)
            click.echo(f"[{name}] " + format_table(result), err=True)
            report.add(f"eval of {name} on {layout} test (both protocols)", _eval_path(out, name, layout))


def _query_image(out: Path) -> str:
    """The demo's query image: the first FreiHAND training sample."""
    from handdg.analysis.store_view import open_store

    return str(open_store(_store(out, "freihand")).ids[0])


def _retrieve(out: Path, settings: DemoSettings, report: DemoReport) -> None:
    from handdg.analysis.retrieval_report import run_retrieval

    result = run_retrieval(_store(out, "freihand"), prompt=str(prompts.parts_to_id(QUERY_PROMPT)),
                           image_id=_query_image(out), ratio=settings.ratio, k=10,
                           sheet=out / "figures" / "retrieval_sheet")
    (out / "figures" / "retrieval.txt").write_text(result.table() + "\n")
    report.add("retrieval ranking (Fig. 4)", out / "figures" / "retrieval.txt")
    report.add("retrieval contact sheet (Fig. 4)", result.sheet[0])


def _figures(out: Path, settings: DemoSettings, report: DemoReport) -> None:
    from handdg.analysis.pck import pck_report
    from handdg.analysis.similarity import similarity_report
    from handdg.analysis.tables import write_tables
    from handdg.analysis.tsne import tsne_report

    figures = out / "figures"
    query = _query_image(out)
    sim = similarity_report(_store(out, "freihand"), [query], [str(prompts.parts_to_id(QUERY_PROMPT)), "0"],
                            settings.ratio, figures / "similarity")
    report.add("cosine-similarity figure", sim[0])
    tsne, _ = tsne_report(_store(out, "freihand"), {"stb": _store(out, "stb"), "rhd": _store(out, "rhd")},
                          figures / "tsne", cap=settings.tsne_cap, seed=settings.seed,
                          iterations=settings.tsne_iterations)
    report.add("t-SNE figure (Fig. 3)", tsne[0])
    evals = [_eval_path(out, name, layout) for name in RUNS for layout in DATASETS]
    labels = [name if name == "baseline" else f"IE+TE r={settings.ratio:g}" for name in RUNS for _ in DATASETS]
    pck = pck_report(evals, labels, figures / "pck")
    report.add("PCK curves, both protocols", pck[0])
    tables = write_tables([_run_dir(out, name) for name in RUNS], out / "tables")
    report.add("paper Tables 3-6 (Markdown; CSV beside)", tables[0])
