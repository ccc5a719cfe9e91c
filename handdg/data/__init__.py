"""Dataset readers in the datasets' own on-disk layouts, one common sample type, transforms."""

from handdg.data.base import HandDataset, Sample

__all__ = ["HandDataset", "Sample"]
