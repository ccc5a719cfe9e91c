"""`train --init`: the checkpoint's network against the one a run asks for, read from the file's header before
torch loads, refused in one line that names the options that differ and the flags that rebuild the checkpoint's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from handdg.errors import HanddgError
from handdg.run.header import checkpoint_header
from handdg.run.options import NETWORK_PRESETS, OPTION

NETWORK_OPTIONS = {"fusion": "fusion", "target": "pose_target", "norm": "norm", "rotation": "rotation"}
"""Network field -> the training option that sets it (the sizes are --preset's, clip_dim the store's)."""


def asked_network(config: Any) -> dict[str, Any]:
    """The network fields a training config fixes by its options alone (all but the store's CLIP size)."""
    chosen = {name: getattr(config, option) for name, option in NETWORK_OPTIONS.items()}
    return {**NETWORK_PRESETS[config.preset], **chosen}


def check_init(config: Any) -> None:
    """Refuse `config.init` in one line when its network differs from the one `config` asks for (no-op without it)."""
    if not config.init:
        return
    try:
        saved = json.loads(checkpoint_header(config.init, "--init checkpoint").get("handdg_model", "{}"))
    except json.JSONDecodeError:
        raise HanddgError(f"--init {config.init}: its network description is not valid JSON "
                          "(a damaged checkpoint)") from None
    refuse_other_network(config.init, saved if isinstance(saved, dict) else {}, asked_network(config))


def refuse_other_network(path: str | Path, saved: dict[str, Any], wanted: dict[str, Any]) -> None:
    """HanddgError naming each field of `wanted` that the checkpoint's `saved` network holds otherwise, and the
    training flags that build the saved network."""
    differs = [name for name in wanted if name in saved and saved[name] != wanted[name]]
    if not differs:
        return
    found = ", ".join(f"{name} {saved[name]!r} (this run: {wanted[name]!r}, set by {_setter(name)})" for name in differs)
    raise HanddgError(f"--init {path} was saved by another network: {found}; {matching_flags(saved)}")


def matching_flags(saved: dict[str, Any]) -> str:
    """What to pass for the saved network: its --preset and network options, or why no preset builds it."""
    sizes = {name: saved.get(name) for name in ("input_size", "width_divisor", "lifting_divisor")}
    preset = next((name for name, value in NETWORK_PRESETS.items() if value == sizes), None)
    flags = [f"--preset {preset}"] if preset else []
    flags += [f"{OPTION[option].flag} {saved[name]}" for name, option in NETWORK_OPTIONS.items() if name in saved]
    text = f"train it with {' '.join(flags)}"
    if preset is None:
        text += f" (no --preset builds its sizes {sizes}: it cannot be fine-tuned from the command line)"
    return text


def _setter(name: str) -> str:
    """The option a network field comes from, as a user types it."""
    if name in NETWORK_OPTIONS:
        return OPTION[NETWORK_OPTIONS[name]].flag
    return "--store (a CLIP of this feature size)" if name == "clip_dim" else "--preset"
