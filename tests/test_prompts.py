from handdg import prompts
from handdg.cli import main


def test_count_and_order():
    texts = prompts.all_prompts()
    assert len(texts) == 3920 == prompts.COUNT
    assert texts[0] == "a cropped image of white hand with mountain room"
    assert texts[1] == "a cropped image of white hand with mountain background"
    assert texts[2] == "a cropped image of white hand with lake room"
    assert texts[-1] == "a photo of right black right hand with flower background"


def test_id_parts_round_trip():
    for pid in range(prompts.COUNT):
        assert prompts.parts_to_id(prompts.id_to_parts(pid)) == pid
    # head 1, hand colour 2, hand 1, colour 3, background 0, by hand:
    # ((((1*7+2)*2+1)*20+3)*2+0) = 766
    parts = prompts.PromptParts(1, 2, 1, 3, 0)
    assert prompts.parts_to_id(parts) == 766
    assert prompts.prompt_text(766) == "a image of peach right hand with dark room"


def test_yellow_repeats_but_rows_are_kept():
    texts = prompts.all_prompts()
    assert prompts.COLOURS.count("yellow") == 2
    assert len(set(texts)) == 3920 - 7 * 7 * 2 * 2  # one duplicate colour per (head, hc, hand, bg)


def test_bad_ids_raise():
    import pytest

    for bad in (-1, 3920):
        with pytest.raises(ValueError):
            prompts.id_to_parts(bad)


def test_cli_lists_all(runner):
    result = runner.invoke(main, ["prompts"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 3920
    assert lines[3919] == "3919\ta photo of right black right hand with flower background"


def test_version_and_help(runner):
    assert runner.invoke(main, ["--version"]).output.strip() == "handdg, version 0.1.0"
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0 and "prompts" in result.output


def test_listing_into_a_closed_pipe_stops_without_an_error(subprocess_env):
    """`handdg prompts | head -1`: the reader leaves after one line; handdg must not print an error."""
    import subprocess
    import sys

    shell = f"{sys.executable} -m handdg prompts | head -1"
    done = subprocess.run(["bash", "-c", shell], env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert done.stdout == "0\ta cropped image of white hand with mountain room\n"
    assert done.stderr == ""
