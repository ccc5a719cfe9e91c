"""Dataset samples -> network-ready tensors: a right-hand crop around the hand, its heatmaps and
its geometry, with each sample's augmentation drawn from its own seed.

Left hands are mirrored to right hands first (all hands the network sees are right hands).
The crop is a square around the 2D joints (`crop_scale` × their longer extent, as
handdg.data.transforms.hand_box), optionally jittered in scale and rotated about the optical
axis (augment.py); the crop's own intrinsics K and the rotated 3D joints travel with it, so the
3D targets and both evaluation protocols work in the crop's camera frame. Mirroring is an
isometry (x -> −x), so errors measured in that frame equal errors in the original one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from handdg.data.base import HandDataset, Sample
from handdg.data.boxes import HandBox, box_affine
from handdg.data.camera import project
from handdg.data.transforms import crop_affine, hand_box, mirror
from handdg.data.values import refuse_bad_samples
from handdg.errors import HanddgError
from handdg.inputs import augment
from handdg.inputs.decoded import DecodedImages
from handdg.inputs.seeds import AUGMENT, keyed_generator, keyed_seed
from handdg.inputs.styles import StyleSampler, mirrored_mask
from handdg.model.heatmaps import HeatmapCodec
from handdg.model.network import ModelConfig
from handdg.model.targets import with_root
from handdg.run.config import TrainConfig

MASK_CACHE_ENTRIES = 40_000
"""Hand masks a process keeps decoded for `styles` (every FreiHAND pose's fits: about 250 MB bit-packed)."""


@dataclass(frozen=True)
class CropSpec:
    """How to cut inputs: crop side in pixels, heatmap side and σ (heatmap pixels), box scale, which
    point joint 0 is ("wrist" or "palm", converted from the dataset's own root), and how a given hand
    box is cut (handdg.data.boxes.box_affine: "handdg" or the official code's "official")."""

    input_size: int
    heatmap_size: int
    heatmap_sigma: float
    crop_scale: float
    root: str = "wrist"
    box_convention: str = "handdg"

    @classmethod
    def for_run(cls, config: TrainConfig, model: ModelConfig) -> "CropSpec":
        """Input and heatmap geometry of a run."""
        return cls(input_size=model.input_size, heatmap_size=config.heatmap_size,
                   heatmap_sigma=config.heatmap_sigma, crop_scale=config.crop_scale, root=config.root)

    @property
    def codec(self) -> HeatmapCodec:
        """The GT heatmaps of these crops."""
        return HeatmapCodec(self.input_size, self.heatmap_size, self.heatmap_sigma)


def _warp(image: np.ndarray, M: np.ndarray, out_size: int) -> np.ndarray:
    """Resample `image` by the 3x3 affine M (pixel-centre convention), bilinear, black outside."""
    half = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    inverse = half @ np.linalg.inv(M) @ np.linalg.inv(half)
    warped = Image.fromarray(np.ascontiguousarray(image)).transform(
        (out_size, out_size), Image.Transform.AFFINE, tuple(inverse[:2].reshape(-1)), Image.Resampling.BILINEAR)
    return np.asarray(warped)


def crop_geometry(sample: Sample, spec: CropSpec, geometry: augment.Geometry = augment.Geometry(),
                  box: HandBox | None = None) -> tuple[dict, np.ndarray, np.ndarray]:
    """Where a sample's crop comes from: (its numpy fields but the image, the 3x3 map from `image`'s pixels
    to the crop, `image`: the sample's picture, mirrored for a left hand).

    The map is A·H, H = K·R·K⁻¹ the optical-axis rotation by geometry.angle and A the crop similarity
    around the hand (or `box`); the crop camera is A·K with the joints rotated by R.
    """
    mirrored = sample.side == "left"
    if box is not None:
        box = box.in_frame("mirrored", sample.image.shape[1], sample.side)
    if mirrored:
        sample = mirror(sample)
    K = np.asarray(sample.K, dtype=np.float64)
    xyz = with_root(sample.xyz_mm, sample.root, spec.root)
    uv = np.array(sample.uv, dtype=np.float64, copy=True)
    uv[0] = project(xyz[0], K)
    R = augment.optical_axis_rotation(geometry.angle)
    H = K @ R @ np.linalg.inv(K)
    uv = uv @ H[:2, :2].T + H[:2, 2]
    if box is None:
        center, side = hand_box(uv, scale=spec.crop_scale)
        A = crop_affine(center, side * geometry.scale, spec.input_size)
    else:
        A = box_affine(box, spec.input_size, spec.box_convention)
    fields = {
        "uv": uv @ A[:2, :2].T + A[:2, 2],
        "xyz_mm": xyz @ R.T,
        "visible": np.ones(21, bool) if sample.visible is None else np.asarray(sample.visible, bool),
        "K": A @ K,
        "zoom": float(np.sqrt(abs(np.linalg.det(A[:2, :2])))),
        "mirrored": mirrored,
    }
    return fields, A @ H, sample.image


def crop_sample(sample: Sample, spec: CropSpec, geometry: augment.Geometry = augment.Geometry(),
                box: HandBox | None = None) -> dict:
    """Mirror a left hand, rotate the view by geometry.angle, crop around the hand (or `box`): numpy fields."""
    fields, M, image = crop_geometry(sample, spec, geometry, box)
    return {"image": _warp(image, M, spec.input_size), **fields}


def geometry_tensors(crop: dict) -> dict[str, torch.Tensor]:
    """A crop's joints, camera and scale as float32 tensors (every hand the network sees is a right hand)."""
    return {
        "uv": torch.from_numpy(crop["uv"]).float(),
        "xyz_mm": torch.from_numpy(crop["xyz_mm"]).float(),
        "K": torch.from_numpy(crop["K"]).float(),
        "visible": torch.from_numpy(crop["visible"]),
        "zoom": torch.tensor(crop["zoom"], dtype=torch.float32),
        "hand_side": torch.tensor(1.0),
    }


def to_tensors(crop: dict, spec: CropSpec) -> dict[str, torch.Tensor]:
    """Network input (3,S,S) float in [0,1], heatmaps and geometry as float32 tensors."""
    return {
        "image": torch.from_numpy(np.array(crop["image"])).permute(2, 0, 1).float() / 255.0,
        "heatmaps": torch.from_numpy(spec.codec.encode(crop["uv"])),
        **geometry_tensors(crop),
    }


def collate_plans(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Batch `HandCrops(on_device=True)` samples: sources of different sizes padded black, the rest stacked."""
    from torch.utils.data import default_collate

    from handdg.inputs.batch_augment import pad_sources

    batch = default_collate([{k: v for k, v in s.items() if k != "source"} for s in samples])
    batch["source"] = pad_sources([s["source"] for s in samples])
    return batch


class HandCrops(Dataset):
    """Training (augmented) or evaluation (plain) crops of a HandDataset.

    Keys are (dataset index, seed) pairs for training, so a sample's augmentation depends on its
    seed only (not on worker count or order); plain integer indices give un-augmented crops.
    `keep_clean` adds "clean": the geometric crop before photometric augmentation, which the
    online CLIP mode encodes (the official code fed CLIP that crop). `boxes`, one per sample, replace
    the crop around the ground-truth joints (evaluation with the official test boxes). `on_device` returns
    the decoded picture and the sample's draws instead of the crop (`collate_plans` batches them, and
    handdg.inputs.batch_augment.finish_batch finishes the batch on the training device). `images`
    (handdg.inputs.decoded) gives each sample's decoded picture instead of decoding its file: the same pixels.
    `styles` restyles training crops from a style bank (handdg.inputs.styles), before the photometric ops;
    "style" then holds each sample's bank row (-1: not restyled).
    """

    def __init__(self, dataset: HandDataset, spec: CropSpec, augmentations: Sequence[str] = (),
                 keep_clean: bool = False, boxes: Sequence[HandBox] | None = None, on_device: bool = False,
                 images: DecodedImages | None = None, styles: StyleSampler | None = None) -> None:
        refuse_bad_samples(dataset)
        if boxes is not None and len(boxes) != len(dataset):
            raise HanddgError(f"{len(boxes)} boxes for {len(dataset)} samples of {dataset.name} {dataset.split}: "
                              "give one box per test sample, in dataset order")
        self.dataset = dataset
        self.spec = spec
        self.augmentations = tuple(augmentations)
        self.keep_clean = keep_clean
        self.boxes = boxes
        self.on_device = on_device
        if images is not None and len(images) != len(dataset):
            raise HanddgError(f"{len(images)} decoded images for {len(dataset)} samples of {dataset.name} {dataset.split}")
        self.images = images
        self.styles = styles
        self._masks: dict[tuple[int, str], tuple[np.ndarray, tuple[int, int]]] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        sample = self._sample(index)
        if not np.isfinite(sample.uv).all() or not np.isfinite(sample.xyz_mm).all():
            raise HanddgError(f"{self.dataset.name} sample {sample.id} has no 3D annotation: "
                              "train and evaluate only on annotated splits")
        gen = keyed_generator(seed) if seed is not None else None
        geometry = augment.Geometry()
        if gen is not None and "geometric" in self.augmentations:
            geometry = augment.draw_geometry(gen)
        box = self.boxes[index] if self.boxes is not None else None
        row = self.styles.draw(seed) if self.styles is not None and seed is not None else -1
        if self.on_device:
            return self._plan(sample, geometry, box, gen, index, row)
        side = sample.side
        fields, M, image = crop_geometry(sample, self.spec, geometry, box)
        tensors = to_tensors({"image": _warp(image, M, self.spec.input_size), **fields}, self.spec)
        if self.keep_clean:
            tensors["clean"] = tensors["image"]
        if self.styles is not None:
            tensors["style"] = torch.tensor(row)
            if row >= 0:
                mask = self._mask(index, side, M)
                tensors["image"] = self.styles.apply(tensors["image"][None], mask, tensors["style"][None])[0]
        if gen is not None:
            tensors["image"] = augment.photometric(tensors["image"], self.augmentations, gen)
        tensors["index"] = torch.tensor(index)
        return tensors

    def _sample(self, index: int) -> Sample:
        """Sample `index`, its picture from the decoded images when given (the reader then skips the file)."""
        if self.images is None:
            return self.dataset[index]
        sample = self.dataset.annotation(index)
        sample.image = self.images[index]
        return sample

    def _mask(self, index: int, side: str, M: np.ndarray) -> torch.Tensor | None:
        """Sample `index`'s hand mask cut as its crop is, (1,1,S,S) in [0,1] (None when the styles need none)."""
        if not self.styles.needs_mask:
            return None
        mask = _warp(self._source_mask(index, side), M, self.spec.input_size)
        return torch.from_numpy(np.array(mask)).float()[None, None] / 255.0

    def _source_mask(self, index: int, side: str) -> np.ndarray:
        """Sample `index`'s hand mask as uint8 0/255, mirrored as its picture is: decoded once per process and
        kept bit-packed (a FreiHAND mask in 6 KB; the four image versions of a pose share one)."""
        key = (self.dataset.mask_id(index), side)
        packed = self._masks.get(key)
        if packed is None:
            mask = mirrored_mask(self.dataset.load_mask(index), side)
            packed = (np.packbits(mask > 0), mask.shape)
            if len(self._masks) < MASK_CACHE_ENTRIES:
                self._masks[key] = packed
        bits, shape = packed
        return np.unpackbits(bits, count=shape[0] * shape[1]).reshape(shape) * np.uint8(255)

    def _plan(self, sample: Sample, geometry: augment.Geometry, box: HandBox | None, gen: torch.Generator | None,
              index: int, row: int = -1) -> dict[str, torch.Tensor]:
        """The worker's half with `on_device`: the decoded picture, its map to the crop and the photometric draw
        (handdg.inputs.batch_augment.finish_batch makes the crop, heatmaps and photometric ops on the device).
        With styles that read masks, the hand mask rides along as a fourth channel of the picture."""
        from handdg.inputs.batch_augment import SIZE, draw_photometric

        side = sample.side
        fields, M, image = crop_geometry(sample, self.spec, geometry, box)
        photo = draw_photometric(self.augmentations, gen) if gen is not None else torch.zeros(SIZE, dtype=torch.float64)
        source = torch.from_numpy(image if image.flags.writeable and image.flags.c_contiguous else image.copy())
        plan = {**geometry_tensors(fields), "affine": torch.from_numpy(M), "photo": photo, "index": torch.tensor(index)}
        if self.styles is not None:
            plan["style"] = torch.tensor(row)
            if self.styles.needs_mask:
                mask = self._source_mask(index, side) if row >= 0 else np.zeros(image.shape[:2], np.uint8)
                source = torch.cat([source, torch.from_numpy(mask)[..., None]], dim=-1)
        return {**plan, "source": source}


class StepBatches:
    """The (index, seed) batches of steps [start, stop) for one process: a batch_sampler.

    Epoch e's order is DistributedSampler's shuffle with the run seed (one code path for 1 and N
    processes); step s takes the (s mod steps_per_epoch)-th local batch of epoch s // steps_per_epoch.
    Incomplete batches are dropped (BatchNorm and negative mining want full batches).
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int, world: int, start: int, stop: int) -> None:
        from torch.utils.data.distributed import DistributedSampler

        self.sampler = DistributedSampler(range(size), num_replicas=world, rank=rank, shuffle=True, seed=seed)
        self.batch_size = batch_size
        self.seed = seed
        self.start, self.stop = start, stop
        self.per_epoch = len(self.sampler) // batch_size
        if self.per_epoch == 0:
            raise HanddgError(f"the training set has {size} samples, fewer than batch size {batch_size} "
                              f"x {world} process(es): lower --batch-size")

    def __len__(self) -> int:
        return self.stop - self.start

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, order = None, []
        for step in range(self.start, self.stop):
            if step // self.per_epoch != epoch:
                epoch = step // self.per_epoch
                self.sampler.set_epoch(epoch)
                order = list(self.sampler)
            first = (step % self.per_epoch) * self.batch_size
            yield [(i, keyed_seed(self.seed, AUGMENT, step, i)) for i in order[first:first + self.batch_size]]
