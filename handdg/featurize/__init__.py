"""Stage one: frozen CLIP over every image and prompt of a dataset, into a feature store."""

from handdg.featurize.clip import ClipEncoder, load_clip
from handdg.featurize.run import FeaturizeReport, featurize, featurize_dataset

__all__ = ["ClipEncoder", "FeaturizeReport", "featurize", "featurize_dataset", "load_clip"]
