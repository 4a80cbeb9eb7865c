"""Typed configuration machinery: YAML files are serialized instances of a dataclass tree.

Each stage owns the dataclass of its own section (`corpus.config`, `graph.config`, `pretrain.config`)
and receives only that section; `pipeline.tree` puts the sections together. This module holds the
machinery shared by all of them and imports none of them: strict loading (unknown keys and wrong
types are errors that name the key), dotted command-line overrides (`train.lr=3e-4`, type-checked like
the file), the resolved config as a dict/YAML, and a stable hash of a section so outputs can be keyed
by the config that made them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from foundation.atomic import write_text_atomic
from foundation.errors import ConfigError

T = TypeVar("T")


# ----------------------------------------------------------------------------------------------
# Strict conversion from plain data (YAML) to dataclasses


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


# YAML 1.1 reads these words as booleans; where a field is a string (`train.mixed_precision: no`) the
# word was meant, so it is given back instead of failing on `False`.
BOOL_WORDS = {False: ("no", "off", "false"), True: ("yes", "on", "true")}


class YamlWord(str):
    """An override value YAML would read as a boolean (`no`, `off`, `yes`, `on`): a bool where the
    field is one, the word itself where the field is a string."""

    def __init__(self, word: str) -> None:
        self.flag = yaml.safe_load(word)


def _bool_as_word(value: bool, allowed: tuple[Any, ...] | None) -> str:
    words = BOOL_WORDS[value]
    if allowed is None:
        return words[0]
    return next((w for w in words if w in allowed), words[0])


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp` and convert it (dicts -> dataclasses, lists -> tuples)."""
    origin = get_origin(tp)
    if tp is Any:
        return str(value) if isinstance(value, YamlWord) else value
    if isinstance(value, YamlWord) and origin is not Union and origin is not types.UnionType:
        if tp is bool:
            return value.flag
        # `off` for a field that says `no`: the same meaning in the field's own word
        value = value.flag if origin is Literal and str(value) not in get_args(tp) else str(value)
    if origin is Union or origin is types.UnionType:
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{where}: null is not allowed (expected {_type_name(tp)})")
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: {value!r} is not a {_type_name(tp)}")
    if origin is Literal:
        allowed = get_args(tp)
        if isinstance(value, bool) and not any(isinstance(a, bool) for a in allowed):
            word = _bool_as_word(value, allowed)
            value = word if word in allowed else value
        if value in allowed and not (
            isinstance(value, bool) and not any(isinstance(a, bool) for a in allowed)
        ):
            return value
        raise ConfigError(f"{where}: {value!r} is not one of {list(allowed)}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for section {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(
                _convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
            )
        item_tp = args[0] if args else Any
        items = [_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        args = get_args(tp) or (Any, Any)
        return {_convert(k, args[0], where): _convert(v, args[1], f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:  # YAML 1.1 reads "3e-4" (no dot) as a string
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, bool):  # `key: no` in a YAML file: the word was meant
            return _bool_as_word(value, None)
        if isinstance(value, str):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: {value!r} is not a {_type_name(tp)}")


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types raise ConfigError."""
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]!s} (known keys of {where or 'the config'}: "
            f"{', '.join(sorted(names))})"
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        kwargs[name] = _convert(value, hints[name], key)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where or 'config'}: {e}") from e


def to_dict(obj: Any) -> Any:
    """Plain-data form of a config (for YAML/JSON); tuples become lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, list | tuple):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def config_hash(*sections: Any, length: int = 12) -> str:
    """Stable short hash of one or more config sections (and any plain values) for output keys."""
    blob = json.dumps([to_dict(s) for s in sections], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


# ----------------------------------------------------------------------------------------------
# Files and overrides


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({e})") from e
    if isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
        value = YamlWord(raw.strip())
    return parts, value


def merge_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply dotted `key=value` overrides to plain config data (checked when the tree is built)."""
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for text in overrides:
        parts, value = _parse_override(text)
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {text!r}: {part} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(data).__name__}")
    return data


def load_tree(
    tree: type[T],
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    *,
    own_sections_only: bool = False,
) -> T:
    """Read a preset into dataclass `tree` (the defaults when `path` is None), apply overrides, validate
    everything. `own_sections_only`: sections of the file that `tree` does not have are left out unread
    (a stage reading the whole tree a run recorded; the sections of other stages are theirs to check)."""
    data = read_yaml(path) if path is not None else {}
    overrides = list(overrides or [])
    data = merge_overrides(data, overrides)
    if own_sections_only:
        names = {f.name for f in dataclasses.fields(tree)}  # type: ignore[arg-type]
        data = {k: v for k, v in data.items() if k in names}
    try:
        return from_dict(tree, data)
    except ConfigError as e:
        # Blame what set the key: the last override naming it, else the file.
        culprit = next((o for o in reversed(overrides) if f"{o.split('=', 1)[0].strip()}:" in str(e)), None)
        if culprit is not None:
            raise ConfigError(f"{e} (from the override {culprit!r})") from e
        source = f" in {path}" if path is not None else ""
        raise ConfigError(f"{e}{source}") from e


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def save_resolved(cfg: Any, path: str | Path) -> None:
    """Write the resolved config beside an output, atomically."""

    write_text_atomic(path, dump_yaml(cfg))


__all__ = [
    "config_hash",
    "dump_yaml",
    "from_dict",
    "load_tree",
    "merge_overrides",
    "read_yaml",
    "save_resolved",
    "to_dict",
]
