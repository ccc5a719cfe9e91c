"""A contact sheet of a style bank: the source images it was fitted on, restyled by a chosen set of prompts, so
a user can see what each prompt's text did (one row a prompt, one column a source image)."""

from __future__ import annotations

from pathlib import Path

import torch

from handdg.prompts import BACKGROUNDS, COLOURS, HAND_COLOURS, HANDS, HEADS, PromptParts, parts_to_id
from handdg.styles.bank import StyleBank
from handdg.styles.families import apply

SHEET = "sheet"
SHEET_COLOURS = ("green", "black", "white", "blue")


def sheet_rows(bank: StyleBank) -> list[int]:
    """Rows to show: every hand colour over a few background words ("a photo of ... hand with ... background"),
    when the bank holds the paper's prompts; otherwise its first 12 rows."""
    if len(bank.prompts) != len(HEADS) * len(HAND_COLOURS) * len(HANDS) * len(COLOURS) * len(BACKGROUNDS):
        return list(range(min(12, len(bank.prompts))))
    head, hand, place = HEADS.index("a photo of"), HANDS.index("hand with"), BACKGROUNDS.index("background")
    return [parts_to_id(PromptParts(head, h, hand, COLOURS.index(c), place))
            for c in SHEET_COLOURS[:2] for h in range(len(HAND_COLOURS))]


def contact_sheet(bank: StyleBank, images: torch.Tensor, masks: torch.Tensor | None, out: Path,
                  rows: list[int] | None = None) -> list[Path]:
    """OUT.png / .pdf: the (K,3,S,S) source images on top, then each chosen row's style applied to them."""
    from handdg.analysis.figure import FigureContext, new_figure, save_figure

    rows = sheet_rows(bank) if rows is None else rows
    clip = bank.manifest.get("clip") or {}
    context = FigureContext(clip.get("model", "?"), clip.get("weights", "?"),
                            f"{bank.manifest['kind']} style bank, family {bank.family.name}")
    k = len(images)
    fig = new_figure(f"Style bank: source images restyled by each prompt's style ({bank.manifest['kind']})",
                     context, (1.2 * k + 3.6, 1.2 * (len(rows) + 1) + 0.9))
    grid = fig.add_gridspec(len(rows) + 1, k, left=3.4 / (1.2 * k + 3.6), right=0.99, top=0.9, bottom=0.01,
                            wspace=0.04, hspace=0.06)
    styled = [images] + [apply(bank.family, images, masks, bank.params[r:r + 1].expand(k, -1),
                               bank.strength[r:r + 1].expand(k)) for r in rows]
    labels = ["source"] + [bank.prompts[r] for r in rows]
    for i, (row, label) in enumerate(zip(styled, labels)):
        for j in range(k):
            ax = fig.add_subplot(grid[i, j])
            ax.imshow(row[j].permute(1, 2, 0).clamp(0, 1).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    return save_figure(fig, out)
