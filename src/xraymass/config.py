"""Load and validate science configs (pipeline/*.yaml) and site configs (site_configs/<site>/site.yaml).

Validation happens once, here, strictly: an unknown section or key, a wrong type or an
out-of-range value raises ConfigError with one line naming the file, the key and what is
allowed. Missing keys take the schema's default. Then the cross-key rules of each stage
(`RULES` in <stage>/config_schema.py: band edges ordered, projections, mass range, stamp size and
pooling, ...) run on the whole config; a broken rule is a ConfigError naming the file and the keys.
A key given twice in one mapping is refused (YAML would silently keep the last). Command-line
overrides use one dotted form, `--set train.max_epochs=20`, the value read as YAML. Strings may
use $VARS, expanded at load time.
"""
from __future__ import annotations

import copy
import importlib
import os
import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import ConfigError
from .schema import Key

# Sections shared by every stage; stage sections live in <stage>/config_schema.py.
CORE_SECTIONS: dict[str, dict[str, Key]] = {
    "run": {
        "name": Key(str, "demo", "name of the run; the run directory defaults to runs/<name>"),
        "directory": Key(str, "", "run directory (relative to the working directory); '' means runs/<name>"),
        "seed": Key(int, 20190507, "global seed; every random stream derives from (seed, halo id, ...)", lo=0, hi=2**63 - 1),
        "store": Key(str, "store.zarr", "the Zarr store, relative to the run directory"),
    },
    "cosmology": {
        "name": Key(str, "planck15", "colossus cosmology name (the paper: Planck 2015, as TNG)",
                    choices=("planck15", "planck18", "WMAP9")),
    },
}
STAGE_SCHEMA_MODULES = (
    "xraymass.halos.config_schema",
    "xraymass.mocks.config_schema",
    "xraymass.stamps.config_schema",
    "xraymass.train.config_schema",
    "xraymass.analysis.config_schema",
    "xraymass.predict.config_schema",
)
SITE_SCHEMA_MODULE = "xraymass.sites.config_schema"
_UNSET_VAR = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")


def _stage_schema_modules() -> list:
    modules = []
    for name in STAGE_SCHEMA_MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
    return modules


def science_schema() -> dict[str, dict[str, Key]]:
    """Every section a science config may hold, from the core and from each stage present."""
    schema = dict(CORE_SECTIONS)
    for module in _stage_schema_modules():
        schema.update(module.SECTIONS)
    return schema


def science_rules() -> list:
    """The cross-key rules of every stage present: functions of the validated config (a dict of
    sections) that return None, or one line naming the keys and what is wrong."""
    return [rule for module in _stage_schema_modules() for rule in getattr(module, "RULES", ())]


def site_schema() -> dict[str, dict[str, Key]]:
    return importlib.import_module(SITE_SCHEMA_MODULE).SECTIONS


class Config:
    """A validated config: `cfg.train` is the dict of the `train` section (a copy, safe to unpack)."""

    def __init__(self, path: Path, data: dict[str, dict[str, Any]]):
        self.path = path
        self._data = data

    def __getattr__(self, section: str) -> dict[str, Any]:
        try:
            return copy.deepcopy(self._data[section])
        except KeyError:
            raise AttributeError(section) from None

    def sections(self) -> list[str]:
        return list(self._data)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self._data)

    @property
    def run_dir(self) -> Path:
        """The run directory: run.directory, or runs/<run.name>, relative to the working directory."""
        run = self._data["run"]
        return Path(run["directory"] or Path("runs") / run["name"])

    @property
    def store_path(self) -> Path:
        return self.run_dir / self._data["run"]["store"]


def load_config(path: str | os.PathLike, overrides: Iterable[str] = (), kind: str = "science") -> Config:
    """Read, override and validate a config file. kind: 'science' or 'site'."""
    path = Path(path)
    schema = science_schema() if kind == "science" else site_schema()
    raw = read_yaml(path)
    for item in overrides:
        _apply_override(raw, item, path)
    data = validate(raw, schema, path)
    for rule in science_rules() if kind == "science" else ():
        problem = rule(data)
        if problem:
            raise ConfigError(f"{path}: {problem}")
    return Config(path, data)


class _StrictLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (first on line {first.line + 1}); only one may stay",
                    key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep)


def load_yaml_text(text: str):
    """Parse YAML like yaml.safe_load, refusing duplicate keys."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)


def read_yaml(path: Path) -> dict:
    """A YAML mapping, or ConfigError naming the file (and line) when it is missing or malformed."""
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a text file in UTF-8 (byte {err.start}); a config is YAML text") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        raw = load_yaml_text(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} not valid YAML ({getattr(err, 'problem', err)})") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return raw


def _apply_override(raw: dict, item: str, path: Path) -> None:
    key, sep, text = item.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE (e.g. train.max_epochs=20)")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"--set {item!r}: value is not valid YAML") from None
    section = raw.setdefault(parts[0], {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: section '{parts[0]}' must be a mapping")
    section[parts[1]] = value


def validate(raw: dict, schema: dict[str, dict[str, Key]], path: Path) -> dict[str, dict[str, Any]]:
    """Check every section and key of `raw` against `schema`; return the full config with defaults."""
    for section in raw:
        if section not in schema:
            raise ConfigError(f"{path}: unknown section '{section}'; allowed: {', '.join(sorted(schema))}")
    out: dict[str, dict[str, Any]] = {}
    for section, keys in schema.items():
        given = raw.get(section) or {}
        if not isinstance(given, dict):
            raise ConfigError(f"{path}: section '{section}' must be a mapping of keys")
        for key in given:
            if key not in keys:
                raise ConfigError(f"{path}: unknown key '{section}.{key}'; allowed: {', '.join(sorted(keys))}")
        values = {}
        for key, spec in keys.items():
            value = _expand(given[key], path, f"{section}.{key}") if key in given else copy.deepcopy(spec.default)
            try:
                values[key] = spec.check(value)
            except ValueError:
                raise ConfigError(f"{path}: '{section}.{key}' = {value!r} is not allowed; expected {spec.allowed()}") from None
        out[section] = values
    return out


def first_unset_variable(value: Any) -> str | None:
    """The first $VAR left in a (nested) value after expansion: expandvars leaves unset ones as written."""
    if isinstance(value, str):
        found = _UNSET_VAR.search(value)
        return found.group(0) if found else None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return next((v for v in map(first_unset_variable, items) if v), None)


def _expand(value: Any, path: Path, where: str) -> Any:
    if isinstance(value, str) and "$" in value:
        expanded = os.path.expandvars(value)
        unset = first_unset_variable(expanded)
        if unset:
            raise ConfigError(f"{path}: '{where}' uses {unset}, which is not set in the environment")
        return expanded
    if isinstance(value, list):
        return [_expand(v, path, where) for v in value]
    return value


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
