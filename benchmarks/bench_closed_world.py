"""Closed world: does text reach the pose network? Text-fitted styles against controls that use no text.

In handdg's synthetic world every prompt word has a look that the built-in synthetic CLIP knows. The source is
synthetic FreiHAND in the `restricted-scenes` look (right hands in peach, light beige or dark brown over six of the
19 background words); the targets are synthetic STB and RHD test sets in the `unseen-scenes` look (white, brown,
pale yellow or black hands over the other 13 words): hand colours and backgrounds only the prompts describe.
`--source-look restricted-hands --target-look unseen-hands` is the earlier world (hand colour alone), in which the
oracle showed no gap on the tuning seed.

Arms, each trained with training seeds 0..N-1 (tiny preset), scored in domain and on both targets:
- baseline; ie-te-r0.6 (the paper's method);
- text-regions, text-global: the baseline trained with a style bank (`handdg styles`, `train --styles`) of each
  transform family, fitted to the 3,920 prompts with the synthetic CLIP;
- random-regions: the matched no-text control, the regions family with random styles, each as large (mean pixel
  change on the same source images) as its text style (`handdg styles --like`);
- mixstyle: MixStyle in the heatmap net's trunk (no text);
- oracle: the baseline trained on the same source poses in the target look, the most any method could gain here.

Every arm is compared with the baseline and with random-regions seed by seed (95 % t-interval), and the share of
the baseline→oracle gap it closes is reported. The design and settings are chosen on data seed 0
(TUNING_DATA_SEED); --data-seed 1 is the report. Each finished run is appended to a ledger
(benchmarks/results/closed_world_runs.jsonl) that is kept in the repository, so a later session (a new machine)
runs only what the ledger lacks; runs in progress resume from their checkpoints while the work folder lasts.

Usage: python benchmarks/bench_closed_world.py [--quick] [--seeds 5] [--steps 1200] [--data-seed 1]
       [--arms baseline,oracle,...] [--work DIR] [--report-only]
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from pathlib import Path

from harness import REPO, RESULTS, Claim, parse_args, print_table, write_result

ARMS = {
    "baseline": ("source", "baseline", {}),
    "ie-te-r0.6": ("source", "ie-te-r0.6", {}),
    "text-regions": ("source", "baseline", {"styles": "regions"}),
    "text-global": ("source", "baseline", {"styles": "global"}),
    "random-regions": ("source", "baseline", {"styles": "random-regions"}),
    "mixstyle": ("source", "baseline", {"feature_stats": "mixstyle"}),
    "oracle": ("oracle", "baseline", {}),
}
"""arm -> (training data, reproduce variant, training options; `styles` names a bank of BANKS)."""
METHOD, CONTROL = "text-regions", "random-regions"
BANKS = {"regions": ("regions", None), "global": ("global", None), "random-regions": ("regions", "regions")}
"""bank -> (family, the text bank it is the matched random control of)."""
BANK_SETTINGS = {"images": 4, "candidates": 256, "steps": 10, "lr": 0.05, "seed": 0}
STYLE_SHARE = 0.5
DATASETS = ("freihand", "stb", "rhd")
PROTOCOLS = ("hand3d", "official")
TUNING_DATA_SEED = 0
SOURCE_LOOK, TARGET_LOOK = "restricted-scenes", "unseen-scenes"
OLD_LOOKS = {"source_look": "restricted-hands", "target_look": "unseen-hands"}
"""The looks of ledger entries written before the looks were recorded."""
BUDGET = ("data_seed", "steps", "batch_size", "source", "targets", "source_look", "target_look")
"""The ledger fields a report's runs share (its arms and seeds vary)."""
LEDGER = RESULTS / "closed_world_runs.jsonl"
QUICK_PROMPTS = ["a photo of white hand with green background", "a photo of black hand with red room"]
QUICK = {"seeds": 2, "steps": 2, "batch_size": 4, "source": 8, "targets": 4}


def _extra(ap) -> None:
    ap.add_argument("--seeds", type=int, default=5, help="runs per arm (training seeds 0..N-1, paired across arms)")
    ap.add_argument("--steps", type=int, default=1200, help="training steps per run")
    ap.add_argument("--batch-size", type=int, default=32, help="samples per training step")
    ap.add_argument("--data-seed", type=int, default=1,
                    help=f"seed of every reported dataset (the design was tuned on {TUNING_DATA_SEED})")
    ap.add_argument("--source", type=int, default=500, help="unique source poses (4 images each)")
    ap.add_argument("--targets", type=int, default=200, help="test images per target (STB SK frames, RHD frames)")
    ap.add_argument("--source-look", default=SOURCE_LOOK, help="the source's look (handdg synth --look)")
    ap.add_argument("--target-look", default=TARGET_LOOK, help="the targets' and the oracle's look")
    ap.add_argument("--arms", default=",".join(ARMS), help="arms to train (comma list; the report covers the ledger)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/handdg-bench-closed-world"),
                    help="datasets, banks, stores and runs (kept: a rerun resumes)")
    ap.add_argument("--report-only", action="store_true", help="train nothing: report what the ledger holds")
    ap.add_argument("--figure", type=Path, default=REPO / "figures" / "closed_world",
                    help="figure path without suffix (.png and .pdf are written)")


def _make(root: Path, layout: str, count: int, seed: int, splits: tuple[str, ...], look: str) -> Path:
    """One synthetic dataset, made once and kept."""
    from handdg.synth import make_dataset

    if not root.is_dir():
        make_dataset(root, layout, count, seed=seed, workers=1, splits=splits, look=look)
    return root


def _datasets(work: Path, args) -> dict[str, Path]:
    """Source (train + held-out split), oracle source, targets of the data seed, and the validation split."""
    n, t, seed, src, tgt = args.source, args.targets, args.data_seed, args.source_look, args.target_look
    folder = work / f"data-seed{seed}"
    roots = {"source": _make(folder / f"freihand-{src}-{n}", "freihand", n, seed, ("train", "test"), src),
             "oracle": _make(folder / f"freihand-{tgt}-{n}", "freihand", n, seed, ("train",), tgt),
             "stb": _make(folder / f"stb-{tgt}-{t}", "stb", max(1, t // 2), seed, ("test",), tgt),
             "rhd": _make(folder / f"rhd-{tgt}-{t}", "rhd", 8 * t, seed, ("test",), tgt)}
    roots["validation"] = _make(validation_root(work, args), "freihand", n, _validation_seed(seed), ("test",), src)
    return roots


def _validation_seed(data_seed: int) -> int:
    """The data seed of the split validation runs on: another seed's, so it never shares a pose with training."""
    return TUNING_DATA_SEED if data_seed != TUNING_DATA_SEED else TUNING_DATA_SEED + 1


def validation_root(work: Path, args) -> Path:
    """The held-out source split validation runs on (made by _datasets)."""
    return work / f"data-seed{_validation_seed(args.data_seed)}" / f"freihand-{args.source_look}-{args.source}-validation"


def runs_root(work: Path, args) -> Path:
    """The folder of every arm's runs for this data seed, budget and world."""
    return work / f"runs-seed{args.data_seed}-{args.steps}x{args.batch_size}-{args.source_look}-{args.targets}"


def _store(data: Path) -> Path:
    """The dataset's feature store, encoded by the built-in synthetic CLIP (a complete store is left as it is)."""
    from handdg.featurize.run import featurize

    store = data.parent / f"{data.name}-handdg-synth.zarr"
    featurize(data, "freihand", "train", store, model="handdg-synth", weights="builtin", device="cpu", workers=1,
              progress=False)
    return store


def _bank(work: Path, args, name: str, source: Path, quick: bool) -> Path:
    """Style bank `name` of the data seed's source (built or finished here; the control after its text bank)."""
    from handdg.styles.run import run_styles

    fam, like = BANKS[name]
    settings = {**BANK_SETTINGS, **({"candidates": 4, "steps": 1, "texts": QUICK_PROMPTS} if quick else {})}
    out = work / f"banks-seed{args.data_seed}-{args.source_look}" / name
    like_path = _bank(work, args, like, source, quick) if like else None
    run_styles(source, "freihand", "train", out, family=fam, like=like_path, model="handdg-synth", weights="builtin",
               device="cpu", progress=True, **settings)
    return out


def _plan(work: Path, roots: dict[str, Path], args, arm: str, quick: bool):
    """The reproduce plan of one arm: its variant (with the baseline) trained with the arm's options."""
    from handdg.reproduce.plan import Settings, check_inputs, make_plan

    data, variant, options = ARMS[arm]
    train = {"preset": "tiny", "steps": args.steps, "batch_size": args.batch_size,
             "checkpoint_every": max(1, args.steps // 3), "val_data": str(roots["validation"]),
             "val_split": "evaluation", **({"heatmap_size": 16} if quick else {})}
    if "styles" in options:
        train.update(styles=str(_bank(work, args, options["styles"], roots["source"], quick)), style_share=STYLE_SHARE)
    train.update({k: v for k, v in options.items() if k != "styles"})
    out = runs_root(work, args) / arm
    settings = Settings(roots[data], _store(roots[data]), roots["stb"], roots["rhd"], out, args.seeds, train,
                        device="cpu", workers=0 if quick else 1, variants=(variant,))
    check_inputs(settings)
    plan = make_plan("all", settings)
    return [run for run in plan.runs if run.variant.name == variant], settings


def _key(args, arm: str, seed: int) -> dict:
    return {"data_seed": args.data_seed, "arm": arm, "seed": seed, "steps": args.steps, "batch_size": args.batch_size,
            "source": args.source, "targets": args.targets, "source_look": args.source_look,
            "target_look": args.target_look}


def read_ledger(path: Path = LEDGER) -> list[dict]:
    """Every finished run recorded so far."""
    if not path.is_file():
        return []
    return [{**OLD_LOOKS, **json.loads(line)} for line in path.read_text().splitlines() if line.strip()]


def _in_ledger(ledger: list[dict], key: dict) -> bool:
    return any(all(entry.get(k) == v for k, v in key.items()) for entry in ledger)


def _record(run, arm: str, args, source: Path, ledger_path: Path) -> dict:
    """The finished run's scores (in domain scored here) appended to the ledger."""
    from handdg.evaluation.evaluate import evaluate
    from handdg.reproduce.state import eval_path, read_timing

    scores, skill = {}, {}
    for dataset in DATASETS:
        if dataset == "freihand":
            data = evaluate(run.dir / "checkpoints" / f"step_{run.config.steps}.safetensors", "freihand", source,
                            "test", device="cpu", workers=0, show_progress=False)
        else:
            data = json.loads(eval_path(run, dataset).read_text())
        scores[dataset] = {p: data["protocols"][p]["epe_mean_mm"] for p in PROTOCOLS}
        skill[dataset] = ((data.get("constant_pose") or {}).get("hand3d") or {}).get("skill_ratio")
    config = json.loads((run.dir / "config.json").read_text())
    entry = {**_key(args, arm, run.seed), "epe_mm": scores, "skill_ratio": skill,
             "config_sha256": hashlib.sha256(json.dumps(config["config"], sort_keys=True).encode()).hexdigest()[:16],
             "styles": (config.get("styles") or {}).get("family"), **read_timing(run.dir)}
    with ledger_path.open("a") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
    return entry


def _train_missing(args, work: Path, ledger_path: Path, say) -> None:
    """Train and score, seed-major, every run of the chosen arms the ledger lacks (runs another process holds are
    skipped: two copies with --threads 1 share the work)."""
    from handdg.reproduce.execute import execute_run
    from handdg.reproduce.state import DONE, status

    roots = _datasets(work, args)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        sys.exit(f"unknown arm(s) {', '.join(unknown)}: choose from {', '.join(ARMS)}")
    plans = {arm: _plan(work, roots, args, arm, args.quick) for arm in arms}
    order = sorted(((run.seed, arm, run) for arm, (runs, _) in plans.items() for run in runs),
                   key=lambda item: (item[0], arms.index(item[1])))
    for k, (seed, arm, run) in enumerate(order):
        if _in_ledger(read_ledger(ledger_path), _key(args, arm, seed)):
            continue
        say(f"[{k + 1}/{len(order)}] {arm}: seed {seed}")
        if execute_run(run, plans[arm][1], say) == DONE and status(run, "sk").state == DONE:
            if not _in_ledger(read_ledger(ledger_path), _key(args, arm, seed)):
                _record(run, arm, args, roots["source"], ledger_path)


def _scores(ledger: list[dict], args) -> tuple[dict, dict, float, list[str]]:
    """EPE by (arm, test set, protocol) and seed, skill ratios by (arm, test set), run-hours and the arms present,
    from the ledger entries of this data seed and budget."""
    epe, skill, seconds = {}, {}, 0.0
    for entry in ledger:
        if any(entry[k] != getattr(args, k) for k in BUDGET):
            continue
        if entry["seed"] >= args.seeds:
            continue
        seconds += entry.get("train_seconds", 0.0) + entry.get("eval_seconds", 0.0)
        for dataset in DATASETS:
            for protocol in PROTOCOLS:
                epe.setdefault((entry["arm"], dataset, protocol), {})[entry["seed"]] = entry["epe_mm"][dataset][protocol]
            if entry["skill_ratio"].get(dataset) is not None:
                skill.setdefault((entry["arm"], dataset), {})[entry["seed"]] = entry["skill_ratio"][dataset]
    present = [arm for arm in ARMS if (arm, "stb", "hand3d") in epe]
    return epe, skill, seconds / 3600, present


def _diff(d) -> str:
    if d is None:
        return "-"
    return f"{d.mean:+.1f} [{d.low:+.1f}, {d.high:+.1f}]" if d.low is not None else f"{d.mean:+.1f} (1 pair)"


def _gap(row) -> str:
    """The share of the baseline→oracle gap closed; on the baseline's row the gap itself."""
    if row.arm == "baseline" and row.gap_mm is not None:
        return f"gap {row.gap_mm:.1f} mm" + ("" if row.gap_shown else " (not shown)")
    if row.gap_closed is None:
        return "no gap shown" if row.gap_mm is not None and not row.gap_shown and row.arm != "oracle" else "-"
    spread = f" [{row.gap_low:.2f}, {row.gap_high:.2f}]" if row.gap_low is not None else ""
    return f"{row.gap_closed:.2f}{spread}"


def _table(results, arms: list[str]) -> list[list[str]]:
    from closed_world_stats import find

    table = []
    for arm in arms:
        for dataset in DATASETS:
            row = find(results, arm, dataset, "hand3d")
            if row is None:
                continue
            spread = f" [{row.low:.1f}, {row.high:.1f}]" if row.low is not None else ""
            table.append([arm, dataset, f"{row.mean:.1f}{spread}", str(len(row.values)), _diff(row.vs_baseline),
                          _diff(row.vs_control), "-" if dataset == "freihand" else _gap(row)])
    return table


def _power(epe: dict, results) -> dict:
    """Per target: the baseline→oracle gap, the spread (sd over seeds) of every arm's paired difference from the
    baseline and from the control, and how many seeds would make the widest one's 95 % half-width ≤ gap / 4."""
    from closed_world_stats import find, seeds_for

    out = {}
    for dataset in DATASETS[1:]:
        base = find(results, "baseline", dataset, "hand3d")
        if base is None or base.gap_mm is None:
            continue
        spreads = {}
        for arm in ARMS:
            for other in ("baseline", CONTROL):
                mine, theirs = epe.get((arm, dataset, "hand3d"), {}), epe.get((other, dataset, "hand3d"), {})
                seeds = sorted(set(mine) & set(theirs))
                if arm != other and len(seeds) >= 2:
                    spreads[f"{arm} - {other}"] = statistics.stdev(mine[s] - theirs[s] for s in seeds)
        bound = abs(base.gap_mm) / 4
        widest = max(spreads.values(), default=None)
        out[dataset] = {"gap_mm": base.gap_mm, "bound_mm": bound, "paired_sd_mm": spreads,
                        "seeds_needed": None if widest is None else seeds_for(widest, bound)}
    return out


def _claims(results, limit: str) -> list[Claim]:
    """The issue's bar: the text arm closes ≥ 50 % of the gap on each target and beats baseline and control."""
    from closed_world_stats import find, judge

    claims = []
    for dataset in DATASETS[1:]:
        row = find(results, METHOD, dataset, "hand3d")
        if row is None:
            continue
        for other, field in (("baseline", "vs_baseline"), (CONTROL, "vs_control")):
            diff = getattr(row, field)
            if diff is not None:
                value = diff.high if diff.high is not None else diff.mean
                claims.append(Claim(f"CW-{dataset}-vs-{other}", f"closed world, {dataset.upper()}: {METHOD} lowers the "
                                    f"hand3d EPE below {other} (95 % CI upper end of the seed-paired difference)",
                                    value, f"Δ {_diff(diff)} mm over {diff.pairs} pairs: {judge(diff)}", target=0.0,
                                    higher_is_better=False, limit=limit, unit=" mm"))
        if row.gap_closed is not None:
            claims.append(Claim(f"CW-{dataset}-gap", f"closed world, {dataset.upper()}: {METHOD} closes at least half "
                                f"of the baseline→oracle gap", row.gap_closed, _gap(row), target=0.5, limit=limit,
                                unit=""))
    return claims


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _extra)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    work = args.work / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    ledger_path = work / "ledger.jsonl" if args.quick else LEDGER
    if args.quick:
        args.out = work
    start = time.perf_counter()
    if not args.report_only:
        _train_missing(args, work, ledger_path, lambda line: print(line, file=sys.stderr, flush=True))
    from closed_world_stats import figure, summarise, verdict
    from handdg.analysis.figure import FigureContext

    epe, skill, hours, arms = _scores(read_ledger(ledger_path), args)
    results = summarise(epe, control=CONTROL)
    sentence = verdict(results, METHOD, control_name="matched no-text control (random-regions)")
    seeds = f"data seed {args.data_seed}, design tuned on data seed {TUNING_DATA_SEED}"
    print_table(f"closed world: hand3d EPE in mm, mean [95% CI] over training seeds (tiny, {args.steps} steps of "
                f"{args.batch_size}; {seeds})",
                ["arm", "test set", "hand3d EPE", "seeds", "Δ vs baseline", f"Δ vs {CONTROL}", "gap closed"],
                _table(results, arms))
    print(f"\nverdict: {sentence}")
    power = _power(epe, results)
    for dataset, p in power.items():
        widest = max(p["paired_sd_mm"].values(), default=float("nan"))
        print(f"power, {dataset.upper()}: gap {p['gap_mm']:.1f} mm, bound {p['bound_mm']:.1f} mm, widest paired sd "
              f"{widest:.1f} mm -> {p['seeds_needed']} seeds")
    context = FigureContext("handdg-synth", "builtin", f"closed world, {seeds} ({args.source_look} → {args.target_look})")
    figures = figure(results, tuple(arms), context, args.figure if not args.quick else work / "closed_world",
                     control=CONTROL) if arms else []
    limit = f"tiny preset, {args.steps} steps of {args.batch_size} on CPU, training seeds 0..{args.seeds - 1}"
    details = {"arms": {a: {"data": d, "variant": v, "options": o} for a, (d, v, o) in ARMS.items()},
               "method": METHOD, "control": CONTROL, "seeds": args.seeds, "steps": args.steps,
               "batch_size": args.batch_size, "preset": "tiny", "source_poses": args.source, "targets": args.targets,
               "source_look": args.source_look, "target_look": args.target_look,
               "bank_settings": BANK_SETTINGS, "style_share": STYLE_SHARE,
               "tuning_data_seed": TUNING_DATA_SEED, "report_data_seed": args.data_seed,
               "clip": "handdg-synth builtin", "ledger": str(ledger_path),
               "wall_minutes": round((time.perf_counter() - start) / 60, 2), "run_hours": round(hours, 3),
               "verdict": sentence, "power": power, "figure": [str(p) for p in figures], "results": [r.to_json() for r in results],
               "skill_ratio_hand3d": {f"{a}/{d}": {str(s): v for s, v in sorted(r.items())}
                                      for (a, d), r in skill.items()}}
    write_result(f"closed_world-dataseed{args.data_seed}", args, _claims(results, limit), details)


if __name__ == "__main__":
    main()
