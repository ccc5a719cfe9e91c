"""Reading JSON that a user hands a command, and checking the fields the command needs.

A bad file is a user mistake: every problem is one HanddgError line that names the file and the
field, e.g. ``eval result runs/a/eval_stb.json: protocols.hand3d.epe_mean_mm is "abc", expected a number``.

    data = read_json(path, "eval result", missing="write it with `handdg eval ... --out PATH`")
    where = f"eval result {path}"
    epe = require(data, "protocols.hand3d.epe_mean_mm", float, where)
    values = require_numbers(data, "protocols.hand3d.pck.values", where)
    ratio = require(config, "ratio", float, where, at="run_config", optional=True)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from handdg.errors import HanddgError

MISSING = object()
_SHOWN = 40  # longest value quoted in a message

# what each accepted kind is called in a message, and which JSON values are one
_KINDS: dict[type, tuple[str, tuple[type, ...]]] = {
    float: ("a number", (int, float)),
    int: ("an integer", (int,)),
    str: ("a string", (str,)),
    bool: ("true or false", (bool,)),
    dict: ("an object", (dict,)),
    list: ("a list", (list,)),
}


class NotAnObject(HanddgError):
    """read_json found valid JSON that is not an object (a list, a string, ...)."""


def kind_name(value: Any) -> str:
    """What a JSON value is, in words ('a list', 'null', ...)."""
    if value is None:
        return "null"
    for kind in (bool, dict, list, str, int, float):  # bool before int: True is an int in Python
        if isinstance(value, kind):
            return "a number" if kind in (int, float) else _KINDS[kind][0]
    return type(value).__name__


def shown(value: Any) -> str:
    """A value as JSON, cut to a readable length."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"


def read_json(path: str | Path, what: str, missing: str | None = None) -> dict:
    """The JSON object in `path`; HanddgError ('WHAT PATH ...') if it is missing, unreadable, not JSON or no object.

    `what` names the kind of file in the message ("eval result", "run config"); `missing` is added after
    "not found; " to say how to make it.
    """
    path = Path(path)
    label = f"{what} {path}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise HanddgError(f"{label} not found" + (f"; {missing}" if missing else "")) from None
    except IsADirectoryError:
        raise HanddgError(f"{label} is a folder, not a JSON file") from None
    except OSError as exc:
        raise HanddgError(f"cannot read {label}: {exc.strerror or exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise HanddgError(f"{label} is not valid JSON (byte {exc.start} is not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise HanddgError(f"{label} is not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise HanddgError(f"{label} is not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise NotAnObject(f"{label} holds {kind_name(data)}, expected an object")
    return data


def _expected(kind: type | tuple[type, ...], choices: Iterable[Any] | None) -> str:
    if choices is not None:
        return "one of " + ", ".join(shown(c) for c in choices)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_KINDS[k][0] for k in kinds)


def _fits(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if isinstance(value, bool) and k is not bool:
            continue  # true/false is not a number
        if isinstance(value, _KINDS[k][1]):
            return True
    return False


def _name(at: str, key: str) -> str:
    return f"{at}.{key}" if at else key


def require(payload: dict, field: str, kind: type | tuple[type, ...], where: str | Path, *, at: str = "",
            optional: bool = False, default: Any = None, choices: Iterable[Any] | None = None) -> Any:
    """The value of the dotted `field` of `payload`, checked to be of `kind`; HanddgError naming it otherwise.

    kind: float (any JSON number, returned as float; true/false are not numbers), int, str, bool, dict,
    list, or a tuple of these. where: the start of the message, normally "WHAT PATH". at: the dotted
    place of `payload` inside its file, so the message names the whole field ("run_config.ratio").
    optional: a missing or null value gives `default` instead of an error. choices: the allowed values.
    """
    node: Any = payload
    walked = at
    *parents, last = field.split(".")
    for key in parents:
        walked = _name(walked, key)
        node = node.get(key, MISSING) if isinstance(node, dict) else MISSING
        if node is MISSING or (node is None and optional):
            if optional:
                return default
            raise HanddgError(f"{where}: {walked} is missing, expected an object")
        if not isinstance(node, dict):
            raise HanddgError(f"{where}: {walked} is {shown(node)}, expected an object")
    name = _name(walked, last)
    value = node.get(last, MISSING)
    if value is MISSING or value is None:
        if optional:
            return default
        if value is MISSING:
            raise HanddgError(f"{where}: {name} is missing, expected {_expected(kind, choices)}")
    if not _fits(value, kind):
        raise HanddgError(f"{where}: {name} is {shown(value)}, expected {_expected(kind, None)}")
    if choices is not None and value not in tuple(choices):
        raise HanddgError(f"{where}: {name} is {shown(value)}, expected {_expected(kind, choices)}")
    if kind is float and not isinstance(value, float):
        return float(value)
    return value


def require_list(payload: dict, field: str, item: type | tuple[type, ...], where: str | Path, *, at: str = "",
                 optional: bool = False, default: Any = None, choices: Iterable[Any] | None = None) -> Any:
    """The list at `field`, each item checked to be of `item` (float items come back as floats)."""
    values = require(payload, field, list, where, at=at, optional=optional, default=MISSING)
    if values is MISSING:
        return default
    name = _name(at, field)
    allowed = None if choices is None else tuple(choices)
    out = []
    for i, value in enumerate(values):
        if not _fits(value, item) or (allowed is not None and value not in allowed):
            raise HanddgError(f"{where}: {name}[{i}] is {shown(value)}, expected {_expected(item, allowed)}")
        out.append(float(value) if item is float else value)
    return out


def require_numbers(payload: dict, field: str, where: str | Path, *, at: str = "") -> list[float]:
    """The list of numbers at `field`, as floats."""
    return require_list(payload, field, float, where, at=at)
