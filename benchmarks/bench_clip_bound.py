"""Claim 2: the bare CLIP image forward against this machine's physical limit.

bound (images/s) = the machine's measured fp32 matmul GFLOP/s ÷ the model's FLOPs per image
(counted with torch's FlopCounterMode, not taken from a paper). The claim is the fraction of
that bound that `ClipEncoder.encode_images` (the call featurize makes) reaches on a batch of
pre-processed tensors. Both sides take their best timed call (the bound is a peak; on a
shared machine the best call is the one least disturbed). Random weights: speed does not
depend on the values.

Usage: python benchmarks/bench_clip_bound.py [--quick] [--threads N] [--batch 32] [--repeats 5]
"""

from __future__ import annotations

import argparse

import torch

from harness import Claim, count_flops, parse_args, print_table, time_calls, write_result


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--model", default="ViT-B-32", help="open_clip model name")
    ap.add_argument("--batch", type=int, default=32, help="images per forward")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per side")


def matmul_case(rows: int, inner: int, cols: int) -> tuple[str, float, callable]:
    """(label, FLOPs per call, call) for one fp32 (rows×inner)·(inner×cols) product."""
    a, b = torch.randn(rows, inner), torch.randn(inner, cols)
    return f"mm {rows}x{inner}x{cols}", 2.0 * rows * inner * cols, lambda: torch.mm(a, b)


def main() -> None:
    """Measure matmul peak, count FLOPs per image, time the bare forward; write the fraction."""
    args = parse_args(__doc__, _options)
    from handdg.featurize.clip import load_clip

    model, batch, repeats = args.model, args.batch, args.repeats
    if args.quick:
        model, batch, repeats = "handdg-tiny", 4, 2
    encoder = load_clip(model, "random", "cpu")
    size = encoder.image_size
    images = torch.randn(batch, 3, size, size)
    with torch.inference_mode():
        flops_per_image = count_flops(lambda: encoder.model.encode_image(images[:1]))

    width = encoder.model.visual.transformer.width
    tokens = batch * (1 + (size // encoder.model.visual.patch_size[0]) ** 2)
    square = 256 if args.quick else 2048
    cases = [matmul_case(square, square, square), matmul_case(tokens, width, 4 * width)]
    calls = {label: fn for label, _, fn in cases}
    calls["forward"] = lambda: encoder.encode_images(images)
    timings = time_calls(calls, repeats)

    gflops = {label: flops / timings[label].min_s / 1e9 for label, flops, _ in cases}
    peak = max(gflops.values())
    bound = peak * 1e9 / flops_per_image
    achieved = batch / timings["forward"].min_s
    fraction = achieved / bound
    print_table(f"{model} forward vs fp32 matmul bound ({args.threads} threads)", ["quantity", "value"],
                [*[[f"{label} GFLOP/s", g] for label, g in gflops.items()],
                 ["GFLOP per image (counted)", flops_per_image / 1e9],
                 ["bound img/s", bound], [f"bare forward img/s (batch {batch})", achieved],
                 ["fraction of bound", fraction]])
    claim = Claim("2", f"bare {model} forward vs fp32 matmul bound", fraction,
                  f"{achieved:.1f} img/s of {bound:.1f} img/s bound ({peak:.0f} GFLOP/s ÷ "
                  f"{flops_per_image / 1e9:.3g} GFLOP/img)",
                  limit="fp32 GEMM throughput of the CPU; the rest is attention softmax, LayerNorm and "
                        "GELU, which are memory-bound and not in the FLOP count")
    write_result("clip_bound", args, [claim], {
        "model": model, "batch": batch, "repeats": repeats,
        "flops_per_image": flops_per_image, "matmul_gflops": gflops, "peak_gflops": peak,
        "bound_images_per_s": bound, "forward_images_per_s": achieved,
        "timings": {label: t.to_dict() for label, t in timings.items()},
    })


if __name__ == "__main__":
    main()
