"""Captions of a synthetic image from its recorded attributes: Table 2's grammar, and paraphrases of it.

A Table 2 caption is "<head> <hand colour> <hand word> <background word> <room|background>";
"right hand with" and the head "a photo of right" are used only when a right hand alone is shown.
"""

from __future__ import annotations

import numpy as np

from handdg.prompts import HANDS, HEADS

_RIGHT_HEAD = "a photo of right"
PARAPHRASES = (
    "a {hc} {hand} in front of a {colour} {place}",
    "a {colour} {place} behind a {hc} {hand}",
    "{hc} {hand}, {colour} {place}",
    "a close-up of a {hc} {hand} against a {colour} {place}",
    "photo of a {hand} with {hc} skin and a {colour} {place}",
)
PARAPHRASE_SHARE = 0.3


def _is_right(record: dict) -> bool:
    """Only a right hand is shown."""
    return list(record["hands"]) == ["right"]


def table2_caption(record: dict, rng: np.random.Generator) -> str:
    """A random Table 2 prompt that truly describes the image of `record`."""
    right = _is_right(record)
    heads = HEADS if right else tuple(h for h in HEADS if h != _RIGHT_HEAD)
    head = heads[rng.integers(len(heads))]
    hand = HANDS[rng.integers(len(HANDS))] if right and head != _RIGHT_HEAD else HANDS[0]
    return f"{head} {record['hand_colour']} {hand} {record['colour']} {record['place']}"


def caption(record: dict, rng: np.random.Generator) -> str:
    """A training caption: a Table 2 prompt, or (PARAPHRASE_SHARE of the time) a paraphrase with the same facts."""
    if rng.random() >= PARAPHRASE_SHARE:
        return table2_caption(record, rng)
    hand = "right hand" if _is_right(record) and rng.random() < 0.5 else "hand"
    template = PARAPHRASES[rng.integers(len(PARAPHRASES))]
    return template.format(hc=record["hand_colour"], hand=hand, colour=record["colour"], place=record["place"])
