"""Which share of a store's chunks this process writes: `--shard i/n`, or torchrun's RANK/WORLD_SIZE."""

from __future__ import annotations

import os

from handdg.options import parse_shard


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
