"""Style banks: what stage one costs (fitting styles with CLIP) and what `train --styles` costs a training step.

Stage one: seconds per prompt to fit regions and global banks on the built-in synthetic CLIP (measured here, the
closed world's settings), and the FLOPs a bank of the paper's 3,920 prompts takes with ViT-B-32 at the command's
defaults (counted with torch's FlopCounterMode on a randomly initialised ViT-B-32), turned into GPU minutes at an
assumed utilisation. Stage two: samples/s of the tiny preset's training with no styles and with each bank, runs
interleaved (the issue's bar: restyling costs at most 10 %).

Usage: python benchmarks/bench_styles.py [--quick] [--steps 40] [--repeats 2] [--work DIR]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from harness import Claim, count_flops, parse_args, write_result

TEXT_COUNT = 3920
H200_BF16_DENSE = 989e12
"""FLOP/s of an H200's dense bf16 tensor cores (NVIDIA's datasheet)."""
UTILISATION = 0.4
DEFAULTS = {"images": 8, "candidates": 256, "steps": 30}
"""`handdg styles`' defaults, which a real bank (ViT-B-32 over FreiHAND) uses."""
CLOSED_WORLD = {"images": 4, "candidates": 256, "steps": 10}


def _extra(ap) -> None:
    ap.add_argument("--steps", type=int, default=40, help="training steps per timed run")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved runs per variant")
    ap.add_argument("--prompts", type=int, default=128, help="prompts fitted per family to time stage one")
    ap.add_argument("--work", type=Path, default=None, help="where datasets and banks go (default: a temp dir)")


def _source(work: Path, quick: bool) -> Path:
    from handdg.synth import make_dataset

    root = work / "source"
    if not root.is_dir():
        make_dataset(root, "freihand", 8 if quick else 200, seed=0, splits=("train",), look="restricted-hands")
    return root


def fit_seconds(source: Path, work: Path, family: str, prompts: int, settings: dict) -> float:
    """Seconds per prompt to fit a text bank of the first `prompts` prompts on the synthetic CLIP."""
    from handdg.prompts import all_prompts
    from handdg.styles.run import run_styles

    out = work / f"bank-{family}"
    shutil.rmtree(out, ignore_errors=True)  # a bank left by an earlier run would be read, not fitted
    start = time.perf_counter()
    run_styles(source, "freihand", "train", out, family=family, model="handdg-synth",
               weights="builtin", device="cpu", progress=False, texts=list(all_prompts()[:prompts]), **settings)
    return (time.perf_counter() - start) / prompts


def vit_b32_flops() -> float:
    """FLOPs of one ViT-B-32 image forward at 224 px."""
    import open_clip
    import torch

    model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    with torch.inference_mode():
        return float(count_flops(lambda: model.encode_image(torch.rand(1, 3, 224, 224))))


def bank_flops(per_image: float, settings: dict, prompts: int = TEXT_COUNT) -> float:
    """FLOPs of one bank: the candidates embedded once, then per prompt `steps` forward+backward passes (3x a
    forward) over `images` images and one scoring forward over them."""
    k = settings["images"]
    shared = (settings["candidates"] + 2) * k * per_image
    return shared + prompts * (3 * settings["steps"] + 1) * k * per_image


def samples_per_second(source: Path, banks: dict[str, Path | None], work: Path, steps: int, repeats: int,
                       quick: bool) -> dict[str, list[float]]:
    """Tiny-preset training samples/s per variant, runs interleaved across variants."""
    from handdg.run.config import TrainConfig
    from handdg.train.loop import train
    from handdg.train.timing import StepTimer

    base = TrainConfig(data=str(source), preset="tiny", branch2="none", batch_size=4 if quick else 32, steps=steps,
                       checkpoint_every=10_000, log_every=10_000, device="cpu", decode_cache=str(work / "cache"),
                       style_share=0.5, **({"heatmap_size": 16} if quick else {}))
    rates: dict[str, list[float]] = {name: [] for name in banks}
    for rep in range(repeats):
        for name, bank in banks.items():
            timer = StepTimer()
            train(replace(base, styles=str(bank) if bank else None, out=str(work / f"run-{name}-{rep}")), timer=timer)
            rates[name].append(base.batch_size / timer.summary()["step_s"])
    return rates


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _extra)
    if args.quick:
        args.steps, args.repeats, args.prompts = 5, 1, 2
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        source = _source(work, args.quick)
        fit = {fam: fit_seconds(source, work, fam, args.prompts, CLOSED_WORLD) for fam in ("regions", "global")}
        rates = samples_per_second(source, {"none": None, "regions": work / "bank-regions",
                                            "global": work / "bank-global"}, work, args.steps, args.repeats,
                                   args.quick)
    per_image = vit_b32_flops()
    flops = bank_flops(per_image, DEFAULTS)
    gpu_minutes = flops / (H200_BF16_DENSE * UTILISATION) / 60
    median = {name: statistics.median(values) for name, values in rates.items()}
    cost = {name: 1 - median[name] / median["none"] for name in ("regions", "global")}
    print(f"stage one on the synthetic CLIP ({CLOSED_WORLD}): " + ", ".join(
        f"{fam} {s:.2f} s/prompt ({s * TEXT_COUNT / 60:.0f} min for {TEXT_COUNT})" for fam, s in fit.items()))
    print(f"ViT-B-32 bank at the defaults {DEFAULTS}: {flops / 1e15:.1f} PFLOP = {gpu_minutes:.1f} min on an H200 at "
          f"{UTILISATION:.0%} of its dense bf16 peak")
    print("tiny preset samples/s: " + ", ".join(f"{n} {v:.1f}" for n, v in median.items()), file=sys.stdout)
    claims = [Claim(f"STY-cost-{fam}", f"train --styles ({fam} bank) costs at most 10 % of the tiny preset's "
                    "samples/s", cost[fam], f"{median[fam]:.1f} vs {median['none']:.1f} samples/s", target=0.10,
                    higher_is_better=False, limit="2 CPU cores, workers default", unit="")
              for fam in cost]
    details = {"fit_seconds_per_prompt": fit, "fit_settings": CLOSED_WORLD, "prompts_timed": args.prompts,
               "vit_b32_forward_flops": per_image, "bank_flops_defaults": flops, "bank_settings_defaults": DEFAULTS,
               "gpu_minutes_h200": gpu_minutes, "utilisation_assumed": UTILISATION,
               "samples_per_second": rates, "samples_per_second_median": median, "cost_share": cost,
               "steps": args.steps, "repeats": args.repeats}
    write_result("styles", args, claims, details)


if __name__ == "__main__":
    main()
