"""A small CLIP trained on captioned synthetic hands: handdg's offline image-text model of its own synthetic world.

`train_synthclip` renders a broad-look caption set, trains an open_clip model contrastively on
captions in Table 2's grammar and writes a .safetensors checkpoint `--clip-weights` accepts;
`zero_shot` and `retrieval_precision` measure it on held-out images.
"""

from handdg.synthclip.captions import caption, table2_caption
from handdg.synthclip.evaluate import retrieval_precision, zero_shot
from handdg.synthclip.settings import SynthClipSettings
from handdg.synthclip.train import train_synthclip

__all__ = ["SynthClipSettings", "caption", "retrieval_precision", "table2_caption", "train_synthclip", "zero_shot"]
