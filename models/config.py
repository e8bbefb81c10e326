"""The one config loader of every model: a TOML or YAML file of tables whose keys are the
fields of a frozen config dataclass, and overrides that name what they do not know.

Seed 000 reads ``[model]`` (the head), ``[lstm]``, ``[hmm]``, ``[labels]``; the direction
system ``[direction]``.
"""

from __future__ import annotations

import tomllib
import types
import typing
from dataclasses import asdict, fields
from pathlib import Path

from core.errors import DataError


def read_config_file(path: Path | str) -> dict:
    """The tables of a TOML or YAML file; a missing or unparsable file is a DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"config file {path} does not exist")
    if path.is_dir():
        raise DataError(f"config file {path} is a folder, not a file")
    try:
        text = path.read_text(encoding="utf-8")  # TOML is UTF-8 by its specification
    except (OSError, UnicodeDecodeError) as exc:  # a binary file given by mistake
        raise DataError(f"{path}: cannot read it as text ({exc})") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        raise DataError(f"{path}: cannot parse ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise DataError(f"{path}: expected tables of settings ([name] headers, or a YAML "
                        "mapping of mappings), got "
                        f"{type(data).__name__ if not isinstance(data, dict) else 'keys outside a table'}")
    return data


def load_config_file(path: Path | str,
                     sections: tuple[str, ...] = ("model", "lstm", "hmm", "labels")
                     ) -> dict:
    """A config file whose tables are all among ``sections`` (seed 000's by default), e.g.
    ``[lstm]\\nepochs = 5``."""
    data = read_config_file(path)
    unknown = set(data) - set(sections)
    if unknown:
        raise DataError(f"{path}: unknown sections {', '.join(sorted(unknown))} "
                        f"(use {', '.join(sections)})")
    return data


def config_table(path: Path | str, table: str) -> dict:
    """The one table ``[table]`` a file must have (the direction system's ``[direction]``)."""
    data = read_config_file(path)
    if not isinstance(data.get(table), dict):
        raise DataError(f"{path}: no [{table}] table (found: {', '.join(data) or 'none'})")
    others = sorted(set(data) - {table})
    if others:  # e.g. an [lstm] table of train's, which this model would ignore
        raise DataError(f"{path}: unknown sections {', '.join(others)} (use [{table}] only)")
    return data[table]


def override(config, values: dict, where: str, section: str = ""):
    """A copy of the dataclass ``config`` with ``values`` replaced; unknown keys are a
    DataError naming them and the known ones (``where`` says which file or flag,
    ``section`` which of its tables, as the configs' own checks name it: ``seed`` is an
    [lstm] key, so "unknown keys seed" alone would not say that the [hmm] table is wrong).

    A config class with named architectures (``for_architecture``, as ``LSTMConfig``)
    whose ``architecture`` the values change starts from that architecture's defaults:
    ``architecture = "seed000"`` alone gives the seed's sizes, not the seed's layers at
    another architecture's sizes."""
    names = {f.name for f in fields(config)}
    unknown = set(values) - names
    table = f"{section}: " if section else ""
    if unknown:
        raise DataError(f"{where}: {table}unknown keys {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(sorted(names))}")
    hints = typing.get_type_hints(type(config))
    wrong = [f"{key}={value!r} must be {_describe(hints[key])}"
             for key, value in values.items() if not _fits(value, hints[key])]
    if wrong:  # a string for a number, 2.5 bars, true for a count: refused, not coerced
        raise DataError(f"{where}: {table}" + "; ".join(wrong))
    wanted = values.get("architecture")
    if wanted is not None and wanted != getattr(config, "architecture", wanted) \
            and hasattr(config, "for_architecture"):
        config = type(config).for_architecture(wanted)
    merged = asdict(config)
    for key, value in values.items():
        merged[key] = tuple(value) if isinstance(value, list) else value
    try:
        return type(config)(**merged)
    except (TypeError, ValueError) as exc:  # the config's own checks (__post_init__)
        raise DataError(f"{where}: {exc}") from None


def _fits(value, hint) -> bool:
    """Whether a config file's ``value`` is of the field's type ``hint`` (bool is not a
    number here, an int is a float, a list is a tuple); types not listed are not checked."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(item, args[0]) for item in value)
        return len(args) == len(value) and all(map(_fits, value, args))
    return True


def _describe(hint) -> str:
    """``hint`` in words, for the refusal of a value of another type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is tuple:
        return f"a list of {_describe(args[0]).split(' ', 1)[1]}s" if args else "a list"
    return {bool: "true or false", int: "a whole number", float: "a number",
            str: "a string", type(None): "none (left out)"}.get(hint, str(hint))


def refuse_values(section: str, config, checks) -> None:
    """A DataError naming every field of ``config`` whose check fails, as ``section:
    name=value must be ...``; ``checks`` are ``(name, ok, must_be)`` triples. A config
    checks its values where it is made (``__post_init__``), so a config file, a flag and
    a sweep grid are refused the same way before any data is read."""
    problems = value_problems(config, checks)
    if problems:
        raise DataError(f"{section}: " + "; ".join(problems))


def value_problems(config, checks) -> list[str]:
    """``name=value must be ...`` for each ``(name, ok, must_be)`` of ``checks`` that fails
    (``refuse_values``' lines, for a config that adds them to refusals of its own)."""
    return [f"{name}={getattr(config, name)!r} must be {must_be}"
            for name, ok, must_be in checks if not ok]
