"""Claim 3: what caching CLIP saves in training — cached vs online CLIP features, and both vs no Branch2.

Three variants of handdg's own training loop (`handdg.train.loop.train`, the code `handdg train`
runs) on a synthetic FreiHAND set made by `handdg.synth`:

- baseline: `--branch2 none` (the network without Branch2, no CLIP at all);
- cached:   `--branch2 ie+te --clip-mode cached` (image features read from a feature store);
- online:   `--branch2 ie+te --clip-mode online` (frozen ViT-B/32 run on every batch's crops,
            as the official code does).

Each variant trains for a few steps; a StepClock (a torch optimiser post-step hook, no change
to the loop) stamps every optimiser step, and the time per step is the median interval between
consecutive steps: data, CLIP features, forward, backward and update of one whole step, without
setup (dataset, model, store, run directory) or the first step's warm-up. The online mode also encodes the 3,920 prompts once at start; that one-time cost is claim 4's
subject, so here it encodes only the first 256 (`first_prompts`, through handdg.inputs.clip_input's
`prompt_texts` hook; draws then come from those; a step costs the same).

Per epoch of FreiHAND (130,240 images) = steps per epoch × time per step. The GPU figure is
from FLOP counts (torch's FlopCounterMode): (training FLOPs + CLIP FLOPs) / training FLOPs
per image, i.e. the speed-up if CLIP ran at the same FLOP rate as the pose network.

Usage: python benchmarks/bench_train.py [--quick] [--threads N] [--presets small,paper] [--batch 32]
       [--paper-batch 4] [--steps 4] [--paper-steps 3] [--repeats 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch

from harness import Claim, StepClock, count_flops, parse_args, print_table, write_result
from synthetic import freihand_with_store

FREIHAND_IMAGES = 130_240
ONLINE_PROMPTS = 256
VARIANTS = {
    "baseline": {"branch2": "none"},
    "cached": {"branch2": "ie+te", "clip_mode": "cached"},
    "online": {"branch2": "ie+te", "clip_mode": "online"},
}


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--presets", default="small,paper", help="network presets to measure, comma-separated")
    ap.add_argument("--batch", type=int, default=32, help="batch size (the trainer's default)")
    ap.add_argument("--paper-batch", type=int, default=4, help="batch size for the paper preset (CPU time)")
    ap.add_argument("--steps", type=int, default=4, help="steps per run (the first only starts the clock)")
    ap.add_argument("--paper-steps", type=int, default=3, help="steps per run of the paper preset")
    ap.add_argument("--repeats", type=int, default=1, help="runs per variant, interleaved")
    ap.add_argument("--unique", type=int, default=16, help="synthetic FreiHAND samples (x4 images)")


@contextmanager
def first_prompts(count: int | None) -> Iterator[None]:
    """Online CLIP encodes only the first `count` prompts (None: all) at a run's start, inside the block."""
    from handdg.inputs import clip_input

    everything = clip_input.prompt_texts
    clip_input.prompt_texts = lambda: everything()[:count]
    try:
        yield
    finally:
        clip_input.prompt_texts = everything


def step_time(config, variant: str) -> float:
    """Median seconds per step of one `train()` of `config` (online runs encode only ONLINE_PROMPTS prompts)."""
    from handdg.train.loop import train

    with StepClock() as clock, first_prompts(ONLINE_PROMPTS if variant == "online" else None):
        train(config)
    return clock.step_seconds()


def step_seconds(base, work: Path, steps: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per step of each variant, runs interleaved across variants."""
    per_step: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for rep in range(repeats):
        for name, changes in VARIANTS.items():
            per_step[name].append(step_time(replace(base, **changes, steps=steps, out=str(work / f"{name}{rep}")), name))
    return per_step


def flops_per_image(base, encoder, clip_dim: int) -> dict[str, float]:
    """FLOPs per image of a training step (forward + backward, with and without Branch2) and of CLIP's forward."""
    from handdg.model.losses import total_loss
    from handdg.model.network import HandPoseNet
    from handdg.train.loop import loss_config, model_config

    net = HandPoseNet(model_config(base, clip_dim)).train()
    size, batch = net.config.input_size, 2
    images, side = torch.rand(batch, 3, size, size), torch.ones(batch)
    heat = torch.rand(batch, 21, base.heatmap_size, base.heatmap_size)
    coords, rotation = torch.randn(batch, 21, 3), torch.randn(batch, 3, 3)

    def step(clip: torch.Tensor | None) -> None:
        total_loss(net(images, side, clip), heat, coords, rotation, loss_config(base)).total.backward()

    crop = torch.rand(1, 3, encoder.image_size, encoder.image_size, device=encoder.device)
    with torch.inference_mode():
        clip_flops = count_flops(lambda: encoder.model.encode_image(crop))
    return {"train_branch2": count_flops(lambda: step(torch.randn(batch, clip_dim))) / batch,
            "train_baseline": count_flops(lambda: step(None)) / batch, "clip_forward": float(clip_flops)}


def measure_preset(args: argparse.Namespace, preset: str, batch: int, data: tuple[Path, Path], encoder,
                   work: Path) -> dict:
    """Step times of the three variants and FLOP counts for one preset."""
    from handdg.run.config import TrainConfig

    steps = args.paper_steps if preset == "paper" else args.steps
    root, store = data
    base = TrainConfig(data=str(root), store=str(store), preset=preset, batch_size=batch, ratio=0.6,
                       clip_model=args.clip_model, clip_weights="random", checkpoint_every=10_000, log_every=10_000,
                       device="cpu")
    per_step = step_seconds(base, work / preset, steps, args.repeats)
    return {"preset": preset, "batch": batch, "steps": steps, "repeats": args.repeats,
            "step_s": {name: statistics.median(values) for name, values in per_step.items()},
            "step_s_runs": per_step, "flops_per_image": flops_per_image(base, encoder, encoder.embed_dim)}


def preset_claims(m: dict) -> list[Claim]:
    """The claims of one preset: caching's speed-up per epoch here and on a GPU, and Branch2's cost."""
    step, batch, flops = m["step_s"], m["batch"], m["flops_per_image"]
    epoch_h = {name: FREIHAND_IMAGES / batch * s / 3600 for name, s in step.items()}
    gpu = (flops["train_branch2"] + flops["clip_forward"]) / flops["train_branch2"]
    where = f"{m['preset']} preset, batch {batch}"
    return [
        Claim("3", f"training, cached vs online CLIP: speed-up per FreiHAND epoch on this CPU ({where})",
              step["online"] / step["cached"],
              f"epoch {epoch_h['cached']:.1f} h cached vs {epoch_h['online']:.1f} h online "
              f"(step {step['cached']:.2f} vs {step['online']:.2f} s)", unit="×",
              limit="the pose network's own forward+backward, which caching does not touch"),
        Claim("3", f"training, cached IE+TE step vs baseline without Branch2 ({where})",
              step["cached"] / step["baseline"],
              f"step {step['cached']:.2f} vs {step['baseline']:.2f} s; epoch {epoch_h['baseline']:.1f} h baseline",
              unit="×", limit="Branch2 + projection head + contrastive loss"),
        Claim("3", f"training, cached vs online CLIP: speed-up per epoch on a GPU, from FLOPs ({m['preset']} preset)",
              gpu, f"{flops['train_branch2'] / 1e9:.1f} GFLOP/img training step + {flops['clip_forward'] / 1e9:.2f} "
                   "GFLOP/img CLIP, at equal FLOP rates", unit="×",
              limit="an upper bound: CLIP under fp16 autocast runs at a higher FLOP rate than fp32 training"),
    ]


def main() -> None:
    """Measure each preset and write the claims."""
    args = parse_args(__doc__, _options)
    from handdg.featurize.clip import load_clip

    args.clip_model = "ViT-B-32"
    presets = [(p, args.paper_batch if p == "paper" else args.batch) for p in args.presets.split(",") if p]
    if args.quick:
        args.clip_model, args.unique, args.steps, presets = "handdg-tiny", 4, 3, [("tiny", 4)]
    encoder = load_clip(args.clip_model, "random", "cpu")
    with tempfile.TemporaryDirectory(prefix="handdg-bench-train-") as tmp:
        work = Path(tmp)
        data = freihand_with_store(work, args.unique, encoder)
        measured = [measure_preset(args, preset, batch, data, encoder, work) for preset, batch in presets]
    print_table(f"training step, s ({args.threads} threads, CLIP {args.clip_model})",
                ["preset", "batch", *VARIANTS, "online/cached", "GFLOP/img train", "GFLOP/img CLIP"],
                [[m["preset"], m["batch"], *(m["step_s"][v] for v in VARIANTS),
                  m["step_s"]["online"] / m["step_s"]["cached"], m["flops_per_image"]["train_branch2"] / 1e9,
                  m["flops_per_image"]["clip_forward"] / 1e9] for m in measured])
    write_result("train", args, [c for m in measured for c in preset_claims(m)],
                 {"clip_model": args.clip_model, "freihand_images": FREIHAND_IMAGES, "online_prompts": ONLINE_PROMPTS,
                  "synthetic_unique_samples": args.unique, "presets": measured})


if __name__ == "__main__":
    main()
