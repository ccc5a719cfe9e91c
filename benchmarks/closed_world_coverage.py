"""Closed world, why: how near each style bank brings the source's crops to the target look, with no training.

The oracle's dataset shows the source's own poses in the target look, so every source image has a target twin.
For N source images restyled by S styles of each bank (and left as they are), this measures:
- colour: the 6-vector (hand mean RGB, background mean RGB), each region set apart by the image's own hand mask;
  `coverage` is the mean distance from each of M target-look images to its nearest restyled source image (how
  much of the target look the bank reaches), `precision` the mean distance from each restyled image to its
  nearest target-look image (how much of the bank lands in the target look);
- CLIP: the synthetic CLIP's cosine between a restyled image and its own twin in the target look, mean over
  styles and images (a bank that knows where to go raises it).
- words: the share of restyled images whose hand and background colours are nearest the rendered colour of
  their style's prompt words (each word's colour measured on the source and target images its sidecar names).
A text bank that adds direction beats its matched random control on words and precision at equal coverage.

Usage: python benchmarks/closed_world_coverage.py --work /work/cw2/full --data-seed 1 [--images 32 --styles 256]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from harness import parse_args, print_table

BANKS = ("regions", "random-regions", "global")


def _extra(ap) -> None:
    ap.add_argument("--work", type=Path, required=True, help="bench_closed_world's work folder (…/full)")
    ap.add_argument("--data-seed", type=int, default=1, help="the data seed whose source, oracle and banks to read")
    ap.add_argument("--source-look", default="restricted-scenes")
    ap.add_argument("--target-look", default="unseen-scenes")
    ap.add_argument("--poses", type=int, default=500, help="source poses of the bench's datasets")
    ap.add_argument("--images", type=int, default=32, help="source images (and their target twins) measured")
    ap.add_argument("--styles", type=int, default=256, help="styles drawn from each bank")
    ap.add_argument("--targets", type=int, default=400, help="target-look images the colour distances measure against")


def _load(dataset, indices: list[int], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N,3,S,S) in [0,1] and hand masks (N,1,S,S) of the dataset's samples `indices`."""
    images, masks = [], []
    for i in indices:
        image = torch.from_numpy(np.array(dataset.load_image(i))).permute(2, 0, 1).float()[None] / 255.0
        mask = torch.from_numpy(np.asarray(dataset.load_mask(i), np.float32))[None, None]
        images.append(F.interpolate(image, size=(size, size), mode="bilinear", antialias=True)[0].clamp(0, 1))
        masks.append(F.interpolate(mask, size=(size, size), mode="bilinear", antialias=True)[0].clamp(0, 1))
    return torch.stack(images), torch.stack(masks)


def colours(images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """(N,6): hand mean RGB then background mean RGB of each image, the regions weighted by the mask."""
    hand = (images * masks).sum((2, 3)) / masks.sum((2, 3)).clamp_min(1e-6)
    rest = 1 - masks
    back = (images * rest).sum((2, 3)) / rest.sum((2, 3)).clamp_min(1e-6)
    return torch.cat([hand, back], 1)


def nearest(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over rows of `a` of the distance to the nearest row of `b`."""
    return float(torch.cdist(a, b).min(1).values.mean())


def word_centroids(datasets: list, count: int) -> dict[str, tuple[list[str], torch.Tensor]]:
    """Per attribute class ("hand", "background"): its words and the mean rendered colour (3,) of each, from
    `count` images of each dataset named by their attribute sidecars."""
    from handdg.synth.attributes import read_sidecar

    sums: dict[tuple[str, str], list[torch.Tensor]] = {}
    for dataset in datasets:
        records = {r["image"]: r for r in read_sidecar(dataset.root)}
        picked = sorted(int(i) for i in np.random.default_rng(2).choice(len(dataset), count, replace=False))
        found = colours(*_load(dataset, picked, 32))
        for i, vector in zip(picked, found):
            record = records[str(dataset.files(i)[0].relative_to(dataset.root))]
            sums.setdefault(("hand", record["hand_colour"]), []).append(vector[:3])
            sums.setdefault(("background", record["colour"]), []).append(vector[3:])
    out = {}
    for part in ("hand", "background"):
        words = sorted(w for p, w in sums if p == part)
        out[part] = (words, torch.stack([torch.stack(sums[(part, w)]).mean(0) for w in words]))
    return out


def word_accuracy(styled: torch.Tensor, prompts: list[str], centroids: dict) -> dict[str, float]:
    """The share of restyled images (S,N,6) whose hand and background colours are nearest the rendered colour of
    their style's prompt words (one of the paper's prompts per style): does a style show what its prompt says?"""
    from handdg.prompts import COLOURS, HAND_COLOURS, all_prompts, id_to_parts

    ids = {text: pid for pid, text in enumerate(all_prompts())}
    parts = [id_to_parts(ids[text]) for text in prompts]
    named = {"hand": [HAND_COLOURS[p.hand_colour] for p in parts], "background": [COLOURS[p.colour] for p in parts]}
    out = {}
    for part, columns in (("hand", slice(0, 3)), ("background", slice(3, 6))):
        words, table = centroids[part]
        nearest_word = torch.cdist(styled[..., columns].flatten(0, 1), table).argmin(1).view(styled.shape[:2])
        wanted = torch.tensor([words.index(w) for w in named[part]])[:, None]
        out[part] = float((nearest_word == wanted).float().mean())
    return out


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], _extra)
    from handdg.data import open_dataset
    from handdg.featurize.clip import load_clip
    from handdg.styles.bank import StyleBank
    from handdg.styles.families import apply
    from handdg.styles.optimise import ClipImages

    torch.manual_seed(0)
    folder = args.work / f"data-seed{args.data_seed}"
    source = open_dataset(folder / f"freihand-{args.source_look}-{args.poses}", "freihand", "train")
    target = open_dataset(folder / f"freihand-{args.target_look}-{args.poses}", "freihand", "train")
    assert len(source) == len(target), "the oracle's dataset must hold the source's poses"
    indices = sorted(int(i) for i in np.random.default_rng(0).choice(len(source), args.images, replace=False))
    encoder = load_clip("handdg-synth", "builtin", "cpu")
    clip = ClipImages(encoder)
    src, src_masks = _load(source, indices, encoder.image_size)
    tgt, tgt_masks = _load(target, indices, encoder.image_size)
    tgt_embed = clip.embed(tgt)
    others = sorted(int(i) for i in np.random.default_rng(1).choice(len(target), args.targets, replace=False))
    tgt_colours = colours(*_load(target, others, 32))
    centroids = word_centroids([source, target], args.targets)
    rows, out = [], {}
    banks = {"none (source as it is)": None}
    banks.update({name: StyleBank.open(args.work / f"banks-seed{args.data_seed}-{args.source_look}" / name)
                  for name in BANKS})
    for name, bank in banks.items():
        pick = None
        if bank is None:
            styled = src[None]
        else:
            pick = torch.randperm(len(bank.params), generator=torch.Generator().manual_seed(0))[:args.styles]
            styled = torch.stack([apply(bank.family, src, src_masks, bank.params[pick[k:k + 1]].expand(len(src), -1),
                                        bank.strength[pick[k:k + 1]].expand(len(src))) for k in range(len(pick))])
        flat = styled.flatten(0, 1)
        flat_colours = colours(flat, src_masks.repeat(len(styled), 1, 1, 1))
        cosine = (clip.embed(flat).view(len(styled), len(src), -1) * tgt_embed[None]).sum(-1)
        words = {} if pick is None else word_accuracy(flat_colours.view(len(styled), len(src), 6),
                                                      [bank.prompts[i] for i in pick.tolist()], centroids)
        out[name] = {"hand_word_right": words.get("hand"), "background_word_right": words.get("background"),
                     "coverage": nearest(tgt_colours, flat_colours), "precision": nearest(flat_colours, tgt_colours),
                     "clip_cosine_to_twin": float(cosine.mean()), "clip_cosine_best_style": float(cosine.max(0).values.mean()),
                     "pixel_change": float((styled - src[None]).abs().mean())}
        rows.append([name] + ["-" if out[name][k] is None else f"{out[name][k]:.3f}"
                              for k in ("hand_word_right", "background_word_right", "coverage", "precision",
                                        "clip_cosine_to_twin", "clip_cosine_best_style", "pixel_change")])
    print_table(f"style banks against the target look (data seed {args.data_seed}; {args.images} source images, "
                f"{args.styles} styles each, {args.targets} target-look images; colour distances in [0,1] RGB, lower is nearer)",
                ["bank", "hand word right", "background word right", "coverage", "precision", "CLIP cos to twin",
                 "best style's cos", "pixel change"], rows)
    print(f"chance: hand {1 / len(centroids['hand'][0]):.3f}, background {1 / len(centroids['background'][0]):.3f} "
          f"(a random bank's rows are scored against the prompt of the text style they are matched to)")
    path = args.out / f"closed_world_coverage-dataseed{args.data_seed}.json"
    path.write_text(json.dumps({"data_seed": args.data_seed, "images": args.images, "styles": args.styles,
                                "targets": args.targets,
                                "source_look": args.source_look, "target_look": args.target_look, "banks": out},
                               indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
