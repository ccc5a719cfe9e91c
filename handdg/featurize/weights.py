"""Which CLIP weights a `--clip-weights` value means, and whether they can be had offline.

Four kinds: a pretrained tag of open_clip (downloaded once into the hub cache), a local
.pt/.pth/.bin/.safetensors file (identified by its sha256), `builtin` (weights shipped inside
handdg, e.g. for handdg-synth, identified as builtin:<model>@sha256:<hex>), or `random` /
`random:SEED` (seeded initialisation, so every process that asks for the same seed gets the
same encoder).
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import open_clip

from handdg.errors import HanddgError

WEIGHT_FILE_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
_HUB_HOST = "huggingface.co"


@dataclass(frozen=True)
class WeightsSpec:
    """A parsed `--clip-weights` value.

    `kind` is "tag", "file", "builtin" or "random"; `ident` is what provenance records and
    compares ("openai", "sha256:<hex>", "builtin:handdg-synth@sha256:<hex>", "random:0").
    """

    kind: str
    ident: str
    tag: str | None = None
    path: Path | None = None
    seed: int | None = None
    quick_gelu: bool = False


def parse_weights(model: str, weights: str) -> WeightsSpec:
    """Turn a `--clip-weights` string into a WeightsSpec (HanddgError if it names nothing)."""
    if weights == "random" or weights.startswith("random:"):
        return WeightsSpec(kind="random", ident=f"random:{_random_seed(weights)}", seed=_random_seed(weights))
    if weights == "builtin" or weights.startswith("builtin:"):  # the name, or the ident a store recorded
        from handdg.featurize.compact import builtin_path

        path = builtin_path(model)
        return WeightsSpec(kind="builtin", ident=f"builtin:{model}@sha256:{file_sha256(path)}", path=path)
    if weights.endswith(WEIGHT_FILE_SUFFIXES) or os.sep in weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise HanddgError(f"CLIP weights file not found: {path} (pass an existing .pt or .safetensors file)")
        sha = file_sha256(path)
        return WeightsSpec(kind="file", ident=f"sha256:{sha}", path=path.resolve(),
                           quick_gelu=_is_quick_gelu_release(model, sha))
    tags = open_clip.list_pretrained_tags_by_model(model)
    if weights not in tags:
        known = ", ".join(tags) if tags else "none"
        raise HanddgError(
            f"unknown CLIP weights {weights!r} for model {model} (known tags: {known}; "
            "or pass a local file, 'builtin' with --clip-model handdg-synth, or 'random[:SEED]')"
        )
    cfg = open_clip.get_pretrained_cfg(model, weights)
    return WeightsSpec(kind="tag", ident=weights, tag=weights, quick_gelu=bool(cfg.get("quick_gelu", False)))


def _is_quick_gelu_release(model: str, sha: str) -> bool:
    """Whether a local file is a released checkpoint trained with QuickGELU (e.g. OpenAI's ViT-B-32.pt).

    OpenAI's download URLs carry the file's sha256, so a local copy is recognised offline and
    gets the activation it was trained with instead of silently wrong features.
    """
    for tag in open_clip.list_pretrained_tags_by_model(model):
        cfg = open_clip.get_pretrained_cfg(model, tag)
        if cfg.get("quick_gelu") and f"/{sha}/" in cfg.get("url", ""):
            return True
    return False


def _random_seed(weights: str) -> int:
    """The seed of `random` (0) or `random:SEED`."""
    if weights == "random":
        return 0
    text = weights.split(":", 1)[1]
    if not text.isdigit():
        raise HanddgError(f"bad --clip-weights {weights!r}: the seed after 'random:' must be a non-negative integer")
    return int(text)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 8 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(8 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_tag_available(model: str, tag: str) -> None:
    """Fail at once, with one line naming --clip-weights PATH, if a tag is neither cached nor downloadable.

    open_clip's own download retries for ~45 s when offline; this checks the cache, then
    HF_HUB_OFFLINE, then whether the download host resolves, before open_clip is called.
    """
    cfg = open_clip.get_pretrained_cfg(model, tag)
    if _tag_is_cached(cfg):
        return
    host = _download_host(cfg)
    if _hub_offline() or not _reachable(host):
        raise HanddgError(
            f"CLIP weights {model}/{tag} are not in the local cache and {host} cannot be reached (offline); "
            "download them on a connected machine or pass a local file with --clip-weights PATH (.pt or .safetensors)"
        )


def _hf_location(cfg: dict) -> tuple[str, str] | None:
    """(repo_id, filename) of a tag's hub entry, as open_clip would download it."""
    hub = cfg.get("hf_hub", "")
    if not hub:
        return None
    repo_id, filename = os.path.split(hub)
    return repo_id, filename or open_clip.constants.HF_WEIGHTS_NAME


def _tag_is_cached(cfg: dict) -> bool:
    """True when open_clip would find the tag's weights without the network."""
    if "file" in cfg:
        return Path(cfg["file"]).is_file()
    location = _hf_location(cfg)
    if location is not None and open_clip.pretrained.has_hf_hub():
        from huggingface_hub import try_to_load_from_cache

        repo_id, filename = location
        candidates = [filename, open_clip.constants.HF_SAFE_WEIGHTS_NAME, str(Path(filename).with_suffix(".safetensors"))]
        return any(isinstance(try_to_load_from_cache(repo_id, name), str) for name in candidates)
    url = cfg.get("url", "")
    return bool(url) and (Path("~/.cache/clip").expanduser() / os.path.basename(url)).is_file()


def _download_host(cfg: dict) -> str:
    """The host open_clip would download a tag's weights from."""
    if cfg.get("hf_hub") and open_clip.pretrained.has_hf_hub():
        return os.environ.get("HF_ENDPOINT", f"https://{_HUB_HOST}").split("://")[-1].split("/")[0]
    return urlparse(cfg.get("url", "")).hostname or _HUB_HOST


def _hub_offline() -> bool:
    """HF_HUB_OFFLINE set to a true value."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _reachable(host: str, timeout: float = 1.0) -> bool:
    """Whether `host` resolves and accepts a TCP connection on 443 within `timeout` seconds."""
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True
