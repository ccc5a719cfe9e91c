"""A small CLIP trained on captioned synthetic hands: handdg's offline image-text model of its own synthetic world.

`train_synthclip` renders a broad-look caption set, trains an open_clip model contrastively on
captions in Table 2's grammar and writes a .safetensors checkpoint `--clip-weights` accepts;
`zero_shot` and `retrieval_precision` measure it on held-out images.

The names below load on first use (PEP 562), so `handdg.synthclip.settings` (what the CLI's
option defaults need) imports without torch and open_clip.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "SynthClipSettings": "handdg.synthclip.settings",
    "caption": "handdg.synthclip.captions",
    "retrieval_precision": "handdg.synthclip.evaluate",
    "table2_caption": "handdg.synthclip.captions",
    "train_synthclip": "handdg.synthclip.train",
    "zero_shot": "handdg.synthclip.evaluate",
}

__all__ = ["SynthClipSettings", "caption", "retrieval_precision", "table2_caption", "train_synthclip", "zero_shot"]

if TYPE_CHECKING:
    from handdg.synthclip.captions import caption, table2_caption
    from handdg.synthclip.evaluate import retrieval_precision, zero_shot
    from handdg.synthclip.settings import SynthClipSettings
    from handdg.synthclip.train import train_synthclip


def __getattr__(name: str) -> Any:
    """Import the module that defines `name` the first time it is asked for."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
