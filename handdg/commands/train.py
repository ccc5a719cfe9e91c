"""`handdg train` and `handdg eval`: thin click layers over handdg.train.loop.train and
handdg.train.evaluate.evaluate. Train options are generated from TrainConfig's fields."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import click

from handdg.commands.types import COUNT, NON_NEGATIVE, POSITIVE, RATIO, WORKERS
from handdg.errors import HanddgError
from handdg.train.config import (AUGMENT_PRESETS, AUGMENTATIONS, BRANCH2_MODES, MEMORY_FORMATS, PRECISIONS, PRESETS,
                                 ROTATIONS, TrainConfig, parse_augment)

LAYOUT = click.Choice(["freihand", "rhd", "stb"])
WORKERS_HELP = "Data-loading worker processes (default: usable CPU cores - 1; 0 loads in this process)."
PRECISION_HELP = ("Number format: fp32, or bf16 / fp16 autocast (fp16 with loss scaling); "
                  "auto = bf16 on CUDA GPUs that support it, fp32 otherwise.")

# (TrainConfig field, click option kwargs). A field missing here is set by a positional/other option.
TRAIN_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("data", {"type": click.Path(path_type=str), "help": "Training dataset root (in its own on-disk layout)."}),
    ("layout", {"type": LAYOUT, "help": "Layout of --data."}),
    ("split", {"help": "Split of --data to train on."}),
    ("store", {"type": click.Path(path_type=str),
               "help": "Feature store of --data made by `handdg featurize` (cached CLIP features)."}),
    ("preset", {"type": click.Choice(PRESETS), "help": "Network size: paper (256 px, published widths), small, tiny."}),
    ("norm", {"type": click.Choice(["batch", "none"]),
              "help": "batch: BatchNorm after the heatmap net's hidden convs; none: the official network layer for layer."}),
    ("rotation", {"type": click.Choice(ROTATIONS),
                  "help": "ViewPoint's rotation output: 6d (continuous, Zhou et al. 2019) or axis-angle (H3D, the official net)."}),
    ("branch2", {"type": click.Choice(BRANCH2_MODES),
                 "help": "none = baseline; ie = CLIP image only (r=1); te = text only (r=0); ie+te = mixed."}),
    ("ratio", {"type": RATIO, "help": "Image weight r of f = r·n(f_CI) + (1-r)·n(f_CT) (ie+te)."}),
    ("target", {"type": click.Choice(["stb", "rhd"]), "help": "Use the paper's ratio for this target: stb 0.6, rhd 0.9."}),
    ("normalise_mix", {"flag": "--normalise-mix/--raw-mix",
                       "help": "L2-normalise image and text features before mixing, or mix raw CLIP outputs."}),
    ("fusion", {"type": click.Choice(["concat", "sum"]), "help": "How Branch2 joins the CLIP feature (Table 4b)."}),
    ("lambda_heat", {"type": NON_NEGATIVE, "help": "λ1, heatmap loss weight."}),
    ("lambda_pose", {"type": NON_NEGATIVE, "help": "λ2, 3D pose loss weight."}),
    ("lambda_con", {"type": NON_NEGATIVE, "help": "λ3, contrastive loss weight (Table 5)."}),
    ("contrastive", {"type": click.Choice(["paper", "hinge"]),
                     "help": "Eq. 4 as printed (unbounded below), or its bounded hinge form."}),
    ("heat_reduction", {"type": click.Choice(["sum", "mean"]),
                        "help": "L_heat per sample: sum over maps and pixels (Eq. 2's squared norm) or per-pixel mean."}),
    ("heat_stages", {"type": click.Choice(["all", "last"]),
                     "help": "Supervise every CPM stage (hand3d) or only the last."}),
    ("pose_gradient", {"type": click.Choice(["joint", "lifting"]),
                       "help": "joint: L_pose also trains the heatmap net (end-to-end); lifting: only the lifting nets."}),
    ("gt_lifting", {"flag": "--gt-lifting/--no-gt-lifting",
                    "help": "Also train PosePrior/ViewPoint on the ground-truth maps each step (hand3d's lifting training)."}),
    ("pose_target", {"type": click.Choice(["canonical", "2.5d"]),
                     "help": "3D target: hand3d canonical pose + rotation, or the released code's 2.5-D."}),
    ("root", {"type": click.Choice(["wrist", "palm"]), "help": "What joint 0 is to the network."}),
    ("heatmap_size", {"type": COUNT, "help": "Side of the ground-truth heatmaps."}),
    ("heatmap_sigma", {"type": POSITIVE, "help": "Gaussian std of the GT heatmaps, in GT heatmap pixels."}),
    ("crop_scale", {"type": POSITIVE, "help": "Crop side = this × the longer side of the 2D joints' box."}),
    ("batch_size", {"type": COUNT, "help": "Samples per step per process."}),
    ("steps", {"type": COUNT, "help": "Optimiser steps in all (with --resume: extend the run to this many)."}),
    ("lr", {"type": POSITIVE, "help": "Adam learning rate (the schedule's peak)."}),
    ("lr_schedule", {"type": click.Choice(["cosine", "step", "constant"]),
                     "help": "cosine: 5% warm-up then cosine to 1%; step: x0.1 at 1/3 and 2/3; constant (paper)."}),
    ("seed", {"type": click.IntRange(min=0), "help": "Seed of initialisation, data order, augmentation and prompt draws."}),
    ("augment", {"help": f"{', '.join(AUGMENT_PRESETS)} or a comma list of {', '.join(AUGMENTATIONS)}."}),
    ("clip_mode", {"type": click.Choice(["cached", "online"]),
                   "help": "cached = features from --store; online = frozen CLIP in every step (reference)."}),
    ("clip_model", {"help": "CLIP architecture for --clip-mode online."}),
    ("clip_weights", {"help": "CLIP weights for --clip-mode online: tag, local file or random[:SEED]."}),
    ("checkpoint_every", {"type": COUNT, "help": "Steps between checkpoints."}),
    ("keep_checkpoints", {"type": COUNT, "help": "How many recent checkpoints to keep."}),
    ("log_every", {"type": COUNT, "help": "Steps between metrics.csv rows."}),
    ("workers", {"type": WORKERS, "help": WORKERS_HELP}),
    ("device", {"help": "auto, cpu, cuda or cuda:N."}),
    ("precision", {"type": click.Choice(PRECISIONS), "help": PRECISION_HELP}),
    ("memory_format", {"type": click.Choice(MEMORY_FORMATS),
                       "help": "Tensor layout of the network: auto = channels_last for bf16/fp16 on CUDA."}),
    ("val_data", {"type": click.Path(path_type=str),
                  "help": "Validation dataset root (default: --data's FreiHAND evaluation split when labelled)."}),
    ("val_layout", {"type": LAYOUT, "help": "Layout of --val-data (default: --layout)."}),
    ("val_split", {"help": "Split of --val-data (default: evaluation for FreiHAND, else test)."}),
    ("val_every", {"type": int, "help": "Steps between validations (default: --checkpoint-every)."}),
    ("val_limit", {"type": int, "help": "Validate on at most this many evenly spaced samples (0 = all)."}),
    ("init", {"type": click.Path(path_type=str),
              "help": "Start from this checkpoint's weights with a fresh optimiser (fine-tuning; e.g. an "
                      "`handdg import-official` model with --preset paper --norm none --rotation axis-angle "
                      "--pose-target 2.5d)."}),
]
RESUMABLE = {"steps", "workers", "device", "data", "store"}
"""Options that may change when a run is resumed (handdg.train.loop.resume's keywords); the rest
comes from its config.json."""


def _train_options(command: Callable) -> Callable:
    defaults = TrainConfig()
    for field, kwargs in reversed(TRAIN_OPTIONS):
        default = getattr(defaults, field)
        if field == "augment":
            default = next(name for name, value in AUGMENT_PRESETS.items() if value == default)
        kwargs = dict(kwargs)
        flag = kwargs.pop("flag", "--" + field.replace("_", "-"))
        command = click.option(flag, field, default=default, show_default=default not in (None, ""), **kwargs)(command)
    return command


@click.command("train")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Run directory to create (or resume).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint, exactly.")
@_train_options
@click.pass_context
def train(ctx: click.Context, out: Path, resume: bool, **options: Any) -> None:
    """Train the hand pose network on cached CLIP features (the paper's method and its ablations).

    Works the same under `torchrun --nproc-per-node N` (DistributedDataParallel).
    """
    from handdg.train.loop import resume as resume_run, train as run_training

    given = {name for name in options if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    if resume:
        fixed = sorted(given - RESUMABLE)
        if fixed:
            flags = ", ".join("--" + name.replace("_", "-") for name in fixed)
            raise HanddgError(f"--resume continues {out} as its config.json says; {flags} cannot change "
                              "(only --steps, --workers, --device, and where --data and --store are now, may)")
        resume_run(out, **{name: options[name] for name in RESUMABLE & given})
    else:
        options["augment"] = parse_augment(options["augment"])
        for name in ("data", "store", "init"):
            options[name] = str(Path(options[name]).resolve()) if options[name] else options[name]
        run_training(TrainConfig(out=str(out), **options))
    if os.environ.get("RANK", "0") == "0":
        click.echo(f"run: {out}")


@click.command("eval")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--dataset", "layout", required=True, type=LAYOUT, help="Test set layout.")
@click.option("--root", required=True, type=click.Path(path_type=Path), help="Test dataset root.")
@click.option("--split", default="test", show_default=True, help="Split to evaluate.")
@click.option("--camera", type=click.Choice(["sk", "bb", "bb_right"]), default="sk", show_default=True,
              help="STB camera: sk (RealSense colour, IFDG-like), bb / bb_right (Bumblebee left / right; "
                   "hand3d's 6,000-image set is both).")
@click.option("--xy-from", type=click.Choice(["regression", "heatmap"]), default=None,
              help="2.5-D models, official protocol: x, y from the regression or heatmap maxima "
                   "(default as the official code: heatmap for STB, regression otherwise).")
@click.option("--batch-size", default=32, show_default=True, type=COUNT, help="Images per forward pass.")
@click.option("--workers", default=None, type=WORKERS, help=WORKERS_HELP)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True, help=PRECISION_HELP)
@click.option("--boxes", type=click.Path(path_type=Path), default=None,
              help="Hand boxes instead of crops around the GT joints: the official Rhp_bbox.npy / STB_bbox.npy "
                   "(one [x, y, w, h] row per test sample, in the mirrored image), or JSON "
                   '{"IMAGE": [{"bbox": [x, y, w, h]}]} keyed by sample id or image file name.')
@click.option("--decode", "decode_as", type=click.Choice(["official", "handdg"]), default=None,
              help="2.5-D models: decode as the official test code (STB depth ±65 mm, RHD back-projection before "
                   "the root shift, its box cut, RHD without its 3 skipped files) or as handdg "
                   "(default: official for an `import-official` model, handdg otherwise).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Write the result JSON here.")
def eval_cmd(checkpoint: Path, layout: str, root: Path, split: str, camera: str, xy_from: str | None,
             batch_size: int, workers: int | None, device: str, precision: str, boxes: Path | None,
             decode_as: str | None, out: Path | None) -> None:
    """Score a checkpoint on STB, RHD or FreiHAND under both protocols (hand3d and official)."""
    from handdg.train.evaluate import evaluate, format_table
    from handdg.train.runs import write_json

    result = evaluate(checkpoint, layout, root, split, camera, batch_size, xy_from, device, workers,
                      precision=precision, boxes=boxes, decode_as=decode_as)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, result)
    click.echo(format_table(result))
    if out is not None:
        click.echo(f"written: {out}")
    planned = result.get("run_config", {}).get("steps")
    if planned is not None and result["step"] < planned and not result.get("source"):
        click.echo(f"note: {checkpoint} is step {result['step']} of a run planned for {planned} steps: the run stopped "
                   "early (continue it with `handdg train --out RUN --resume`)", err=True)
