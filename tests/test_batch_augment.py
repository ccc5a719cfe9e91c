"""The batched, on-device half of the input pipeline (handdg.inputs.batch_augment) against the per-sample one:
the same crops, the same heatmaps, the same distributions of every photometric draw."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from handdg.data.base import Sample
from handdg.inputs import augment
from handdg.inputs import batch_augment as ba
from handdg.inputs.batches import CropSpec, _warp, crop_sample
from handdg.inputs.seeds import keyed_generator
from handdg.model.heatmaps import HeatmapCodec

RNG = np.random.default_rng(0)


def test_the_batched_warp_equals_the_per_sample_warp() -> None:
    image = RNG.integers(0, 256, size=(50, 70, 3), dtype=np.uint8)
    angle, scale = 0.3, 0.8
    M = np.array([[scale * np.cos(angle), -scale * np.sin(angle), 9.0],
                  [scale * np.sin(angle), scale * np.cos(angle), -6.0], [0.0, 0.0, 1.0]])
    want = _warp(image, M, 32).astype(np.float64)
    got = ba.warp_batch(torch.from_numpy(image)[None], torch.from_numpy(M)[None], 32)[0].permute(1, 2, 0).numpy() * 255
    inside = np.zeros((32, 32), bool)  # pixels whose 2x2 source footprint lies inside the image
    inverse = np.linalg.inv(M)
    ys, xs = np.mgrid[0:32, 0:32]
    src = np.stack([xs, ys, np.ones_like(xs)], -1) @ inverse.T
    inside = (src[..., 0] > 0.5) & (src[..., 0] < 68.5) & (src[..., 1] > 0.5) & (src[..., 1] < 48.5)
    assert inside.sum() > 300
    assert np.abs(got - want)[inside].max() <= 1.0  # PIL rounds to uint8; both are bilinear at the same point


def test_identity_warp_copies_the_image_and_black_is_outside() -> None:
    image = RNG.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    shift = np.array([[1.0, 0.0, 4.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    got = (ba.warp_batch(torch.from_numpy(image)[None], torch.from_numpy(shift)[None], 16)[0] * 255).round()
    np.testing.assert_array_equal(got.permute(1, 2, 0).numpy()[:, 4:], image[:, :12])
    assert got[:, :, :4].abs().max() == 0


def test_batched_heatmaps_equal_the_per_sample_targets() -> None:
    uv = RNG.uniform(-8, 72, size=(5, 21, 2))
    uv[0, 3] = np.nan
    codec = HeatmapCodec(64, 16, 1.5)
    got = codec.encode_batch(torch.from_numpy(uv)).numpy()
    for i in range(5):
        np.testing.assert_allclose(got[i], codec.encode(uv[i]), atol=1e-6)
    assert got[0, 3].max() == 0


def test_a_crop_made_on_the_device_equals_the_worker_crop_for_identity_augmentation() -> None:
    K = np.array([[200.0, 0.0, 40.0], [0.0, 200.0, 30.0], [0.0, 0.0, 1.0]])
    xyz = np.tile([0.0, 0.0, 500.0], (21, 1)) + RNG.uniform(-40, 40, size=(21, 3))
    uv = xyz[:, :2] / xyz[:, 2:] * 200.0 + [40.0, 30.0]
    image = RNG.integers(0, 256, size=(60, 80, 3), dtype=np.uint8)
    spec = CropSpec(input_size=32, heatmap_size=8, heatmap_sigma=1.0, crop_scale=1.5)
    for side in ("right", "left"):
        sample = Sample("s", image, xyz, K, uv, side)
        fields, M, source = ba_plan(sample, spec)
        want = crop_sample(sample, spec)
        got = ba.warp_batch(torch.from_numpy(source)[None], torch.from_numpy(M)[None], 32)[0]
        diff = np.abs(got.permute(1, 2, 0).numpy() * 255 - want["image"])
        assert diff[2:-2, 2:-2].max() <= 1.0 and diff.mean() < 0.6  # PIL rounds its fixed-point bilinear its own way
        np.testing.assert_allclose(fields["uv"], want["uv"])


def ba_plan(sample, spec):
    from handdg.inputs.batches import crop_geometry

    return crop_geometry(sample, spec)


@pytest.mark.parametrize("names", [("jitter",), augment.PHOTOMETRIC])
def test_photometric_draws_have_the_per_sample_distribution(names) -> None:
    """Over 3,000 keyed draws: each op fires as often as its PROBABILITY says, and the values it draws lie in
    the per-sample path's ranges with the per-sample path's means."""
    draws = torch.stack([ba.draw_photometric(names, keyed_generator(5, i)) for i in range(3000)]).numpy()
    for name in names:
        start, _ = ba.LAYOUT[name]
        assert draws[:, start].mean() == pytest.approx(augment.PROBABILITY[name], abs=0.03)
    fired = draws[:, 0] > 0.5
    jitter = draws[fired, 1:6]
    assert jitter.min() >= 0.8 and jitter.max() <= 1.2
    np.testing.assert_allclose(jitter.mean(axis=0), 1.0, atol=0.01)
    np.testing.assert_allclose(jitter.std(axis=0), 0.4 / np.sqrt(12), atol=0.01)  # U(0.8, 1.2)
    if "blur" in names:
        blur = draws[draws[:, 16] > 0.5, 17]
        assert blur.min() >= 0.1 and blur.max() <= 2.0 and blur.mean() == pytest.approx(1.05, abs=0.05)


def test_the_first_draws_are_the_per_sample_paths_own() -> None:
    """Jitter draws the same numbers from the same generator as augment.photometric, so the batched jitter of a
    sample equals its per-sample jitter."""
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    want = augment.photometric(image.clone(), ("jitter",), keyed_generator(1, 2))
    params = ba.draw_photometric(("jitter",), keyed_generator(1, 2))
    got = ba.photometric_batch(image[None].clone(), params[None])[0]
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_batched_ops_match_the_per_sample_ops() -> None:
    images = torch.rand(4, 3, 20, 20, generator=torch.Generator().manual_seed(1))
    params = torch.zeros(4, ba.SIZE, dtype=torch.float64)
    params[:, 15] = 1.0  # colour drop on all
    params[1, 6:11] = torch.tensor([1.0, 0.25, 0.5, 0.5, 0.0], dtype=torch.float64)  # cutout on sample 1
    out = ba.photometric_batch(images.clone(), params)
    grey = (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    np.testing.assert_allclose(out[0].numpy(), grey[0].expand(3, 20, 20).numpy(), atol=1e-6)
    assert out[1, :, 7:12, 0:10].abs().max() == 0 and out[1, :, 12:, :].abs().min() > 0


def _losses(run) -> list[float]:
    from handdg.run.runs import read_metrics

    return [row["loss"] for row in read_metrics(run)]


def test_training_with_the_input_on_the_device_learns_resumes_exactly_and_is_timed(tmp_path) -> None:
    """`--augment-on device`: a finite loss, the same losses after an interruption (the noise field comes from
    per-sample keyed seeds), and the loop's timing hook sees every step."""
    from handdg.train import lifecycle, loop
    from handdg.train.timing import StepTimer
    from train_helpers import tiny_config, tiny_freihand

    data = tiny_freihand(tmp_path / "fh")
    augmented = dict(augment=("geometric", "jitter", "noise", "cutout"), steps=6, checkpoint_every=3,
                     lr_schedule="constant", augment_on="device")
    timer = StepTimer(warm_up=1)
    whole = loop.train(tiny_config(data, tmp_path / "whole", **augmented), timer=timer)
    loop.train(tiny_config(data, tmp_path / "cut", **{**augmented, "steps": 3}))
    lifecycle.resume(tmp_path / "cut", steps=6)
    losses = _losses(whole)
    assert len(losses) == 6 and all(np.isfinite(losses))
    assert _losses(tmp_path / "cut") == losses
    summary = timer.summary()
    assert len(timer.wait_s) == len(timer.compute_s) == 6 and summary["steps"] == 5
    assert 0.0 <= summary["wait_share"] < 1.0 and summary["compute_s"] > 0
    workers = loop.train(tiny_config(data, tmp_path / "workers", **{**augmented, "augment_on": "workers"}))
    assert _losses(workers) != losses  # the two paths draw the same distributions, not the same noise values
