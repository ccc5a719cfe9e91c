"""A contact sheet: a few synthetic samples per domain in one PNG, to see what each domain looks like."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from handdg.data.camera import project
from handdg.data.joints import BONES
from handdg.errors import HanddgError
from handdg.files import write_atomic
from handdg.synth.sampling import check_seed, sample_rng, subject_for
from handdg.synth.scenes import FREIHAND_VERSIONS, View, freihand_views, rhd_view, stb_views

_ROW_HEIGHT = 200
_LABEL_WIDTH = 120
_FINGER_COLORS = ((230, 60, 60), (240, 160, 40), (60, 190, 60), (60, 140, 230), (180, 80, 220))


def _overlay(image: np.ndarray, view: View) -> Image.Image:
    """The image with every hand's ground-truth skeleton drawn on it (fingers coloured thumb..pinky)."""
    img = Image.fromarray(image)
    draw = ImageDraw.Draw(img)
    for hand in view.hands:
        uv = project(hand.xyz, view.K)
        for parent, child in BONES:
            color = _FINGER_COLORS[(child - 1) // 4]
            draw.line([tuple(uv[parent]), tuple(uv[child])], fill=color, width=2)
    return img


def _samples(domain: str, per_domain: int, seed: int, skeleton: bool) -> list[tuple[str, Image.Image]]:
    """(caption, image) for `per_domain` samples of one domain."""
    out = []
    for i in range(per_domain):
        rng, subject = sample_rng(seed, domain, "test", i), subject_for(seed, domain, "test", i)
        if domain == "freihand":
            images, view, _ = freihand_views(rng, subject)
            k = i % len(images)
            pairs = [(f"freihand {FREIHAND_VERSIONS[k]}", images[k], view)]
        elif domain == "rhd":
            view = rhd_view(rng, subject)
            pairs = [("rhd", view.image, view)]
        else:
            views = stb_views(rng, subject, "count" if i % 2 == 0 else "random", background=1)
            pairs = [("stb sk", views["sk"].image, views["sk"])] if i % 2 == 0 else [("stb bb", views["bb_left"].image, views["bb_left"])]
        for caption, image, view in pairs:
            out.append((caption, _overlay(image, view) if skeleton else Image.fromarray(image)))
    return out


def contact_sheet(out: Path | str, per_domain: int = 4, seed: int = 0, skeleton: bool = False) -> Path:
    """Render `per_domain` samples of each domain (rows freihand, rhd, stb) into one PNG at `out`."""
    if per_domain < 1:
        raise HanddgError(f"per_domain must be at least 1 (got {per_domain})")
    check_seed(seed)
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise HanddgError(f"{out}: the contact sheet is a PNG; give a path ending in .png")
    rows = []
    for domain in ("freihand", "rhd", "stb"):
        tiles = [(c, im.resize((round(im.width * _ROW_HEIGHT / im.height), _ROW_HEIGHT), Image.LANCZOS))
                 for c, im in _samples(domain, per_domain, seed, skeleton)]
        rows.append((domain, tiles))
    width = _LABEL_WIDTH + max(sum(t.width + 4 for _, t in tiles) for _, tiles in rows)
    sheet = Image.new("RGB", (width, len(rows) * (_ROW_HEIGHT + 4)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for r, (domain, tiles) in enumerate(rows):
        y = r * (_ROW_HEIGHT + 4)
        draw.text((8, y + _ROW_HEIGHT // 2), domain, fill=(0, 0, 0))
        x = _LABEL_WIDTH
        for caption, tile in tiles:
            sheet.paste(tile, (x, y))
            draw.text((x + 4, y + 4), caption, fill=(255, 255, 255))
            x += tile.width + 4
    out.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(out, lambda tmp: sheet.save(tmp, format="PNG"))
