"""A checkpoint ready to run on the user's frames: each hand cut as evaluation cuts it
(handdg.data.boxes.box_affine; left hands from the mirrored image, as the network only saw right hands),
batched through the network on its device, decoded back into the image (handdg.inference.decode).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from handdg.data.boxes import SIDES, HandBox, box_affine, check_box
from handdg.device.distributed import pick_device
from handdg.device.precision import Precision
from handdg.errors import HanddgError
from handdg.evaluation.evaluate import load_model
from handdg.files import sha256
from handdg.inference.boxes import scaled
from handdg.inference.decode import Crop, Hand, assumed_K, decode_hands
from handdg.inference.schema import CONVENTIONS
from handdg.inference.settings import Settings
from handdg.inference.sources import Frame
from handdg.inputs.batches import _warp

Cut = tuple[np.ndarray, Crop]
"""One hand ready for the network: its crop pixels (S, S, 3) uint8 and how it was cut."""


def _intrinsics(box: HandBox, settings: Settings, frame: Frame) -> tuple[np.ndarray, bool]:
    """The hand's camera: the box's own K, else --K, else assumed (handdg.inference.decode.assumed_K)."""
    given = box.K or settings.K
    if given is None:
        height, width = frame.image.shape[:2]
        return assumed_K(width, height), True
    fx, fy, cx, cy = given
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]), False


def _cut(frame: Frame, box: HandBox, side: str, size: int, convention: str) -> tuple[np.ndarray, np.ndarray]:
    """(crop (S,S,3) uint8, A: original pixels -> crop) with a left hand cut from the mirrored image."""
    width = frame.image.shape[1]
    A = box_affine(box.in_frame("mirrored", width, side), size, convention)
    if side != "left":
        return _warp(frame.image, A, size), A
    flip = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return _warp(np.ascontiguousarray(frame.image[:, ::-1]), A, size), A @ flip


class Predictor:
    """A checkpoint ready to run on frames: the network on its device and what every output records."""

    def __init__(self, model: str | Path, settings: Settings) -> None:
        if settings.side not in SIDES:
            raise HanddgError(f"unknown hand side {settings.side!r}: use left or right")
        if settings.every < 1 or settings.batch_size < 1 or not settings.box_scale > 0:
            raise HanddgError("--every and --batch-size must be at least 1 and --box-scale positive")
        self.settings = settings
        self.device = pick_device(settings.device)
        self.net, ckpt = load_model(model, self.device)
        self.amp = Precision.for_device(settings.precision, self.device)
        self.amp.prepare(self.net)
        self.convention = "official" if ckpt.source and ckpt.source.get("kind") == "official" else "handdg"
        self.crop_scale = float(ckpt.config.crop_scale)
        reference = ckpt.reference or {}
        bone = reference.get("bone_mm")
        if bone is None and reference.get("mm") is not None:
            from handdg.data.transforms import bone_length

            bone = float(bone_length(np.asarray(reference["mm"])))
        self.bone_mm = settings.bone_mm if settings.bone_mm is not None else bone
        self.context = {"checkpoint": str(model), "checkpoint_sha256": sha256(model), "root": ckpt.config.root,
                        "conventions": CONVENTIONS}

    def run_batch(self, cut: list[Cut]) -> list[Hand]:
        """Hands of a list of (crop pixels, Crop) through the network, decoded into their images."""
        if not cut:
            return []
        images = torch.from_numpy(np.stack([c for c, _ in cut])).permute(0, 3, 1, 2).float() / 255.0
        sides = torch.ones(len(cut))
        with torch.inference_mode():
            inputs = self.amp.batch_to_device({"image": images, "hand_side": sides})
            with self.amp.autocast():
                output = self.net(inputs["image"], inputs["hand_side"])
        output.heatmaps, output.coords = output.heatmaps.float().cpu(), output.coords.float().cpu()
        if output.rotation is not None:
            output.rotation = output.rotation.float().cpu()
        return decode_hands(output, [crop for _, crop in cut], self.net.config.input_size)

    def prepare(self, frame: Frame, boxes: list[HandBox]) -> list[Cut]:
        """Each hand of a frame cut for the network."""
        size = self.net.config.input_size
        cut = []
        for box in boxes:
            check_box(box, frame.image.shape[1], frame.image.shape[0], frame.name)
            side = box.side or self.settings.side
            pixels, A = _cut(frame, scaled(box, self.settings.box_scale), side, size, self.convention)
            K, assumed = _intrinsics(box, self.settings, frame)
            cut.append((pixels, Crop(A, side == "left", K, assumed, self.settings.root_depth_mm, self.bone_mm)))
        return cut
