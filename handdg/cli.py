"""The `handdg` command line: a click group whose commands parse options and call one library function.

Commands load lazily: `handdg --help` lists them from the short helps in COMMANDS and imports
no command module; `handdg COMMAND ...` imports only COMMAND's module. The command modules
import nothing heavy at module level (torch and the rest load inside the command bodies), so
asking for help, listing prompts or getting an option wrong answers at once.
"""

from __future__ import annotations

import importlib
import os
import sys
from gettext import gettext as _

import click

from handdg import __version__
from handdg.errors import HanddgError, describe_os_error, one_line

COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("handdg.commands.data:data", "Check a FreiHAND, RHD or STB install and inspect its samples."),
    "demo": ("handdg.commands.demo:demo",
             "Run synth -> featurize -> train -> eval -> retrieve -> figures on synthetic hands "
             "(~10 min on 2 CPU cores)."),
    "eval": ("handdg.commands.train:eval_cmd",
             "Score a checkpoint on STB, RHD or FreiHAND under both protocols (hand3d and official)."),
    "featurize": ("handdg.commands.featurize:featurize",
                  "Encode every image under ROOT and the paper's 3,920 prompts with frozen CLIP into --store."),
    "figures": ("handdg.commands.analysis:figures",
                "Figures from feature stores and eval results, each as PNG + PDF titled with what made it."),
    "import-official": ("handdg.commands.official:import_official",
                        "Turn the authors' released snapshot_45.pth.tar into a handdg checkpoint."),
    "index": ("handdg.commands.store:index", "The FAISS index inside a feature store."),
    "predict": ("handdg.commands.predict:predict",
                "Run a checkpoint on your own images, folders or videos: JSON + overlays."),
    "reproduce": ("handdg.commands.reproduce:reproduce",
                  "Reproduce the paper's Table 3, 4a, 4b, 5, 6 or all: train every variant × seed, evaluate on "
                  "STB and RHD, write the tables (mean ± std over seeds, paired difference from the baseline)."),
    "retrieve": ("handdg.commands.analysis:retrieve",
                 "Rank a store's images by cosine similarity to a text, image or mixed query (paper Fig."),
    "store": ("handdg.commands.store:store", "Inspect and check feature stores made by `handdg featurize`."),
    "styles": ("handdg.commands.styles:styles",
               "Fit, with frozen CLIP, one colour style per prompt of the paper's 3,920 and store them in --out."),
    "synth": ("handdg.commands.synth:synth",
              "Write a synthetic hand dataset into OUT in LAYOUT's real on-disk layout."),
    "synth-sheet": ("handdg.commands.synth:synth_sheet",
                    "Write a contact sheet PNG (OUT) of synthetic samples from every domain."),
    "synthclip": ("handdg.commands.synthclip:synthclip",
                  "A small CLIP trained on synthetic hands captioned in the paper's Table 2 words (offline, CPU)."),
    "train": ("handdg.commands.train:train",
              "Train the hand pose network on cached CLIP features (the paper's method and its ablations)."),
}
"""Lazily loaded commands: name -> ("module:attribute", short help as `handdg --help` lists it).

Each short help is the command's own (`Command.get_short_help_str` at unlimited width: its
first docstring sentence); tests/test_cli_lazy.py checks that they stay equal."""


class _Group(click.Group):
    """Loads the commands in COMMANDS on first use, and turns a HanddgError anywhere below into
    one line on stderr and exit status 2."""

    def __init__(self, *args, lazy_commands: dict[str, tuple[str, str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy_commands:
            return self.commands.get(cmd_name)
        target, _ = self.lazy_commands[cmd_name]
        module_name, attribute = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise  # a dependency of the command is missing: that is not "no such command"
            raise HanddgError(f"`handdg {cmd_name}` is not available in this copy of handdg "
                              f"(no module {module_name})") from exc
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        self.commands[cmd_name] = command  # later lookups skip the import machinery
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            # click suggests close names from self.commands, which holds only what is loaded so far
            raise click.exceptions.NoSuchCommand(exc.command_name, possibilities=self.list_commands(ctx),
                                                 ctx=exc.ctx) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The Commands section, as click writes it, from the short helps in COMMANDS (nothing is imported)."""
        commands = []
        for name in self.list_commands(ctx):
            if name in self.lazy_commands:
                command = click.Command(name, help=self.lazy_commands[name][1])
            else:
                command = self.commands[name]
            if not command.hidden:
                commands.append((name, command))
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)
            with formatter.section(_("Commands")):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in commands])

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


@click.group(cls=_Group, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
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
