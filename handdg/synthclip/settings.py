"""The settings of a synthetic-CLIP training run (no heavy imports: the CLI reads its defaults here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SynthClipSettings:
    """Everything that decides the trained weights (with OMP_NUM_THREADS=1, bit for bit)."""

    model: str = "handdg-synth"
    poses: int = 1000  # hands rendered; 4 images (backdrops) each
    epochs: int = 24
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup_steps: int = 40
    seed: int = 0
