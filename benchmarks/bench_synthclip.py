"""Does the built-in synthetic CLIP mean something? Measured on held-out synthetic images.

Renders a broad-look caption set from a seed the checkpoint was not trained on (training
uses seed 0; this uses --seed, default 1000), encodes it with the CLIP under test and with
random weights of the same model (chance level), and reports:

- zero-shot accuracy of hand colour (7 words), background word (19) and room/background, each
  image given the class whose mean Table 2 prompt feature is nearest (handdg.synthclip.evaluate);
- retrieval precision@10 of "a photo of <hand colour> hand with <word> background", averaged over
  every hand colour x word query with >= 10 matching held-out images.

Targets: hand colour accuracy >= 0.8, precision@10 >= 0.8.

Usage: python benchmarks/bench_synthclip.py [--quick] [--threads N] [--poses 800] [--seed 1000]
       [--clip-model handdg-synth] [--clip-weights builtin]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from harness import Claim, parse_args, print_table, write_result

from handdg.featurize.clip import load_clip
from handdg.synthclip.data import load_images, render_caption_set
from handdg.synthclip.evaluate import encode_images, prompt_features, retrieval_precision, zero_shot


def _options(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--poses", type=int, default=800, help="held-out hands rendered (4 images each)")
    ap.add_argument("--seed", type=int, default=1000, help="held-out seed (the shipped CLIP was trained on seed 0)")
    ap.add_argument("--clip-model", default="handdg-synth")
    ap.add_argument("--clip-weights", default="builtin")


def measure(model: str, weights: str, images, records, min_matches: int) -> dict:
    """Zero-shot accuracies and retrieval precision@10 of one CLIP on the held-out images."""
    encoder = load_clip(model, weights, device="cpu")
    feats = encode_images(encoder, images)
    scores = zero_shot(feats, records, prompt_features(encoder))
    retrieval = retrieval_precision(encoder, feats, records, k=10, min_matches=min_matches)
    return {"weights": encoder.provenance["weights"], **scores, "precision_at_10": retrieval["precision_at_k"],
            "queries": retrieval["queries"], "per_query": retrieval["per_query"]}


def main() -> None:
    args = parse_args(__doc__, _options)
    poses, min_matches = (12, 1) if args.quick else (args.poses, 10)
    with tempfile.TemporaryDirectory() as tmp:
        root = render_caption_set(Path(tmp) / "heldout", poses, args.seed)
        encoder = load_clip(args.clip_model, args.clip_weights, device="cpu")
        images, records = load_images(root, encoder.image_size)
    tested = measure(args.clip_model, args.clip_weights, images, records, min_matches)
    chance = measure(args.clip_model, "random:0", images, records, min_matches)
    fields = ["hand_colour_accuracy", "colour_accuracy", "place_accuracy", "precision_at_10"]
    print_table(f"{len(records)} held-out images (seed {args.seed}), {tested['queries']} retrieval queries",
                ["CLIP"] + fields, [[r["weights"][:40]] + [r[f] for f in fields] for r in (tested, chance)])
    summary = f"{tested['weights'][:48]}; random weights: {{}}"
    claims = [
        Claim("C1", "synthetic CLIP: zero-shot hand colour accuracy (7 words), held-out", tested["hand_colour_accuracy"],
              summary.format(f"{chance['hand_colour_accuracy']:.3f}"), target=0.8, limit="model size / training time"),
        Claim("C2", "synthetic CLIP: text retrieval precision@10 (hand colour x background word), held-out",
              tested["precision_at_10"], summary.format(f"{chance['precision_at_10']:.3f}") + f"; {tested['queries']} queries",
              target=0.8, limit="model size / training time"),
        Claim("C3", "synthetic CLIP: zero-shot background word accuracy (19 words), held-out", tested["colour_accuracy"],
              summary.format(f"{chance['colour_accuracy']:.3f}")),
        Claim("C4", "synthetic CLIP: zero-shot room vs background accuracy, held-out", tested["place_accuracy"],
              summary.format(f"{chance['place_accuracy']:.3f}")),
    ]
    details = {"images": len(records), "poses": poses, "seed": args.seed, "min_matches": min_matches,
               "clip_model": args.clip_model, "tested": tested, "random_weights": chance}
    write_result("synthclip", args, claims, details)


if __name__ == "__main__":
    main()
