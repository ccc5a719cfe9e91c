"""Claim: with cached CLIP features a training step costs what the pose network costs; running
frozen CLIP inside every step (the official code's way, `handdg train --clip-mode online`)
adds a CLIP image forward per step.

Times one whole training step, f_CLIP for the batch (ClipInput, the loop's own code) + forward
+ loss + backward + Adam, both ways on the same batch, interleaved. Random weights for both
networks: speed does not depend on the values. The claim is the speed-up of cached over online.

Usage: python benchmarks/bench_train_step.py [--quick] [--threads N] [--preset small] [--batch 16] [--repeats 5]
"""

from __future__ import annotations

import argparse

import torch

from harness import Claim, parse_args, print_table, time_calls, write_result


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--preset", default="small", help="pose network preset (paper, small, tiny)")
    ap.add_argument("--model", default="ViT-B-32", help="open_clip model run in the online step")
    ap.add_argument("--batch", type=int, default=16, help="samples per step")
    ap.add_argument("--repeats", type=int, default=5, help="timed steps per side")


def _batch(size: int, batch: int, rows: int) -> dict[str, torch.Tensor]:
    """A training batch as HandCrops + default collation give it: crops, heatmaps, joints, indices."""
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, size, size, generator=gen)
    xyz = torch.randn(batch, 21, 3, generator=gen) * 40.0 + torch.tensor([0.0, 0.0, 500.0])
    return {"image": images, "clean": images, "heatmaps": torch.rand(batch, 21, 32, 32, generator=gen),
            "xyz_mm": xyz, "hand_side": torch.ones(batch), "index": torch.randint(0, rows, (batch,), generator=gen)}


def main() -> None:
    """Build both CLIP inputs and one network, time whole steps each way, write the speed-up."""
    args = parse_args(__doc__, _options)
    from handdg.featurize.clip import load_clip
    from handdg.train.features import ClipFeatures
    from handdg.train.loop import ClipInput, OnlineClip, pose_targets
    from handdg.train.losses import LossConfig, total_loss
    from handdg.train.model import HandPoseNet, ModelConfig

    preset, model, batch, repeats = args.preset, args.model, args.batch, args.repeats
    if args.quick:
        preset, model, batch, repeats = "tiny", "handdg-tiny", 4, 2
    encoder = load_clip(model, "random", "cpu")
    dim, rows = encoder.embed_dim, 4096
    features = ClipFeatures(torch.randn(rows, dim).half(), torch.randn(3920, dim), encoder.provenance)
    inputs = {"cached": ClipInput(features, None, 0.6, 0),
              "online": ClipInput(features, OnlineClip(encoder, features), 0.6, 0)}
    net = HandPoseNet(ModelConfig.from_preset(preset, clip_dim=dim))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    data = _batch(net.config.input_size, batch, rows)

    def step(clip: ClipInput) -> None:
        output = net(data["image"], data["hand_side"], clip(data, 1, 0))
        coords, rotation = pose_targets(data, "canonical", net.config.input_size)
        terms = total_loss(output, data["heatmaps"], coords, rotation, LossConfig())
        optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        optimizer.step()

    calls = {name: (lambda clip=clip: step(clip)) for name, clip in inputs.items()}
    calls["clip forward"] = lambda: inputs["online"].online.image_features(data["clean"])
    timings = time_calls(calls, repeats)
    rate = {name: batch / t.median_s for name, t in timings.items()}
    speedup = timings["online"].median_s / timings["cached"].median_s
    print_table(f"training step, {preset} preset, batch {batch}, CLIP {model} ({args.threads} threads)",
                ["step", "median s", "samples/s"], [[name, t.median_s, rate[name]] for name, t in timings.items()])
    claim = Claim("train-step", f"training step on cached CLIP features vs {model} in the step ({preset} net)",
                  speedup, f"{rate['cached']:.1f} vs {rate['online']:.1f} samples/s (batch {batch})", unit="×",
                  limit="the pose network's own forward + backward; CLIP's share grows with a GPU or a larger CLIP")
    write_result("train_step", args, [claim], {
        "preset": preset, "model": model, "batch": batch, "repeats": repeats,
        "timings": {name: t.to_dict() for name, t in timings.items()},
    })


if __name__ == "__main__":
    main()
