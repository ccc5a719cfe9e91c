"""The words a synthetic CLIP is trained on: every caption's token ids, and a token table holding only those rows."""

from __future__ import annotations

from functools import lru_cache
from itertools import product

import open_clip
import torch

from handdg.prompts import all_prompts
from handdg.synth.attributes import BACKGROUND_WORDS, HAND_COLOURS, PLACES
from handdg.synthclip.captions import PARAPHRASES


def every_caption() -> list[str]:
    """All 3,920 Table 2 prompts and every paraphrase of every attribute combination."""
    paraphrases = [t.format(hc=hc, hand=hand, colour=c, place=p)
                   for t, hc, hand, c, p in product(PARAPHRASES, HAND_COLOURS, ("hand", "right hand"), BACKGROUND_WORDS, PLACES)]
    return list(all_prompts()) + paraphrases


@lru_cache(maxsize=4)
def caption_token_ids(model: str) -> tuple[int, ...]:
    """Sorted ids of every token any caption can produce (with padding, start and end of text)."""
    tokens = open_clip.get_tokenizer(model)(every_caption())
    return tuple(int(i) for i in torch.unique(tokens))


class CompactEmbedding(torch.nn.Module):
    """A token embedding that trains only the rows of `ids`; every other token embeds to zero."""

    def __init__(self, full: torch.nn.Embedding, ids: tuple[int, ...]) -> None:
        super().__init__()
        self.num_embeddings = full.num_embeddings
        index = torch.tensor(ids, dtype=torch.long)
        lookup = torch.full((full.num_embeddings,), len(ids), dtype=torch.long)
        lookup[index] = torch.arange(len(ids))
        self.register_buffer("ids", index, persistent=False)
        self.register_buffer("lookup", lookup, persistent=False)
        self.weight = torch.nn.Parameter(full.weight.detach()[index].clone())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Embeddings of `tokens` (zero rows for tokens outside the table)."""
        table = torch.cat([self.weight, self.weight.new_zeros(1, self.weight.shape[1])])
        return table[self.lookup[tokens]]

    def full_table(self) -> torch.Tensor:
        """The (vocabulary, width) table open_clip expects: trained rows in place, zeros elsewhere."""
        table = self.weight.new_zeros(self.num_embeddings, self.weight.shape[1])
        table[self.ids] = self.weight.detach()
        return table
