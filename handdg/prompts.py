"""The paper's Table 2 as data: 7 heads x 7 hand colours x 2 hand words x 20 colours x 2 backgrounds.

Prompt ids are stable: id = ((((head*7 + hand_colour)*2 + hand)*20 + colour)*2 + background),
so the head varies slowest and the background fastest. "yellow" appears twice among the 20
colours as printed in the paper, so some strings repeat; all 3,920 rows are kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

HEADS = (
    "a cropped image of",
    "a image of",
    "a cropped photo of",
    "a picture of",
    "one",
    "a photo of",
    "a photo of right",
)
HAND_COLOURS = ("white", "dark brown", "peach", "brown", "pale yellow", "light beige", "black")
HANDS = ("hand with", "right hand with")
# The printed "colour" column is two sub-columns of ten rows; read row by row, left then right.
COLOURS = (
    "mountain", "lake",
    "bright", "dark",
    "green", "purple",
    "white", "yellow",
    "sky blue", "black",
    "orange", "red",
    "blue", "yellow",
    "gray", "beige",
    "pink", "brown",
    "dotted", "flower",
)
BACKGROUNDS = ("room", "background")

VOCABULARY = (HEADS, HAND_COLOURS, HANDS, COLOURS, BACKGROUNDS)
SIZES = tuple(len(words) for words in VOCABULARY)
COUNT = 7 * 7 * 2 * 20 * 2
assert SIZES == (7, 7, 2, 20, 2)


@dataclass(frozen=True)
class PromptParts:
    """The five word-list indices of one prompt."""

    head: int
    hand_colour: int
    hand: int
    colour: int
    background: int

    def text(self) -> str:
        words = (VOCABULARY[k][i] for k, i in enumerate(self.as_tuple()))
        return " ".join(words)

    def as_tuple(self) -> tuple[int, int, int, int, int]:
        return (self.head, self.hand_colour, self.hand, self.colour, self.background)


def parts_to_id(parts: PromptParts) -> int:
    """Mixed-radix id of a configuration (head slowest, background fastest)."""
    pid = 0
    for index, size in zip(parts.as_tuple(), SIZES):
        if not 0 <= index < size:
            raise ValueError(f"prompt part index {index} out of range 0..{size - 1}")
        pid = pid * size + index
    return pid


def id_to_parts(pid: int) -> PromptParts:
    """Inverse of :func:`parts_to_id`."""
    if not 0 <= pid < COUNT:
        raise ValueError(f"prompt id {pid} out of range 0..{COUNT - 1}")
    digits = []
    for size in reversed(SIZES):
        pid, digit = divmod(pid, size)
        digits.append(digit)
    return PromptParts(*reversed(digits))


def prompt_text(pid: int) -> str:
    """The prompt string of one id."""
    return id_to_parts(pid).text()


@lru_cache(maxsize=1)
def all_prompts() -> tuple[str, ...]:
    """All 3,920 prompt strings in id order."""
    return tuple(prompt_text(pid) for pid in range(COUNT))


def vocabulary_sha256() -> str:
    """Fingerprint of the word lists and their order; stored with cached text features."""
    blob = "\n".join("|".join(words) for words in VOCABULARY)
    return hashlib.sha256(blob.encode()).hexdigest()
