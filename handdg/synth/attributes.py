"""The prompts' world in the renderer: Table 2's words as albedos, and the attributes each sample records.

Every written image gets one record (hand colour word, background word, room or background,
which hands, the domain look, gloves) in a JSON-lines sidecar the real readers never open.
The default look keeps each domain's character and names it with the nearest words; the
"broad" look draws hand colour, background word, room/background and side uniformly, for
caption training. The closed-world experiment splits Table 2's world in two. Its default split
changes one attribute class only: "restricted-hands" shows right hands in SOURCE_HAND_COLOURS
over every background word, room or background (the source), "unseen-hands" only the other hand
colours (TARGET_HAND_COLOURS) over the same backgrounds (the targets: a hand colour the prompts describe but the
source never shows). The closed world's current split moves both classes part way: "restricted-scenes" shows
the source hand colours over six background words (SOURCE_SCENE_WORDS), "unseen-scenes" the target hand colours
over the other thirteen, each as room or background. The first split changed both classes at once: "restricted" shows only right
hands in RESTRICTED_HAND_COLOURS over a plain green background (a green-screen source),
"unseen" only the hand colours and background words the restricted look never shows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from handdg.errors import HanddgError
from handdg.prompts import BACKGROUNDS, COLOURS, HAND_COLOURS

SIDECAR = "handdg_attributes.jsonl"
LOOKS = ("default", "broad", "restricted", "unseen", "restricted-hands", "unseen-hands", "extreme-hands",
         "restricted-scenes", "unseen-scenes")
BACKGROUND_WORDS = tuple(dict.fromkeys(COLOURS))  # the 19 distinct words ("yellow" is printed twice)
PLACES = BACKGROUNDS

# Albedo of each hand colour word (before light and camera).
HAND_RGB = {
    "white": (0.95, 0.94, 0.92), "dark brown": (0.30, 0.17, 0.09), "peach": (1.00, 0.70, 0.52),
    "brown": (0.60, 0.38, 0.20), "pale yellow": (0.97, 0.92, 0.55), "light beige": (0.86, 0.78, 0.66),
    "black": (0.07, 0.07, 0.08),
}
# Colour of each plain colour word as a backdrop.
COLOUR_RGB = {
    "green": (0.18, 0.62, 0.22), "purple": (0.50, 0.20, 0.62), "white": (0.96, 0.96, 0.96),
    "yellow": (0.96, 0.86, 0.18), "sky blue": (0.53, 0.80, 0.95), "black": (0.04, 0.04, 0.05),
    "orange": (0.96, 0.52, 0.08), "red": (0.82, 0.08, 0.08), "blue": (0.08, 0.20, 0.82),
    "gray": (0.50, 0.50, 0.50), "beige": (0.86, 0.78, 0.60), "pink": (0.96, 0.58, 0.74),
    "brown": (0.45, 0.27, 0.13),
}
assert set(HAND_RGB) == set(HAND_COLOURS) and set(COLOUR_RGB) < set(BACKGROUND_WORDS)
RESTRICTED_HAND_COLOURS = ("peach", "light beige")
RESTRICTED_COLOUR = "green"
UNSEEN_HAND_COLOURS = tuple(w for w in HAND_COLOURS if w not in RESTRICTED_HAND_COLOURS)
UNSEEN_COLOURS = tuple(w for w in BACKGROUND_WORDS if w != RESTRICTED_COLOUR)
SOURCE_HAND_COLOURS = ("peach", "light beige", "dark brown")
"""The restricted-hands look's hand colours: two light and one dark, so the source is not one skin tone."""
TARGET_HAND_COLOURS = tuple(w for w in HAND_COLOURS if w not in SOURCE_HAND_COLOURS)
EXTREME_HAND_COLOURS = ("white", "black")
"""The extreme-hands look's hand colours: the two of TARGET_HAND_COLOURS farthest from every source colour."""
SOURCE_SCENE_WORDS = ("green", "gray", "beige", "brown", "mountain", "dotted")
"""The restricted-scenes look's background words: four muted colours, one scene and one pattern."""
TARGET_SCENE_WORDS = tuple(w for w in BACKGROUND_WORDS if w not in SOURCE_SCENE_WORDS)


@dataclass(frozen=True)
class Attributes:
    """What one image shows, in Table 2's words plus the domain look it came from."""

    hand_colour: str
    colour: str
    place: str  # "room" | "background"
    hands: tuple[str, ...]  # sides shown, e.g. ("right",) or ("left", "right")
    look: str  # "green screen", "indoor", "outdoor", "lab room", or the described look's name (broad...)
    gloves: bool = False

    @property
    def right(self) -> bool:
        """Only a right hand is shown (so "right hand" is a true description)."""
        return self.hands == ("right",)

    def record(self, image: str) -> dict:
        """The sidecar line of image `image` (a path relative to the dataset root)."""
        return {"image": image, **asdict(self), "hands": list(self.hands)}


@dataclass(frozen=True)
class Described:
    """A look to render instead of a domain's own: hand colour, background word, room or background, side."""

    hand_colour: str
    colour: str
    place: str
    side: str
    look: str = "broad"  # which LOOKS value drew it (recorded in the sidecar)


def check_look(look: str) -> None:
    """`look` must be one of LOOKS."""
    if look not in LOOKS:
        raise HanddgError(f"unknown look {look!r}; choose one of {', '.join(LOOKS)}")


def draw_described(rng: np.random.Generator) -> Described:
    """A broad look: every hand colour, background word, place and side equally likely."""
    return Described(hand_colour=HAND_COLOURS[rng.integers(len(HAND_COLOURS))],
                     colour=BACKGROUND_WORDS[rng.integers(len(BACKGROUND_WORDS))],
                     place=PLACES[rng.integers(len(PLACES))], side=("right", "left")[rng.integers(2)])


def draw_restricted(rng: np.random.Generator) -> Described:
    """The restricted look: a right hand of one of RESTRICTED_HAND_COLOURS over a plain green background."""
    return Described(hand_colour=RESTRICTED_HAND_COLOURS[rng.integers(len(RESTRICTED_HAND_COLOURS))],
                     colour=RESTRICTED_COLOUR, place="background", side="right", look="restricted")


def draw_unseen(rng: np.random.Generator) -> Described:
    """A look the restricted one never shows: any other hand colour and background word, room or background, side."""
    return Described(hand_colour=UNSEEN_HAND_COLOURS[rng.integers(len(UNSEEN_HAND_COLOURS))],
                     colour=UNSEEN_COLOURS[rng.integers(len(UNSEEN_COLOURS))],
                     place=PLACES[rng.integers(len(PLACES))], side=("right", "left")[rng.integers(2)], look="unseen")


def _hands_only(rng: np.random.Generator, colours: tuple[str, ...], look: str,
                words: tuple[str, ...] = BACKGROUND_WORDS) -> Described:
    """A right hand of one of `colours` over one of background `words`, room or background."""
    return Described(hand_colour=colours[rng.integers(len(colours))], colour=words[rng.integers(len(words))],
                     place=PLACES[rng.integers(len(PLACES))], side="right", look=look)


def draw_restricted_hands(rng: np.random.Generator) -> Described:
    """The restricted-hands look: a right hand in peach, light beige or dark brown over any background (a source)."""
    return _hands_only(rng, SOURCE_HAND_COLOURS, "restricted-hands")


def draw_unseen_hands(rng: np.random.Generator) -> Described:
    """The unseen-hands look: a hand colour restricted-hands never shows, over the same backgrounds (its targets)."""
    return _hands_only(rng, TARGET_HAND_COLOURS, "unseen-hands")


def draw_extreme_hands(rng: np.random.Generator) -> Described:
    """The extreme-hands look: a white or black hand over the same backgrounds (a target farther from the source)."""
    return _hands_only(rng, EXTREME_HAND_COLOURS, "extreme-hands")


def draw_restricted_scenes(rng: np.random.Generator) -> Described:
    """The restricted-scenes look: restricted-hands' hand colours over SOURCE_SCENE_WORDS only (a source)."""
    return _hands_only(rng, SOURCE_HAND_COLOURS, "restricted-scenes", SOURCE_SCENE_WORDS)


def draw_unseen_scenes(rng: np.random.Generator) -> Described:
    """The unseen-scenes look: the other hand colours over the other background words (its targets)."""
    return _hands_only(rng, TARGET_HAND_COLOURS, "unseen-scenes", TARGET_SCENE_WORDS)


_DRAWS = {"broad": draw_described, "restricted": draw_restricted, "unseen": draw_unseen,
          "restricted-hands": draw_restricted_hands, "unseen-hands": draw_unseen_hands,
          "extreme-hands": draw_extreme_hands, "restricted-scenes": draw_restricted_scenes,
          "unseen-scenes": draw_unseen_scenes}


def draw_look(rng: np.random.Generator, look: str) -> Described:
    """A fresh draw of described look `look` (broad, restricted or unseen)."""
    return _DRAWS[look](rng)


def described_for(rng: np.random.Generator, look: str) -> Described | None:
    """What a sample of look `look` shows: None for a domain's own (default) look, else a draw (no draw for default)."""
    return None if look == "default" else draw_look(rng, look)


def hand_albedo(rng: np.random.Generator, word: str) -> np.ndarray:
    """The albedo of hand colour `word`, with a little per-subject jitter."""
    return np.clip(np.array(HAND_RGB[word]) * rng.uniform(0.95, 1.04, 3), 0, 1)


def _nearest(rgb: np.ndarray, table: dict[str, tuple]) -> str:
    """The word of `table` whose colour is nearest to `rgb`."""
    words = list(table)
    dist = [np.sum((np.asarray(rgb, float) - np.array(table[w])) ** 2) for w in words]
    return words[int(np.argmin(dist))]


def nearest_hand_colour(rgb: np.ndarray) -> str:
    """The hand colour word nearest to an albedo (how the default looks are named)."""
    return _nearest(rgb, HAND_RGB)


def nearest_colour(rgb: np.ndarray) -> str:
    """The plain colour word nearest to a background's mean colour."""
    return _nearest(rgb, COLOUR_RGB)


def write_sidecar(root: Path, records: list[dict]) -> None:
    """Write the records, one JSON object a line, sorted by image path (deterministic bytes)."""
    lines = [json.dumps(r, sort_keys=True) for r in sorted(records, key=lambda r: r["image"])]
    (root / SIDECAR).write_text("\n".join(lines) + "\n")


def read_sidecar(root: Path) -> list[dict]:
    """The records of a synthetic dataset (HanddgError when it has none)."""
    path = Path(root) / SIDECAR
    if not path.is_file():
        raise HanddgError(f"{path} not found: write the images with `handdg synth` (it records their attributes)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
