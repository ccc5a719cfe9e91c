"""`train_synthclip`: contrastive training (symmetric InfoNCE, open_clip's ClipLoss) of a small CLIP on captioned synthetic hands.

The caption set is rendered from the seed, captions are drawn per step from a generator seeded
by it, and the model is initialised from it, so one seed gives one checkpoint. Only the token
embedding rows of words the captions can use are trained (a compact table); the others are
written as zeros, so the checkpoint packs into a few MB (featurize/compact.py). State is saved
after every epoch next to OUT and a killed run resumes from it.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import open_clip
import torch
from safetensors.torch import save_file

from handdg import __version__
from handdg.errors import HanddgError
from handdg.featurize.clip import _check_model, _quiet_open_clip
from handdg.featurize.compact import write_packed
from handdg.files import write_atomic
from handdg.synthclip.captions import caption
from handdg.synthclip.settings import SynthClipSettings
from handdg.synthclip.data import load_images, normalize, render_caption_set
from handdg.synthclip.vocabulary import CompactEmbedding, caption_token_ids


def _check(out: Path, settings: SynthClipSettings) -> None:
    """OUT must be a .safetensors path and the sizes positive."""
    if out.suffix != ".safetensors":
        raise HanddgError(f"{out}: the checkpoint must be a .safetensors file (name it e.g. synth.safetensors)")
    for name in ("poses", "epochs", "batch_size"):
        if getattr(settings, name) < 1:
            raise HanddgError(f"{name} must be at least 1 (got {getattr(settings, name)})")


def _optimizer(model: torch.nn.Module, settings: SynthClipSettings) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (not on gains, biases, embeddings or the temperature)."""
    decay, rest = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim >= 2 and "embedding" not in name else rest).append(p)
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings.lr, betas=(0.9, 0.98), eps=1e-6)


def _lr(step: int, total: int, settings: SynthClipSettings) -> float:
    """Linear warm-up, then cosine decay to zero."""
    if step < settings.warmup_steps:
        return settings.lr * (step + 1) / settings.warmup_steps
    progress = (step - settings.warmup_steps) / max(1, total - settings.warmup_steps)
    return settings.lr * 0.5 * (1 + math.cos(math.pi * progress))


def build_model(settings: SynthClipSettings) -> open_clip.CLIP:
    """The open_clip model, seeded, with a compact trainable token table for the captions' words."""
    torch.manual_seed(settings.seed)
    with _quiet_open_clip():
        model = open_clip.create_model(_check_model(settings.model), pretrained=None, device="cpu")
    model.token_embedding = CompactEmbedding(model.token_embedding, caption_token_ids(settings.model))
    return model


def full_state(model: open_clip.CLIP) -> dict[str, torch.Tensor]:
    """The state dict open_clip loads: the compact token table scattered into the full one (zeros elsewhere)."""
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    state["token_embedding.weight"] = model.token_embedding.full_table()
    return state


def _resume_path(out: Path) -> Path:
    """Where a run keeps the state of its last finished epoch."""
    return out.with_name(out.name + ".resume.pt")


def _epoch(model, optimizer, loss_fn, images, records, tokenizer, mean, std, settings, rng, gen, step, total):
    """One pass over the images in a seeded order; returns (mean loss, next step)."""
    order = torch.randperm(len(records), generator=gen)
    losses = []
    for start in range(0, len(order) - settings.batch_size + 1, settings.batch_size):
        idx = order[start:start + settings.batch_size]
        tokens = tokenizer([caption(records[i], rng) for i in idx.tolist()])
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, total, settings)
        img = model.encode_image(normalize(images[idx], mean, std), normalize=True)
        txt = model.encode_text(tokens, normalize=True)
        loss = loss_fn(img, txt, model.logit_scale.exp())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(float(loss.detach()))
        step += 1
    return float(np.mean(losses)) if losses else float("nan"), step


def train_synthclip(out: Path | str, settings: SynthClipSettings = SynthClipSettings(), data: Path | None = None,
                    packed_out: Path | None = None, workers: int = 1,
                    log: Callable[[str], None] = print) -> dict:
    """Train the synthetic CLIP and write OUT (.safetensors, open_clip-loadable); return a summary."""
    out = Path(out)
    _check(out, settings)
    model = build_model(settings)
    cfg = open_clip.get_model_preprocess_cfg(model)
    size = int(cfg["size"][0] if isinstance(cfg["size"], (tuple, list)) else cfg["size"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        root = data or render_caption_set(Path(tmp) / "captions", settings.poses, settings.seed, workers)
        log(f"loading the caption set from {root}")
        images, records = load_images(root, size)
    tokenizer = open_clip.get_tokenizer(settings.model)
    optimizer = _optimizer(model, settings)
    loss_fn = open_clip.ClipLoss()
    rng, gen = np.random.default_rng([settings.seed, 1]), torch.Generator().manual_seed(settings.seed)
    total = settings.epochs * (len(records) // settings.batch_size)
    if total == 0:
        raise HanddgError(f"{len(records)} images is less than one batch of {settings.batch_size}; raise --poses")
    first, step, history = _resume(out, settings, model, optimizer, rng, gen, log)
    for epoch in range(first, settings.epochs):
        loss, step = _epoch(model, optimizer, loss_fn, images, records, tokenizer, cfg["mean"], cfg["std"],
                            settings, rng, gen, step, total)
        history.append(loss)
        log(f"epoch {epoch + 1}/{settings.epochs}: loss {loss:.4f}, logit scale {float(model.logit_scale.detach().exp()):.1f}")
        saved = {"settings": asdict(settings), "epoch": epoch + 1, "step": step, "history": history,
                 "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "rng": rng.bit_generator.state, "gen": gen.get_state()}
        write_atomic(_resume_path(out), partial(torch.save, saved))  # a kill mid-write leaves the previous epoch's state
    summary = {"settings": asdict(settings), "images": len(records), "steps": step, "loss_history": history,
               "handdg_version": __version__, "open_clip_version": open_clip.__version__}
    _write(out, full_state(model), summary, packed_out)
    _resume_path(out).unlink(missing_ok=True)
    return summary


def _resume(out, settings, model, optimizer, rng, gen, log) -> tuple[int, int, list]:
    """Load the state a killed run saved after its last epoch (same settings only): (first epoch, step, history)."""
    path = _resume_path(out)
    if not path.is_file():
        return 0, 0, []
    saved = torch.load(path, weights_only=False)
    if saved["settings"] != asdict(settings):
        raise HanddgError(f"{path} holds a run with other settings; delete it or train with the same settings")
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    rng.bit_generator.state = saved["rng"]
    gen.set_state(saved["gen"])
    log(f"resuming after epoch {saved['epoch']} from {path}")
    return saved["epoch"], saved["step"], list(saved["history"])


def _write(out: Path, state: dict[str, torch.Tensor], summary: dict, packed_out: Path | None) -> None:
    """Write OUT atomically (and the packed copy): the full state dict plus the summary as metadata."""
    metadata = {"handdg_synthclip": json.dumps(summary, sort_keys=True)}
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, lambda tmp: save_file(state, str(tmp), metadata=metadata))
    if packed_out is not None:
        write_atomic(packed_out, lambda tmp: write_packed(tmp, state, metadata))
