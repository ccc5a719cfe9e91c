"""The `handdg` command line: a click group whose commands parse options and call one library function."""

from __future__ import annotations

import os
import sys

import click

from handdg import __version__
from handdg.commands import analysis, data, demo, featurize, reproduce, store, synth, synthclip, train
from handdg.errors import HanddgError, describe_os_error, one_line


class _Group(click.Group):
    """Turns a HanddgError anywhere below into one line on stderr and exit status 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HanddgError as exc:
            click.echo(f"Error: {one_line(exc)}", err=True)
            ctx.exit(2)
        except click.UsageError as exc:
            where = f" (see `{exc.ctx.command_path} -h`)" if exc.ctx is not None else ""
            click.echo(f"Error: {exc.format_message()}{where}", err=True)
            ctx.exit(2)
        except BrokenPipeError:
            _quiet_stdout()  # the reader went away (`handdg prompts | head`): stop without a word
            ctx.exit(1)
        except OSError as exc:
            click.echo(f"Error: {describe_os_error(exc)}", err=True)
            ctx.exit(2)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail on the closed pipe too."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="handdg")
def main() -> None:
    """handdg: image-free domain generalisation via CLIP for 3D hand pose estimation.

    Stage one caches frozen CLIP features of every image and of the paper's 3,920 text
    prompts (featurize); stage two trains the hand pose network on them (train, eval).
    """


@main.command("prompts")
@click.option("--parts", is_flag=True, help="Also print the five word-list indices of each prompt.")
def prompts_cmd(parts: bool) -> None:
    """List the paper's 3,920 text prompts (Table 2), one per line: id<TAB>text."""
    from handdg import prompts

    out = sys.stdout
    for pid, text in enumerate(prompts.all_prompts()):
        if parts:
            idx = ",".join(str(i) for i in prompts.id_to_parts(pid).as_tuple())
            out.write(f"{pid}\t{idx}\t{text}\n")
        else:
            out.write(f"{pid}\t{text}\n")


main.add_command(demo.demo)
main.add_command(data.data)
main.add_command(analysis.retrieve)
main.add_command(analysis.figures)
main.add_command(featurize.featurize)
main.add_command(store.store)
main.add_command(store.index)
main.add_command(synth.synth)
main.add_command(synth.synth_sheet)
main.add_command(synthclip.synthclip)
main.add_command(train.train)
main.add_command(train.eval_cmd)
main.add_command(reproduce.reproduce)
