"""`handdg styles`: build a style bank from a source dataset and the frozen CLIP, chunk by chunk, resumably.

Text banks fit one style per prompt (handdg.styles.optimise). Random banks are the matched no-text control:
the same family with random parameters, each row's strength set so that its mean pixel change on the same
source images equals the text bank's row (the same size of change, no text).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from handdg import prompts as table2
from handdg.data.base import HandDataset
from handdg.errors import HanddgError
from handdg.featurize.sharding import owns, resolve_shard
from handdg.styles import bank
from handdg.styles.families import Family, family, pixel_change, random_params, source_params
from handdg.styles.optimise import ClipImages, OptimiseSettings, Optimiser, score

PROMPT_BATCH = 256


@dataclass(frozen=True)
class BankSettings:
    """What a bank is fitted with: its family, how many source images and which, the neutral text, the optimiser."""

    family: str = "regions"
    images: int = 8
    seed: int = 0
    neutral: str | None = None  # None: the mean embedding of the bank's prompts
    optimise: OptimiseSettings = field(default_factory=OptimiseSettings)
    chunk_rows: int = 64

    def __post_init__(self) -> None:
        if self.images < 1:
            raise HanddgError(f"--images must be at least 1, got {self.images}")
        if self.chunk_rows < 1:
            raise HanddgError(f"chunk rows must be at least 1, got {self.chunk_rows}")
        try:
            family(self.family)
        except ValueError as exc:
            raise HanddgError(str(exc)) from None


def source_images(dataset: HandDataset, settings: BankSettings, size: int) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """The K source images the styles are fitted on, resized to CLIP's side: (K,3,S,S), their (K,1,S,S) masks
    (None for a family without regions) and their ids. Drawn with the bank's seed, so every shard sees the same."""
    fam = family(settings.family)
    count = min(settings.images, len(dataset))
    chosen = sorted(int(i) for i in np.random.default_rng(settings.seed).choice(len(dataset), size=count, replace=False))
    images, masks = [], []
    for index in chosen:
        image = torch.from_numpy(np.array(dataset.load_image(index))).permute(2, 0, 1).float() / 255.0
        images.append(F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True,
                                    align_corners=False)[0].clamp(0, 1))
        if fam.needs_mask:
            mask = dataset.load_mask(index)
            if mask is None:
                raise HanddgError(f"{dataset.name} {dataset.split} has no hand masks, which style family "
                                  f"{fam.name} needs: use --family global, or a source with masks (FreiHAND train, RHD)")
            tensor = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None, None]
            masks.append(F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True,
                                       align_corners=False)[0].clamp(0, 1))
    ids = [dataset.ids[i] for i in chosen]
    return torch.stack(images), torch.stack(masks) if masks else None, ids


def _dataset_identity(dataset: HandDataset) -> dict:
    return {"name": dataset.name, "root": str(dataset.root), "split": dataset.split, "count": len(dataset),
            "fingerprint": dataset.fingerprint()}


def _encode_texts(encoder, texts: Sequence[str]) -> torch.Tensor:
    """L2-normalised text embeddings, PROMPT_BATCH at a time."""
    return F.normalize(torch.cat([encoder.encode_text(list(texts[i:i + PROMPT_BATCH]))
                                  for i in range(0, len(texts), PROMPT_BATCH)]), dim=-1)


def other_rows(count: int, seed: int) -> torch.Tensor:
    """For each row another row (never itself), drawn with `seed`: the random prompt each style is checked against."""
    if count < 2:
        return torch.zeros(count, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    return (torch.arange(count) + torch.randint(1, count, (count,), generator=gen)) % count


def _spec(kind: str, fam: Family, encoder, dataset: HandDataset, texts: Sequence[str], settings: BankSettings,
          source_ids: list[str], extra: dict | None = None) -> bank.BankSpec:
    recorded = {**asdict(settings), "source_ids": source_ids, **(extra or {})}
    return bank.BankSpec(kind, fam.name, encoder.provenance, _dataset_identity(dataset), list(texts), recorded,
                         settings.chunk_rows)


def _random_chunk(fam: Family, images: torch.Tensor, masks: torch.Tensor | None, rows: slice, seed: int,
                  target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Random styles for `rows` (drawn from a generator keyed by the first row) and the strengths that give each
    the pixel change `target` (two fixed-point steps, since clipping to [0, 1] shrinks a change a little)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + rows.start)
    params = random_params(fam, rows.stop - rows.start, gen, source_params(fam, images, masks).cpu())
    strength = torch.ones(len(params))
    for _ in range(3):
        realised = pixel_change(fam, images, masks, params, strength).cpu()
        strength = strength * target / realised.clamp_min(1e-6)
    return params, strength


def build_bank(dataset: HandDataset, out: Path | str, encoder, settings: BankSettings, kind: str = "text",
               like: Path | str | None = None, texts: Sequence[str] | None = None, shard: str | None = None,
               progress: bool = True, say: Callable[[str], None] = print) -> Path:
    """Write (or finish) a style bank at `out`: kind "text" fits each prompt's style; kind "random" draws the
    matched no-text control of the complete text bank `like`. Returns `out`."""
    fam = family(settings.family)
    texts = list(texts if texts is not None else table2.all_prompts())
    images, masks, ids = source_images(dataset, settings, encoder.image_size)
    extra = None
    if kind == "random":
        if like is None:
            raise HanddgError("a random (control) bank needs --like TEXT_BANK, the text bank whose changes it matches")
        reference = bank.StyleBank.open(like)
        if reference.manifest["family"] != fam.name or reference.prompts != texts:
            raise HanddgError(f"--like {like} is a {reference.manifest['family']} bank of {len(reference.prompts)} "
                              f"prompts: the control must use its family and prompts (--family "
                              f"{reference.manifest['family']})")
        if reference.manifest["settings"]["source_ids"] != ids:
            raise HanddgError(f"--like {like} was fitted on other source images: use its --images and --seed")
        extra = {"like": str(Path(like).resolve()), "like_sha256": _sha(reference)}
    elif kind != "text":
        raise HanddgError(f"unknown bank kind {kind!r}: text or random")
    spec = _spec(kind, fam, encoder, dataset, texts, settings, ids, extra)
    root = bank.begin(out, spec)
    todo = [c for c in range(spec.chunks) if owns(c, resolve_shard(shard)) and c not in bank.done_chunks(root, spec)]
    if not todo:
        say(f"{root}: every chunk this process owns is done")
        return root
    clip = ClipImages(encoder)
    text = _encode_texts(encoder, texts)
    neutral = (F.normalize(text.mean(0), dim=-1) if settings.neutral is None
               else _encode_texts(encoder, [settings.neutral])[0])
    others = other_rows(len(texts), settings.seed)
    optimiser = Optimiser(fam, clip, images, masks, settings.optimise) if kind == "text" else None
    for chunk in tqdm(todo, desc=f"styles ({kind}, {fam.name})", unit="chunk", disable=not progress):
        rows = spec.rows(chunk)
        if optimiser is not None:
            params = optimiser.fit(text[rows], neutral.expand(rows.stop - rows.start, -1))
            strength = torch.ones(len(params))
        else:
            params, strength = _random_chunk(fam, images, masks, rows, settings.seed,
                                             reference.tensors["pixel_distance"][rows])
        scored = score(fam, clip, images, masks, params, strength, text[rows], text[others[rows]])
        bank.write_chunk(root, chunk, asdict(scored))
    return root


def _sha(reference: bank.StyleBank) -> str:
    """A digest of a bank's parameters and strengths (what a control bank records of the bank it matches)."""
    digest = hashlib.sha256(reference.params.numpy().tobytes())
    digest.update(reference.strength.numpy().tobytes())
    return digest.hexdigest()
