"""Claim 13, the step itself: which levers make a training step on ready tensors faster, and how fast the
network's convolutions run against the machine's matmul bound.

In one run, interleaved (harness.time_calls, so load drift hits every variant alike), one training step
(forward, the recipe's losses, backward, fused Adam; bench_throughput.network_step's tensors) of a preset:

- eager, contiguous tensors (today's CPU default) at every training thread and at one;
- eager with `channels_last`;
- `torch.compile` (inductor) of forward + losses, contiguous and `channels_last` (compile seconds reported);
- bf16 autocast with `channels_last` (fast only where the CPU has bf16 matrix units, e.g. AMX).

Then every distinct convolution of the heatmap net (shape as in a training batch): forward + backward
GFLOP/s, beside the fp32 matmul bound measured in the same run (bench_throughput.matmul_bound).

Usage: python benchmarks/bench_step_levers.py [--quick] [--preset tiny] [--batch 32] [--repeats 15]
       [--variants eager,eager-1-thread,channels-last,compile,compile-channels-last,bf16]
"""

from __future__ import annotations

import time
from pathlib import Path

from harness import Claim, parse_args, print_table, time_calls, write_result

VARIANTS = ("eager", "eager-1-thread", "channels-last", "compile", "compile-channels-last", "bf16")


def _extra(ap) -> None:
    ap.add_argument("--preset", default="tiny", help="network preset")
    ap.add_argument("--batch", type=int, default=32, help="training batch")
    ap.add_argument("--repeats", type=int, default=15, help="timed steps per variant (round-robin)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")


def training_step(preset: str, batch: int, variant: str, threads: int):
    """(one training step of `preset` as `variant` on fixed tensors, its first loss, seconds to the first step)."""
    import torch

    from bench_throughput import base_config
    from handdg.model.losses import total_loss
    from handdg.model.network import HandPoseNet
    from handdg.train import loop

    config = base_config(Path("/tmp"), preset, batch, 1, "workers")
    torch.manual_seed(0)
    net = HandPoseNet(loop.model_config(config, 512)).train()
    for module in (net.branch2, net.projection):
        module.requires_grad_(False)
    optimiser = loop.adam([p for p in net.parameters() if p.requires_grad], 1e-3)
    size, maps = net.config.input_size, config.heatmap_size
    x, side = torch.rand(batch, 3, size, size), torch.ones(batch)
    gt = torch.rand(batch, 21, maps, maps)
    coords, rot = torch.randn(batch, 21, 3), torch.eye(3).expand(batch, 3, 3).contiguous()
    if "channels-last" in variant or variant == "bf16":
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    losses = loop.loss_config(config)

    def loss() -> torch.Tensor:
        with torch.autocast("cpu", torch.bfloat16, enabled=variant == "bf16"):
            out = net(x, side, None, gt_heatmaps=gt if config.gt_lifting else None)
        return total_loss(out, gt, coords, rot, losses).total

    forward = torch.compile(loss) if variant.startswith("compile") else loss

    def step() -> float:
        torch.set_num_threads(1 if variant == "eager-1-thread" else threads)
        value = forward()
        value.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        torch.set_num_threads(threads)
        return float(value)

    start = time.perf_counter()
    first = step()
    return step, first, time.perf_counter() - start


def conv_rates(preset: str, batch: int, repeats: int) -> list[dict]:
    """Forward + backward GFLOP/s of each distinct conv of `preset`'s heatmap net at its training input shape."""
    import torch

    from handdg.model.network import HandPoseNet, ModelConfig

    net = HandPoseNet(ModelConfig.from_preset(preset)).train()
    shapes: dict[tuple, torch.nn.Conv2d] = {}

    def record(module, inputs, _output) -> None:
        shapes.setdefault((tuple(inputs[0].shape), module.out_channels, module.kernel_size[0]), module)

    hooks = [m.register_forward_hook(record) for m in net.heatmap_net.modules() if isinstance(m, torch.nn.Conv2d)]
    net.heatmap_net(torch.rand(batch, 3, net.config.input_size, net.config.input_size))
    for hook in hooks:
        hook.remove()
    rows = []
    for (shape, out_channels, k), conv in shapes.items():
        x = torch.rand(shape, requires_grad=True)

        def call(conv=conv, x=x) -> None:
            conv(x).sum().backward()

        timing = time_calls({"conv": call}, repeats, warmup=2)["conv"]
        n, c, h, w = shape
        flops = 3 * 2 * n * out_channels * h * w * c * k * k  # forward, input gradient, weight gradient
        rows.append({"input": list(shape), "out_channels": out_channels, "kernel": k,
                     "gflops_per_s": flops / timing.median_s / 1e9, "ms": 1000 * timing.median_s})
    return rows


def main() -> None:
    """Time every variant's step in one round-robin, then the convolutions; print and write the JSON."""
    args = parse_args(__doc__, _extra)
    import torch

    from bench_throughput import matmul_bound

    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    if args.quick:
        args.batch, args.repeats, variants = 4, 2, [v for v in variants if not v.startswith("compile")]
    torch.set_num_threads(args.threads)
    built = {v: training_step(args.preset, args.batch, v, args.threads) for v in variants}
    timings = time_calls({v: built[v][0] for v in variants}, args.repeats)
    base = timings[variants[0]].median_s
    rows = [[v, 1000 * timings[v].median_s, args.batch / timings[v].median_s, base / timings[v].median_s,
             built[v][1], built[v][2]] for v in variants]
    print_table(f"{args.preset}, batch {args.batch}, {args.threads} threads: one training step on ready tensors",
                ["variant", "ms", "samples/s", f"speed-up vs {variants[0]}", "first loss", "s to first step"], rows)
    bound = matmul_bound(args.threads)
    convs = conv_rates(args.preset, args.batch, args.repeats)
    print_table(f"{args.preset} heatmap-net convolutions, forward + backward (fp32 matmul bound {bound:.0f} GFLOP/s)",
                ["input", "out", "k", "ms", "GFLOP/s", "of bound"],
                [[c["input"], c["out_channels"], c["kernel"], c["ms"], c["gflops_per_s"], c["gflops_per_s"] / bound]
                 for c in convs])
    claims = [Claim("13", f"{v} vs {variants[0]}, {args.preset} training step on ready tensors",
                    base / timings[v].median_s, f"{1000 * timings[v].median_s:.0f} vs {1000 * base:.0f} ms",
                    unit="×", limit="the convolution kernels") for v in variants[1:]]
    write_result("step_levers", args, claims, {
        "preset": args.preset, "batch": args.batch, "matmul_bound_gflops": bound,
        "variants": {v: {**timings[v].to_dict(), "first_loss": built[v][1], "first_step_s": built[v][2]}
                     for v in variants},
        "convolutions": convs})


if __name__ == "__main__":
    main()
