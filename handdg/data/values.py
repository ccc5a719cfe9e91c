"""Checks of annotation values, not only shapes: finite joints in front of the camera and a real camera matrix.

`data check` lists every bad sample; training and evaluation refuse a split holding one, by id,
instead of learning from (or scoring against) NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from handdg.errors import HanddgError

if TYPE_CHECKING:
    from handdg.data.base import HandDataset, Sample

SHOWN_IDS = 5


def annotation_problems(sample: "Sample", required: bool = False) -> list[str]:
    """What is wrong with one sample's annotation values (empty when sound).

    A sample with no 3D annotation at all (every joint NaN: a test split without ground truth,
    or the folder layout) is only a problem when one is `required`.
    """
    xyz, K = np.asarray(sample.xyz_mm, dtype=np.float64), np.asarray(sample.K, dtype=np.float64)
    if sample.side == "unknown" or np.isnan(xyz).all():
        return [f"sample {sample.id} has no 3D annotation: train and evaluate only on annotated splits"] if required else []
    problems = []
    if not np.isfinite(xyz).all():
        problems.append(f"sample {sample.id}: its 3D joints hold {int((~np.isfinite(xyz)).sum())} NaN/inf values")
    elif (xyz[:, 2] <= 0).any():
        problems.append(f"sample {sample.id}: {int((xyz[:, 2] <= 0).sum())} joints lie behind the camera (z <= 0)")
    if not is_camera_matrix(K):
        problems.append(f"sample {sample.id}: K is not a camera matrix (want finite [[fx,s,cx],[0,fy,cy],[0,0,1]], "
                        f"fx, fy > 0), got {np.round(K, 3).tolist()}")
    return problems


def is_camera_matrix(K: np.ndarray) -> bool:
    """A finite 3x3 upper-triangular intrinsics matrix with positive focal lengths and last row (0, 0, 1)."""
    return (K.shape == (3, 3) and bool(np.isfinite(K).all()) and K[0, 0] > 0 and K[1, 1] > 0
            and K[1, 0] == 0 and np.array_equal(K[2], [0.0, 0.0, 1.0]))


def bad_samples(dataset: "HandDataset") -> list[tuple[str, str]]:
    """(id, problem) of every sample whose annotation values are wrong, read without decoding images."""
    found = []
    for index in range(len(dataset)):
        for problem in annotation_problems(dataset.annotation(index), required=True):
            found.append((dataset.ids[index], problem))
    return found


def refuse_bad_samples(dataset: "HandDataset") -> None:
    """HanddgError naming the bad samples of `dataset` (first few ids and the first problem)."""
    bad = bad_samples(dataset)
    if bad:
        ids = sorted({sample_id for sample_id, _ in bad})
        shown = ", ".join(ids[:SHOWN_IDS]) + (" ..." if len(ids) > SHOWN_IDS else "")
        raise HanddgError(f"{dataset.name} {dataset.split} at {dataset.root} has {len(ids)} samples with broken "
                          f"annotations ({shown}; {bad[0][1]}); fix or remove them (`handdg data check` lists all)")
