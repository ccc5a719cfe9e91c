"""Which share of a store's chunks this process writes: `--shard i/n`, or torchrun's RANK/WORLD_SIZE."""

from __future__ import annotations

import os

from handdg.errors import HanddgError


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n."""
    parts = text.split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise HanddgError(f"bad --shard {text!r}: write it as i/n, e.g. 0/4 for the first of four processes")
    index, count = int(parts[0]), int(parts[1])
    if count < 1 or index >= count:
        raise HanddgError(f"bad --shard {text!r}: need 0 <= i < n")
    return index, count


def shard_from_env() -> tuple[int, int]:
    """(RANK, WORLD_SIZE) under torchrun, else (0, 1)."""
    if "WORLD_SIZE" not in os.environ:
        return 0, 1
    return parse_shard(f"{os.environ.get('RANK', '0')}/{os.environ['WORLD_SIZE']}")


def resolve_shard(shard: str | None) -> tuple[int, int]:
    """An explicit `--shard` wins; otherwise torchrun's environment; otherwise the whole store."""
    return parse_shard(shard) if shard else shard_from_env()


def owns(chunk: int, shard: tuple[int, int]) -> bool:
    """Chunks are dealt round-robin: shard i of n owns chunks i, i+n, i+2n, ..."""
    return chunk % shard[1] == shard[0]
