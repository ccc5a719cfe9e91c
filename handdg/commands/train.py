"""`handdg train` and `handdg eval`: thin click layers over handdg.train.lifecycle (start, resume) and
handdg.evaluation.evaluate.evaluate. Train options are generated from the declaration of every training
option (handdg.run.options.OPTIONS): names, flags, types, defaults, help and their checks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import click

from handdg.commands.types import COUNT, WORKERS
from handdg.errors import HanddgError
from handdg.run.config import TrainConfig
from handdg.run.options import AUGMENT_PRESETS, OPTION, OPTIONS, PRECISIONS, RESUMABLE, Option

LAYOUT = click.Choice(["freihand", "rhd", "stb"])
WORKERS_HELP = OPTION["workers"].help
PRECISION_HELP = OPTION["precision"].help


class _Declared(click.ParamType):
    """Click reads the text; the option's declaration checks it (the library's own message and exit 2)."""

    def __init__(self, option: Option) -> None:
        self.option = option

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        """The checked value; HanddgError naming the option when it may not take it."""
        return self.option.parse(value) if isinstance(value, str) else self.option.check(value)


class _Float(_Declared):
    name = "float"


class _Text(_Declared):
    name = "text"


class _Choice(_Declared, click.Choice):  # click's [a|b] metavar, the declaration's check
    def __init__(self, option: Option) -> None:
        _Declared.__init__(self, option)
        click.Choice.__init__(self, option.choices)


class _Count(_Declared, click.IntRange):  # click's INTEGER RANGE and [x>=N] in the help, the declaration's check
    def __init__(self, option: Option) -> None:
        _Declared.__init__(self, option)
        click.IntRange.__init__(self, min=option.low)


def _click_option(option: Option) -> Callable[[Callable], Callable]:
    """The `handdg train` option of a declared training option: name, flag, type, default and help."""
    default = option.default_value()
    kwargs: dict[str, Any] = {"help": option.help}
    if option.kind is bool:
        flag = option.cli or f"{option.flag}/--no-{option.flag[2:]}"
    else:
        flag = option.cli or option.flag
        if option.path:
            kwargs["type"] = click.Path(path_type=str)
        elif option.kind is tuple:
            kwargs["type"] = _Text(option)
            default = next(name for name, value in AUGMENT_PRESETS.items() if value == default)
        elif option.choices:
            kwargs["type"] = _Choice(option)
        elif option.kind is int:
            kwargs["type"] = _Count(option)
        elif option.kind is float:
            kwargs["type"] = _Float(option)
    return click.option(flag, option.name, default=default, show_default=default not in (None, ""), **kwargs)


def _train_options(command: Callable) -> Callable:
    for option in reversed(OPTIONS):
        if option.name != "out":  # --out comes first and is required: it names the run
            command = _click_option(option)(command)
    return command


@click.command("train")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help=OPTION["out"].help)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint, exactly.")
@_train_options
@click.pass_context
def train(ctx: click.Context, out: Path, resume: bool, **options: Any) -> None:
    """Train the hand pose network on cached CLIP features (the paper's method and its ablations).

    Works the same under `torchrun --nproc-per-node N` (DistributedDataParallel).
    """
    given = {name for name in options if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    if resume:
        fixed = sorted(given - set(RESUMABLE))
        if fixed:
            flags = ", ".join(OPTION[name].flag for name in fixed)
            may = [OPTION[name].flag for name in RESUMABLE if name != "out"]
            raise HanddgError(f"--resume continues {out} as its config.json says; {flags} cannot change "
                              f"(only {', '.join(may[:-1])} and {may[-1]} may: --data and --store say where they "
                              "are now, --steps extends the run)")
        from handdg.train import lifecycle

        lifecycle.resume(out, **{name: options[name] for name in given & set(RESUMABLE)})
    else:
        for option in OPTIONS:
            if option.path and options.get(option.name):
                options[option.name] = str(Path(options[option.name]).resolve())
        config = TrainConfig(out=str(out), **options).validate().check_inputs()  # every mistake before torch loads
        from handdg.train import lifecycle

        lifecycle.start(config)
    if os.environ.get("RANK", "0") == "0":
        click.echo(f"run: {out}")


@click.command("eval")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--dataset", "layout", required=True, type=LAYOUT, help="Test set layout.")
@click.option("--root", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Test dataset root.")
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
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the result JSON here.")
def eval_cmd(checkpoint: Path, layout: str, root: Path, split: str, camera: str, xy_from: str | None,
             batch_size: int, workers: int | None, device: str, precision: str, boxes: Path | None,
             decode_as: str | None, out: Path | None) -> None:
    """Score a checkpoint on STB, RHD or FreiHAND under both protocols (hand3d and official)."""
    from handdg.data.boxes import read_boxes
    from handdg.run.header import checkpoint_header

    checkpoint_header(checkpoint)  # before torch loads, as the boxes file: a wrong file costs no model load
    if boxes is not None:
        read_boxes(boxes)
    from handdg.evaluation.evaluate import evaluate, format_table
    from handdg.run.runs import write_json

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
