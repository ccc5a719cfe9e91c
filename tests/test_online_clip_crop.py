"""`--clip-mode online` encodes each sample's geometrically augmented crop (before photometric augmentation),
checked against the CLIP encoding of that crop recomputed here, not only against a config string."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from handdg.data import open_dataset
from handdg.featurize.clip import load_clip
from handdg.inputs import augment
from handdg.inputs.batches import CropSpec, StepBatches, crop_sample
from handdg.inputs.seeds import keyed_generator
from handdg.model.network import HandPoseNet
from handdg.train import loop
from train_helpers import tiny_config, tiny_freihand



def _encode(encoder, images: torch.Tensor) -> torch.Tensor:
    """(B,3,S,S) crops in [0,1] -> L2-normalised CLIP image features, as CLIP preprocesses an image:
    bicubic resize to its input size, its mean/std normalisation."""
    size = encoder.image_size
    x = F.interpolate(images.float(), size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    mean, std = torch.tensor(encoder.mean).view(1, 3, 1, 1), torch.tensor(encoder.std).view(1, 3, 1, 1)
    return F.normalize(encoder.encode_images((x - mean) / std), dim=-1)


def _as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255.0


def test_online_clip_encodes_the_geometric_crop_of_each_sample(tmp_path, monkeypatch) -> None:
    torch.set_num_threads(1)
    data = tiny_freihand(tmp_path / "fh")
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    class Recording(HandPoseNet):
        def forward(self, images, hand_side, clip_feature=None, **kwargs):
            if clip_feature is not None:
                seen.append((images.detach().clone(), clip_feature.detach().clone()))
            return super().forward(images, hand_side, clip_feature, **kwargs)

    monkeypatch.setattr(loop, "HandPoseNet", Recording)
    # branch2 "ie": r = 1, so the network's f_CLIP is the normalised image feature alone (no prompt mixed in)
    config = tiny_config(data, tmp_path / "run", branch2="ie", clip_mode="online", clip_model="handdg-tiny",
                         clip_weights="random:1", normalise_mix=True, augment=("geometric", "jitter"), steps=1,
                         checkpoint_every=1, heatmap_sigma=2.0, crop_scale=1.5, root="wrist", workers=0, seed=0)
    out = loop.train(config)
    assert len(seen) == 1
    images, features = seen[0]

    # the step's samples and their augmentation seeds, then each crop rebuilt from its own seed with the
    # run's crop: its network's input size, crop 1.5x the joints' extent, wrist root (maps do not matter here)
    size = json.loads((out / "config.json").read_text())["model"]["input_size"]
    spec = CropSpec(input_size=size, heatmap_size=16, heatmap_sigma=2.0, crop_scale=1.5, root="wrist")
    dataset = open_dataset(data, "freihand", "train")
    keys = next(iter(StepBatches(len(dataset), config.batch_size, config.seed, 0, 1, 0, 1)))
    clean, photometric, plain = [], [], []
    for index, seed in keys:
        sample = dataset[index]
        gen = keyed_generator(seed)
        geometry = augment.draw_geometry(gen)
        assert geometry != augment.Geometry()  # a real geometric augmentation (scale jitter at least)
        crop = _as_tensor(crop_sample(sample, spec, geometry)["image"])
        clean.append(crop)
        photometric.append(augment.photometric(crop, ("geometric", "jitter"), gen))
        plain.append(_as_tensor(crop_sample(sample, spec)["image"]))
    clean, photometric, plain = torch.stack(clean), torch.stack(photometric), torch.stack(plain)
    # the rebuilt batch is the step's batch: the network saw these photometrically augmented crops
    torch.testing.assert_close(images, photometric, atol=1e-6, rtol=0)

    encoder = load_clip("handdg-tiny", "random:1", "cpu")
    expected = _encode(encoder, clean)
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)
    # ...and not the encoding of the un-augmented crop, nor of the colour-jittered network input
    for other in (plain, photometric):
        # (0.021 and 0.0055 when written, against an exact match above)
        assert (features - _encode(encoder, other)).abs().max() > 1e-3
