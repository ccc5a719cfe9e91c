"""Which chunks a process writes: --shard i/n, torchrun's RANK/WORLD_SIZE, round-robin ownership."""

from __future__ import annotations

import pytest

from handdg.errors import HanddgError
from handdg.featurize.sharding import owns, resolve_shard


def test_explicit_shard_wins_over_torchrun_environment(monkeypatch):
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert resolve_shard(None) == (3, 4)
    assert resolve_shard("1/2") == (1, 2)
    monkeypatch.delenv("WORLD_SIZE")
    assert resolve_shard(None) == (0, 1)


def test_chunks_are_dealt_round_robin_and_every_chunk_has_one_owner():
    assert [c for c in range(10) if owns(c, (1, 3))] == [1, 4, 7]
    assert all(sum(owns(c, (i, 3)) for i in range(3)) == 1 for c in range(10))


@pytest.mark.parametrize("text", ["2/2", "1", "a/b", "0/0", "-1/2"])
def test_bad_shard_is_a_one_line_error(text):
    with pytest.raises(HanddgError, match="bad --shard"):
        resolve_shard(text)
