"""Synthetic hands written in FreiHAND's, RHD's and STB's real on-disk layouts (no download needed).

`make_dataset(out, layout, count, seed)` writes a dataset the real readers open;
`contact_sheet(out_png)` shows a few samples of each domain.
"""

from handdg.synth.dataset import make_dataset
from handdg.synth.sampling import LAYOUTS
from handdg.synth.sheet import contact_sheet

__all__ = ["LAYOUTS", "contact_sheet", "make_dataset"]
