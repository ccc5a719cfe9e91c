"""`featurize --prompts-from`: a second store copies the prompt features of a first one made with the same CLIP."""

import numpy as np
import pytest
from featurize_fixtures import write_folder

from handdg.errors import HanddgError
from handdg.featurize.clip import TINY_MODEL
from handdg.featurize.run import featurize
from handdg.stores import FeatureStore


def test_prompts_copied_not_encoded_and_other_clips_refused(tmp_path):
    first = featurize(write_folder(tmp_path / "a", 3, seed=0), "folder", "train", tmp_path / "a.zarr",
                      model=TINY_MODEL, weights="random:0", device="cpu", workers=0, progress=False)
    second = featurize(write_folder(tmp_path / "b", 4, seed=1), "folder", "train", tmp_path / "b.zarr",
                       model=TINY_MODEL, weights="random:0", device="cpu", workers=0, progress=False,
                       prompts_from=tmp_path / "a.zarr")
    assert first.prompts_written == second.prompts_written == 3920 and second.complete
    a, b = FeatureStore.open(tmp_path / "a.zarr"), FeatureStore.open(tmp_path / "b.zarr")
    np.testing.assert_array_equal(a.prompt_features(), b.prompt_features())
    assert len(b.ids) == 4
    with pytest.raises(HanddgError, match="was made with CLIP handdg-tiny / random:0, not handdg-tiny / random:1"):
        featurize(tmp_path / "b", "folder", "train", tmp_path / "c.zarr", model=TINY_MODEL, weights="random:1",
                  device="cpu", workers=0, progress=False, prompts_from=tmp_path / "a.zarr")
