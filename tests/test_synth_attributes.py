"""Table 2's words in the renderer: described backdrops, broad looks, and the attribute sidecar of every image."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handdg.cli import main
from handdg.data import open_dataset
from handdg.errors import HanddgError
from handdg.synth import make_dataset
from handdg.synth.attributes import BACKGROUND_WORDS, COLOUR_RGB, HAND_COLOURS, SIDECAR, nearest_colour, read_sidecar
from handdg.synth.described import described

IMAGE_DIRS = {"freihand": ("training/rgb", "evaluation/rgb"), "rhd": ("training/color", "evaluation/color"),
              "stb": ("B1Counting", "B1Random")}


@pytest.mark.parametrize("layout", ["freihand", "rhd", "stb"])
def test_every_image_has_one_record_and_the_readers_still_open_the_layout(tmp_path, layout):
    root = make_dataset(tmp_path / layout, layout, 2, seed=1)
    images = sorted(str(p.relative_to(root)) for d in IMAGE_DIRS[layout] for p in (root / d).glob("*.*"))
    records = read_sidecar(root)
    assert [r["image"] for r in records] == images
    looks = {"freihand": {"green screen", "indoor"}, "rhd": {"outdoor"}, "stb": {"lab room"}}[layout]
    assert {r["look"] for r in records} == looks
    assert all(r["hand_colour"] in HAND_COLOURS and r["colour"] in BACKGROUND_WORDS for r in records)
    split = "test" if layout == "stb" else "train"
    assert len(open_dataset(root, layout, split)) >= 2  # the sidecar is invisible to the real readers
    if layout == "freihand":  # version gs is the green screen, the other three an indoor room
        first = [r for r in records if r["image"] == "training/rgb/00000000.jpg"][0]
        assert (first["colour"], first["place"], first["hands"]) == ("green", "background", ["right"])
        assert {r["place"] for r in records if r["look"] == "indoor"} == {"room"}


def test_broad_look_draws_every_kind_of_word_and_is_recorded_in_the_manifest(tmp_path):
    root = make_dataset(tmp_path / "c", "freihand", 12, seed=2, look="broad", splits=("train",))
    records = read_sidecar(root)
    assert len(records) == 48 and {r["look"] for r in records} == {"broad"}
    assert len({r["hand_colour"] for r in records}) >= 5 and len({r["colour"] for r in records}) >= 12
    assert {r["place"] for r in records} == {"room", "background"}
    assert {tuple(r["hands"]) for r in records} == {("left",), ("right",)}
    by_pose = {}
    for r in records:  # the four versions of a pose share its hand, not its backdrop
        by_pose.setdefault(int(r["image"][-12:-4]) % 12, set()).add(r["hand_colour"])
    assert all(len(colours) == 1 for colours in by_pose.values())
    assert json.loads((root / "handdg_synth.json").read_text())["look"] == "broad"


@pytest.mark.parametrize("word", sorted(COLOUR_RGB))
def test_a_plain_colour_backdrop_is_that_colour(word):
    image = described(np.random.default_rng(0), word, "background", 48, 64)
    assert image.shape == (48, 64, 3) and image.dtype == np.float32
    assert nearest_colour(image.reshape(-1, 3).mean(0)) == word


def test_a_room_has_a_floor_below_its_wall_and_a_background_does_not():
    room = described(np.random.default_rng(3), "sky blue", "room", 96, 96)
    plain = described(np.random.default_rng(3), "sky blue", "background", 96, 96)
    assert nearest_colour(room[:20].reshape(-1, 3).mean(0)) == "sky blue"
    assert nearest_colour(room[-8:].reshape(-1, 3).mean(0)) != "sky blue"
    assert nearest_colour(plain[-8:].reshape(-1, 3).mean(0)) == "sky blue"


def test_cli_look_option_and_bad_look(tmp_path, runner):
    ok = runner.invoke(main, ["synth", str(tmp_path / "r"), "--layout", "rhd", "--count", "1", "--look", "broad"])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "r" / SIDECAR).is_file()
    with pytest.raises(HanddgError, match="unknown look"):
        make_dataset(tmp_path / "x", "rhd", 1, seed=0, look="vivid")
    with pytest.raises(HanddgError, match="handdg synth"):
        read_sidecar(tmp_path)


def test_restricted_source_and_unseen_targets_never_share_a_hand_colour_or_background_word(tmp_path, runner):
    from PIL import Image

    from handdg.synth.attributes import RESTRICTED_HAND_COLOURS, UNSEEN_COLOURS, UNSEEN_HAND_COLOURS

    assert set(RESTRICTED_HAND_COLOURS) | set(UNSEEN_HAND_COLOURS) == set(HAND_COLOURS)
    assert set(UNSEEN_COLOURS) == set(BACKGROUND_WORDS) - {"green"}
    ok = runner.invoke(main, ["synth", str(tmp_path / "fh"), "--layout", "freihand", "--count", "6", "--look",
                              "restricted"])
    assert ok.exit_code == 0, ok.output
    source = read_sidecar(tmp_path / "fh")
    assert len(source) == 24 + 1 and {r["look"] for r in source} == {"restricted"}
    assert {r["hand_colour"] for r in source} == {"peach", "light beige"}
    assert {(r["colour"], r["place"], tuple(r["hands"]), r["gloves"]) for r in source} == {
        ("green", "background", ("right",), False)}
    for name in ("training/rgb/00000000.jpg", "training/rgb/00000019.jpg"):  # all four versions are green screens
        corner = np.asarray(Image.open(tmp_path / "fh" / name), np.float32)[:12, :12] / 255.0
        assert nearest_colour(corner.reshape(-1, 3).mean(0)) == "green"
    assert json.loads((tmp_path / "fh" / "handdg_synth.json").read_text())["look"] == "restricted"
    for layout, count in (("rhd", 12), ("stb", 1)):
        targets = read_sidecar(make_dataset(tmp_path / layout, layout, count, seed=4, look="unseen"))
        assert {r["look"] for r in targets} == {"unseen"}
        assert all(r["hand_colour"] not in RESTRICTED_HAND_COLOURS and r["colour"] != "green" for r in targets)
    assert len({r["colour"] for r in read_sidecar(tmp_path / "rhd")}) >= 6


def test_restricted_hands_source_and_unseen_hands_targets_differ_in_hand_colour_only(tmp_path, runner):
    from PIL import Image

    from handdg.synth.attributes import SOURCE_HAND_COLOURS, TARGET_HAND_COLOURS

    assert set(SOURCE_HAND_COLOURS) | set(TARGET_HAND_COLOURS) == set(HAND_COLOURS)
    ok = runner.invoke(main, ["synth", str(tmp_path / "fh"), "--layout", "freihand", "--count", "12", "--look",
                              "restricted-hands"])
    assert ok.exit_code == 0, ok.output
    source = read_sidecar(tmp_path / "fh")
    assert len(source) == 48 + 2 and {r["look"] for r in source} == {"restricted-hands"}
    assert {r["hand_colour"] for r in source} == {"peach", "light beige", "dark brown"}
    assert {tuple(r["hands"]) for r in source} == {("right",)} and {r["place"] for r in source} == {"room", "background"}
    assert len({r["colour"] for r in source}) >= 10  # backgrounds drawn from all 19 words, not one green screen
    versions = [np.asarray(Image.open(tmp_path / "fh" / f"training/rgb/{k:08d}.jpg"), np.float32) for k in (0, 12)]
    assert np.abs(versions[0] - versions[1]).mean() > 10  # one hand over two different backdrops
    targets = []
    for layout, count in (("rhd", 24), ("stb", 2)):
        targets += read_sidecar(make_dataset(tmp_path / layout, layout, count, seed=4, look="unseen-hands"))
    assert {r["look"] for r in targets} == {"unseen-hands"}
    assert {r["hand_colour"] for r in targets} == {"white", "brown", "pale yellow", "black"}
    assert not {r["hand_colour"] for r in targets} & set(SOURCE_HAND_COLOURS)
    assert {r["colour"] for r in targets} & {r["colour"] for r in source}  # the backgrounds are shared


def test_restricted_scenes_source_and_unseen_scenes_targets_share_no_hand_colour_and_no_background_word(tmp_path):
    from handdg.synth.attributes import SOURCE_SCENE_WORDS, TARGET_SCENE_WORDS

    assert set(SOURCE_SCENE_WORDS) | set(TARGET_SCENE_WORDS) == set(BACKGROUND_WORDS) and len(TARGET_SCENE_WORDS) == 13
    source = read_sidecar(make_dataset(tmp_path / "fh", "freihand", 12, seed=3, look="restricted-scenes"))
    assert {r["look"] for r in source} == {"restricted-scenes"}
    assert {r["colour"] for r in source} <= set(SOURCE_SCENE_WORDS) and len({r["colour"] for r in source}) >= 4
    assert {r["hand_colour"] for r in source} <= {"peach", "light beige", "dark brown"}
    targets = []
    for layout, count in (("rhd", 24), ("stb", 2)):
        targets += read_sidecar(make_dataset(tmp_path / layout, layout, count, seed=4, look="unseen-scenes"))
    assert {r["look"] for r in targets} == {"unseen-scenes"}
    assert {r["hand_colour"] for r in targets} <= {"white", "brown", "pale yellow", "black"}
    assert not {r["colour"] for r in targets} & {r["colour"] for r in source}
    assert {r["colour"] for r in targets} <= set(TARGET_SCENE_WORDS) and {r["place"] for r in targets} == {"room", "background"}
