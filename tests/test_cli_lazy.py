"""The lazily loading `handdg` group: help and light commands import no torch; listed short helps are the commands'."""

from __future__ import annotations

import importlib
import json
import subprocess

import click
import pytest

from conftest import PYTHON
from handdg import cli
from handdg.cli import COMMANDS, main

NO_TORCH_PROBE = """
import json, sys
from click.testing import CliRunner
from handdg.cli import main
results = {}
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(main, args)
    results[" ".join(args)] = [result.exit_code, result.output]
print(json.dumps({"results": results, "torch": "torch" in sys.modules,
                  "heavy": sorted(m for m in ("torch", "torchvision", "open_clip") if m in sys.modules)}))
"""


def _probe(subprocess_env, argv_lists: list[list[str]]) -> dict:
    done = subprocess.run([PYTHON, "-c", NO_TORCH_PROBE, json.dumps(argv_lists)], capture_output=True, text=True,
                          env=subprocess_env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _available() -> list[str]:
    """Table entries whose module exists in this checkout."""
    names = []
    for name, (target, _) in COMMANDS.items():
        try:
            importlib.import_module(target.split(":")[0])
        except ModuleNotFoundError as exc:
            if exc.name != target.split(":")[0]:
                raise
            continue
        names.append(name)
    return names


def test_importing_the_cli_does_not_import_torch(subprocess_env):
    done = subprocess.run([PYTHON, "-c", "import sys, handdg.cli; print('torch' in sys.modules, "
                                         "sorted(m for m in sys.modules if m.startswith('handdg.commands.')))"],
                          capture_output=True, text=True, env=subprocess_env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "False"
    assert done.stdout.strip().endswith("[]"), f"command modules imported eagerly: {done.stdout}"


def test_help_of_prompts_data_and_store_does_not_import_torch(subprocess_env):
    argv = [["--help"], ["prompts", "--help"], ["data", "--help"], ["data", "check", "--help"],
            ["data", "show", "--help"], ["store", "--help"], ["store", "info", "--help"], ["store", "verify", "--help"]]
    probe = _probe(subprocess_env, argv)
    assert probe["heavy"] == [], probe["heavy"]
    for args, (code, output) in probe["results"].items():
        assert code == 0, (args, output)
    assert "  prompts " in probe["results"]["--help"][1] and "  check " in probe["results"]["data --help"][1]


def test_every_commands_help_and_an_option_error_do_not_import_torch(subprocess_env):
    argv = [[name, "--help"] for name in _available()] + [["train", "--lr", "abc"]]
    probe = _probe(subprocess_env, argv)
    assert probe["heavy"] == [], probe["heavy"]
    for args, (code, output) in probe["results"].items():
        assert code == (2 if args == "train --lr abc" else 0), (args, output)


def test_top_level_help_lists_every_command_with_its_short_help(runner):
    result = runner.invoke(main, ["--help"], terminal_width=2000, max_content_width=2000)  # nothing shortened
    assert result.exit_code == 0, result.output
    listing = result.output.split("Commands:\n", 1)[1]
    for name, (_, short) in {**COMMANDS, "prompts": (None, cli.prompts_cmd.get_short_help_str(10**6))}.items():
        assert f"  {name} " in listing and short in listing, name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_table_short_help_is_the_commands_own(name):
    target, short = COMMANDS[name]
    module_name, attribute = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        pytest.skip(f"{module_name} is not in this checkout yet")
    command = getattr(module, attribute)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert not command.hidden and not command.deprecated
    assert short == command.get_short_help_str(10**6)
    # The listing shortens the table's text exactly as click shortens the command's own help, at any width.
    listed = click.Command(name, help=short)
    for limit in (5, 20, 30, 45, 60, 74, 100, 10**6):
        assert listed.get_short_help_str(limit) == command.get_short_help_str(limit), limit
    assert main.get_command(click.Context(main), name) is command


def test_lazy_listing_equals_the_eager_one(runner):
    names = _available()
    eager = click.Group("main", commands={"prompts": cli.prompts_cmd,
                                          **{n: main.get_command(click.Context(main), n) for n in names}})
    lazy = cli._Group("main", commands={"prompts": cli.prompts_cmd},
                      lazy_commands={n: COMMANDS[n] for n in names})
    for width in (40, 80, 120, 200):
        for group in (eager, lazy):
            group.help = main.help
        assert runner.invoke(lazy, ["--help"], terminal_width=width).output == \
            runner.invoke(eager, ["--help"], terminal_width=width).output, width


def test_near_misses_are_suggested_from_commands_not_yet_loaded(runner):
    group = cli._Group("main", callback=main.callback, commands={"prompts": cli.prompts_cmd}, lazy_commands=COMMANDS)
    result = runner.invoke(group, ["trian"])
    assert result.exit_code == 2
    assert result.stderr == "Error: No such command 'trian'. Did you mean 'train'? (see `main -h`)\n"
    assert group.commands.keys() == {"prompts"}, "a near miss should load nothing"


def test_a_command_whose_module_is_missing_is_one_line_and_the_rest_works(runner):
    group = cli._Group("main", callback=main.callback, commands={"prompts": cli.prompts_cmd},
                       lazy_commands={"nope": ("handdg.commands.no_such_module:nope", "Not here."),
                                      "data": COMMANDS["data"]})
    missing = runner.invoke(group, ["nope"])
    assert missing.exit_code == 2
    assert missing.stderr == ("Error: `handdg nope` is not available in this copy of handdg "
                              "(no module handdg.commands.no_such_module)\n")
    listing = runner.invoke(group, ["--help"])
    assert listing.exit_code == 0 and "nope" in listing.output and "Not here." in listing.output
    assert runner.invoke(group, ["data", "--help"]).exit_code == 0
    assert runner.invoke(group, ["prompts"]).output.startswith("0\t")
