"""RHD layout: training|evaluation/{color,mask,depth}/%05d.png and anno_training|anno_evaluation.pickle.

The pickle is a dict {sample_id: {'xyz': 42x3 m, 'uv_vis': 42x3, 'K': 3x3}} with the left hand
in rows 0-20 and the right hand in rows 21-41, each in RHD's order (wrist, then every finger
tip->MCP). Masks hold RHD's part ids (0 background, 1 person, 2-17 left hand, 18-33 right hand);
depth PNGs encode metres as (R*256 + G) / 65535 * 5.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from handdg.data.camera import project
from handdg.data.joints import FH_TO_RHD
from handdg.synth.attributes import described_for
from handdg.synth.sampling import eval_count, sample_rng, subject_for
from handdg.synth.scenes import View, rhd_view
from handdg.synth.tasks import run_tasks

_DEPTH_RANGE_M = 5.0
_FOLDERS = {"train": "training", "test": "evaluation"}


def encode_depth(depth_m: np.ndarray) -> np.ndarray:
    """RHD's depth PNG encoding: 16-bit depth/5 m in R (high byte) and G (low byte); empty pixels read 5 m."""
    code = np.round(np.clip(np.nan_to_num(depth_m, posinf=_DEPTH_RANGE_M), 0, _DEPTH_RANGE_M) / _DEPTH_RANGE_M * 65535)
    code = code.astype(np.uint16)
    out = np.zeros(depth_m.shape + (3,), np.uint8)
    out[..., 0] = code >> 8
    out[..., 1] = code & 0xFF
    return out


def annotation(view: View) -> dict[str, np.ndarray]:
    """One RHD annotation entry: 42 joints (left then right, RHD order), their uv + visibility, K."""
    by_side = {hand.side: hand for hand in view.hands}
    xyz, uv_vis = [], []
    for side in ("left", "right"):
        hand = by_side[side]
        xyz.append(hand.xyz[FH_TO_RHD])
        uv_vis.append(np.column_stack([project(hand.xyz, view.K), hand.visible.astype(float)])[FH_TO_RHD])
    return {"xyz": np.concatenate(xyz).astype(np.float32), "uv_vis": np.concatenate(uv_vis).astype(np.float32),
            "K": view.K.astype(np.float32)}


def _sample(root: Path, split: str, index: int, seed: int, look: str) -> tuple[dict[str, np.ndarray], dict]:
    """Render and write frame `index` of `split`; return its annotation and its attribute record."""
    rng = sample_rng(seed, "rhd", split, index)
    described = described_for(rng, look)
    view = rhd_view(rng, subject_for(seed, "rhd", split, index), described)
    folder = root / _FOLDERS[split]
    name = f"{index:05d}.png"
    Image.fromarray(view.image).save(folder / "color" / name, compress_level=1)
    Image.fromarray(view.part.astype(np.uint8), mode="L").save(folder / "mask" / name, compress_level=1)
    Image.fromarray(encode_depth(view.depth)).save(folder / "depth" / name, compress_level=1)
    return annotation(view), view.attributes.record(f"{_FOLDERS[split]}/color/{name}")


def write_rhd(root: Path, split: str, count: int, seed: int, workers: int = 1, look: str = "default") -> list[dict]:
    """Write one split under `root` (train = `count` frames, test = eval_count(count)); return its attribute records."""
    n = count if split == "train" else eval_count(count)
    folder = root / _FOLDERS[split]
    for sub in ("color", "mask", "depth"):
        (folder / sub).mkdir(parents=True)
    results = run_tasks(_sample, [(root, split, i, seed, look) for i in range(n)], workers, f"rhd {split}")
    with open(folder / f"anno_{_FOLDERS[split]}.pickle", "wb") as fh:
        pickle.dump(dict(enumerate(anno for anno, _ in results)), fh, protocol=2)
    return [record for _, record in results]
