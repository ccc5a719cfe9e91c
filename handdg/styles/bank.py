"""The style bank on disk: a folder of `bank.json` (what made it) and one safetensors file per chunk of prompts.

    BANK/bank.json                 kind (text | random), family, CLIP provenance, source dataset, prompts, settings
    BANK/chunks/000003.safetensors params (n, size), strength (n,), gain_own, gain_random, pixel_distance,
                                   clip_distance (n,) for prompts [3·rows, 4·rows)

A chunk file is written whole (temp file + rename), so a bank killed at any moment holds only whole chunks and
a re-run does exactly the missing ones; processes given `--shard i/n` own chunks i, i+n, ... as `featurize`'s do.
Re-running with other settings, another CLIP or another source than the bank was begun with is refused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from handdg import __version__
from handdg.errors import HanddgError
from handdg.files import write_atomic, write_json_atomic
from handdg.styles.families import Family, family

SCHEMA = 1
MANIFEST = "bank.json"
FIELDS = ("params", "strength", "gain_own", "gain_random", "pixel_distance", "clip_distance")
KINDS = ("text", "random")


@dataclass(frozen=True)
class BankSpec:
    """What identifies a bank: two runs with equal specs write interchangeable chunks."""

    kind: str
    family: str
    clip: dict | None
    dataset: dict
    prompts: list[str]
    settings: dict
    chunk_rows: int = 64

    @property
    def chunks(self) -> int:
        """Number of chunk files a complete bank has."""
        return -(-len(self.prompts) // self.chunk_rows)

    def rows(self, chunk: int) -> slice:
        """The prompt rows of one chunk."""
        return slice(chunk * self.chunk_rows, min(len(self.prompts), (chunk + 1) * self.chunk_rows))


def _chunk_path(root: Path, chunk: int) -> Path:
    return root / "chunks" / f"{chunk:06d}.safetensors"


def read_manifest(root: Path) -> dict:
    path = root / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise HanddgError(f"{root} is not a style bank (no {MANIFEST}): build one with `handdg styles`") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HanddgError(f"{path} is damaged (not JSON): delete {root} and build the bank again") from None


def begin(root: Path | str, spec: BankSpec) -> Path:
    """Create the bank folder for `spec`, or check that an existing one was begun with the same spec."""
    root = Path(root)
    if (root / MANIFEST).is_file():
        have = read_manifest(root)
        want = asdict(spec)
        differ = [k for k in want if _comparable(k, have.get(k)) != _comparable(k, want[k])]
        if differ:
            raise HanddgError(f"{root} was begun with other {', '.join(differ)}: pass the same options to finish "
                              "it, or choose another --out")
        return root
    if root.exists() and any(root.iterdir()):
        raise HanddgError(f"{root} exists and is not a style bank: choose another --out")
    (root / "chunks").mkdir(parents=True, exist_ok=True)
    write_json_atomic(root / MANIFEST, {**asdict(spec), "schema": SCHEMA, "handdg_version": __version__,
                                        "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return root


def _comparable(name: str, value: object) -> object:
    """A spec field as compared on resume: the source's fingerprint, not where its folder is now."""
    if name == "dataset" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "root"}
    return value


def done_chunks(root: Path | str, spec: BankSpec) -> set[int]:
    """The chunks whose files are written."""
    return {c for c in range(spec.chunks) if _chunk_path(Path(root), c).is_file()}


def write_chunk(root: Path | str, chunk: int, tensors: dict[str, torch.Tensor]) -> None:
    """Write one chunk's tensors whole (the file appears only when complete)."""
    data = {name: tensors[name].detach().float().cpu().contiguous() for name in FIELDS}
    write_atomic(_chunk_path(Path(root), chunk), lambda tmp: save_file(data, str(tmp)))


class StyleBank:
    """A complete bank in memory: one style per prompt, with its scores."""

    def __init__(self, root: Path, manifest: dict, tensors: dict[str, torch.Tensor]) -> None:
        self.root = root
        self.manifest = manifest
        self.tensors = tensors

    @classmethod
    def open(cls, root: Path | str) -> "StyleBank":
        """Read a bank; HanddgError (one line) if it is incomplete or damaged."""
        root = Path(root)
        manifest = read_manifest(root)
        if manifest.get("schema") != SCHEMA or manifest.get("kind") not in KINDS:
            raise HanddgError(f"{root}: not a style bank of this handdg version (schema {manifest.get('schema')})")
        spec = spec_of(manifest)
        missing = spec.chunks - len(done_chunks(root, spec))
        if missing:
            raise HanddgError(f"style bank {root} is incomplete ({missing} of {spec.chunks} chunks missing): run "
                              "the `handdg styles` command that began it again to finish it")
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in FIELDS}
        for chunk in range(spec.chunks):
            path = _chunk_path(root, chunk)
            try:
                data = load_file(str(path))
            except (SafetensorError, OSError) as exc:
                raise HanddgError(f"style bank chunk {path} is damaged ({exc}): delete it and run "
                                  "`handdg styles` again to rewrite it") from None
            for name in FIELDS:
                parts[name].append(data[name])
        tensors = {name: torch.cat(values) for name, values in parts.items()}
        if len(tensors["params"]) != len(spec.prompts) or tensors["params"].shape[1] != family(spec.family).size:
            raise HanddgError(f"style bank {root} holds {tuple(tensors['params'].shape)} parameters for "
                              f"{len(spec.prompts)} prompts of family {spec.family}: build it again")
        return cls(root, manifest, tensors)

    @property
    def family(self) -> Family:
        """The transform family of every style."""
        return family(self.manifest["family"])

    @property
    def params(self) -> torch.Tensor:
        """(P, size) float32 style parameters, row = prompt id."""
        return self.tensors["params"]

    @property
    def strength(self) -> torch.Tensor:
        """(P,) float32 strengths."""
        return self.tensors["strength"]

    @property
    def prompts(self) -> list[str]:
        """The prompt of each row."""
        return list(self.manifest["prompts"])

    def provenance(self) -> dict:
        """What a training run records of the bank it used."""
        keep = ("kind", "family", "clip", "dataset", "settings", "created", "handdg_version")
        return {"path": str(self.root), **{k: self.manifest.get(k) for k in keep},
                "prompts": len(self.manifest["prompts"])}

    def summary(self) -> dict:
        """Mean scores: CLIP gain toward the own prompt and toward a random one, pixel and CLIP distances."""
        t = self.tensors
        return {"styles": len(t["params"]), "gain_own": float(t["gain_own"].mean()),
                "gain_random": float(t["gain_random"].mean()),
                "own_beats_random": float((t["gain_own"] > t["gain_random"]).float().mean()),
                "pixel_distance": float(t["pixel_distance"].mean()), "clip_distance": float(t["clip_distance"].mean())}


def spec_of(manifest: dict) -> BankSpec:
    """The BankSpec a manifest was written from."""
    return BankSpec(**{k: manifest[k] for k in BankSpec.__dataclass_fields__})
