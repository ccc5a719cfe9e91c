"""Dataset readers in the datasets' own on-disk layouts, one common sample type, transforms."""

from handdg.data.base import HandDataset, Sample
from handdg.data.layouts import LAYOUTS, open_dataset

__all__ = ["LAYOUTS", "HandDataset", "Sample", "open_dataset"]
