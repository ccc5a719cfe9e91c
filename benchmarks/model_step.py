"""Time one forward + backward of the hand pose network per preset on this machine; writes JSON.

Usage: python benchmarks/model_step.py [--presets tiny,small] [--batch 8] [--repeats 10] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handdg.model.losses import total_loss  # noqa: E402
from handdg.model.network import HandPoseNet, ModelConfig, parameter_counts  # noqa: E402


def time_preset(name: str, batch: int, repeats: int, clip_dim: int) -> dict:
    """Median seconds of forward + loss + backward with Branch2 on, after one warm-up step."""
    cfg = ModelConfig.from_preset(name, clip_dim=clip_dim)
    net = HandPoseNet(cfg)
    size, hm = cfg.input_size, cfg.heatmap_size
    images, side = torch.rand(batch, 3, size, size), torch.randint(0, 2, (batch,))
    clip = torch.randn(batch, clip_dim)
    gt_heat, gt_coords, gt_rot = torch.rand(batch, 21, hm, hm), torch.randn(batch, 21, 3), torch.randn(batch, 3, 3)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        net.zero_grad(set_to_none=True)
        total_loss(net(images, side, clip), gt_heat, gt_coords, gt_rot).total.backward()
        times.append(time.perf_counter() - start)
    return {"preset": name, "input_size": size, "batch": batch, "clip_dim": clip_dim,
            "parameters": parameter_counts(net), "median_s": statistics.median(times[1:]),
            "min_s": min(times[1:])}


def main() -> None:
    """Parse options, time each preset, print and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--clip-dim", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/model_step.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
               "threads": args.threads,
               "runs": [time_preset(p, args.batch, args.repeats, args.clip_dim) for p in args.presets.split(",")]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
