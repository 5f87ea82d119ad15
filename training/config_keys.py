"""Config keys as written in JSON, in `--set` and in old checkpoints, to sections.

Three spellings load, and may be mixed (later keys win):
- sectioned: {"optimiser": {"steps": 100}, "losses": {"weights": {"kl": 1}}};
- dotted: {"optimiser.steps": 100, "losses.weights.kl": 1} (`spire train --set`);
- flat, as every config and checkpoint written before the sections: {"steps": 100,
  "kl_weight": 1}. `FLAT` maps each flat name to its section and field.

A flat ranking-loss weight (kl_weight) sets one entry of losses.weights and keeps the
others (infonce stays 1 unless infonce_weight says otherwise); a whole losses.weights
object replaces them all.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, fields

from spire.core.errors import SpireError

from .config_sections import SECTIONS

# Flat names that are not the field's name inside its section.
RENAMED: dict[str, tuple[str, ...]] = {
    "student": ("student", "kind"),
    "teachers": ("teachers", "weights"),
    "teacher_norm": ("teachers", "norm"),
    "teacher_cache": ("teachers", "cache"),
    "infonce_weight": ("losses", "weights", "infonce"),
    "kl_weight": ("losses", "weights", "kl"),
    "margin_mse_weight": ("losses", "weights", "margin_mse"),
}
_NOT_FLAT = {path[:2] for path in RENAMED.values()}
FLAT: dict[str, tuple[str, ...]] = {
    **{
        f.name: (section, f.name)
        for section, cls in SECTIONS.items()
        for f in fields(cls)
        if (section, f.name) not in _NOT_FLAT
    },
    **RENAMED,
}
_FLAT_NAME = {path: name for name, path in FLAT.items()}


def sectioned(data: dict, source: str) -> dict[str, dict]:
    """Every key of `data` put in its section, its type checked (`source` names the file
    or the flags in errors). Unknown keys and wrong types raise SpireError."""
    out: dict[str, dict] = {name: {} for name in SECTIONS}
    for key, value in data.items():
        if _is_section(key, value):
            for inner, item in value.items():
                _put(out, (key, inner), item, f"{key}.{inner}", source)
        elif key in FLAT:
            _put(out, FLAT[key], value, key, source)
        elif key in SECTIONS:
            raise SpireError(f"{source}: field {key!r} must be an object of {key} fields")
        elif "." in key:
            _put(out, tuple(key.split(".")), value, key, source)
        else:
            raise _unknown(key, source)
    return out


def flatten(data: dict) -> dict:
    """A config as flat names, whichever spelling it was saved in: what checkpoints and
    training_config.json files of every version compare by. No checks."""
    out = {}
    for key, value in data.items():
        if not _is_section(key, value):
            out[key] = value
            continue
        for inner, item in value.items():
            if (key, inner) == ("losses", "weights") and isinstance(item, dict):
                out.update({f"{name}_weight": weight for name, weight in item.items()})
            else:
                out[_FLAT_NAME.get((key, inner), inner)] = item
    return out


def _is_section(key: str, value) -> bool:
    """Whether `value` is a section object. Only "student" and "teachers" are flat names
    too: a flat student is a string, and flat teachers map specs (never field names)."""
    if key not in SECTIONS or not isinstance(value, dict):
        return False
    if key == "teachers":
        names = {f.name for f in fields(SECTIONS["teachers"])}
        return bool(value) and set(value) <= names
    return True


def _put(out: dict, path: tuple[str, ...], value, shown: str, source: str) -> None:
    section = path[0]
    known = {f.name: f for f in fields(SECTIONS[section])} if section in SECTIONS else {}
    if len(path) not in (2, 3) or path[1] not in known:
        raise _unknown(shown, source)
    hint = typing.get_type_hints(SECTIONS[section])[path[1]]
    if len(path) == 2:
        _check_type(shown, value, hint, source)
        out[section][path[1]] = dict(value) if isinstance(value, dict) else value
        return
    if typing.get_origin(hint) is not dict:
        raise _unknown(shown, source)
    _check_type(shown, value, typing.get_args(hint)[1], source)
    entries = out[section].setdefault(path[1], _default(known[path[1]]))
    entries[path[2]] = value


def _default(f):
    return f.default_factory() if f.default_factory is not MISSING else f.default


def _unknown(key: str, source: str) -> SpireError:
    return SpireError(
        f"{source}: unknown field {key!r} (sections: {', '.join(SECTIONS)}; "
        f"or a flat name: {', '.join(sorted(FLAT))})"
    )


def _check_type(name: str, value, hint, source: str) -> None:
    if not _matches(value, hint):
        shown = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
        raise SpireError(f"{source}: field {name!r} must be {shown}, not {value!r}")


def _matches(value, hint) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # JSON writes 1.0 as 1
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            _matches(k, key) and _matches(v, item) for k, v in value.items()
        )
    return isinstance(value, hint)
