"""Typed keys for config validation, and the typed sections built from them.

Each config section maps onto one function's keywords. After validation a section is a frozen
dataclass built from its schema (`section_class`): one object, passed whole.

A section's schema is a dict {key: Key(...)}; a config schema is a dict {section: that}. Stage subpackages keep their sections in
`<stage>/config_schema.py` (light modules: no heavy imports); `xraymass.config` gathers them.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, make_dataclass
from typing import Any

_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a mapping"}


@dataclass(frozen=True)
class Key:
    """One config key: its type, default, and the values allowed.

    type_: bool, int, float, str, list or dict (an int is accepted where a float is asked).
    choices: allowed values; lo/hi: inclusive bounds for numbers (for lists: of each item);
    item: the type of list items; length: required list length; nullable: None allowed.
    """

    type_: type
    default: Any
    doc: str = ""
    choices: tuple | None = None
    lo: float | None = None
    hi: float | None = None
    item: type | None = None
    length: int | None = None
    nullable: bool = False

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        what = _TYPE_NAMES[self.type_]
        if self.type_ is list and self.item is not None:
            what = f"a list of {self.length or ''} {_TYPE_NAMES[self.item].split(' ', 1)[1]}s".replace("  ", " ")
        if self.lo is not None and self.hi is not None:
            what += f" in [{self.lo}, {self.hi}]"
        elif self.lo is not None:
            what += f" >= {self.lo}"
        elif self.hi is not None:
            what += f" <= {self.hi}"
        if self.nullable:
            what += " or null"
        return what

    def check(self, value: Any) -> Any:
        """Return the value, converted where lossless (int -> float); raise ValueError if not allowed."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError
        value = _check_type(value, self.type_)
        if self.type_ is list:
            if self.length is not None and len(value) != self.length:
                raise ValueError
            if self.item is not None:
                value = [_check_type(v, self.item) for v in value]
                for v in value:
                    self._check_range(v)
        else:
            self._check_range(value)
        if self.choices is not None and value not in self.choices:
            raise ValueError
        return value

    def _check_range(self, v: Any) -> None:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if self.lo is not None and v < self.lo:
                raise ValueError
            if self.hi is not None and v > self.hi:
                raise ValueError


def _check_type(value: Any, type_: type) -> Any:
    if type_ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type_ is int and isinstance(value, bool):
        raise ValueError
    if type_ is float and isinstance(value, float) and value != value:
        raise ValueError  # NaN is never a valid setting
    if not isinstance(value, type_):
        raise ValueError
    return value


# --- typed sections ------------------------------------------------------------------------

class Section(Mapping):
    """A validated config section: a frozen dataclass whose fields are the section's keys.

    Read a key as an attribute (`cfg.train.max_epochs`) or, as before, by name (`cfg.train["max_epochs"]`);
    a section unpacks onto a function's keywords (`build_model(**cfg.model)`) and compares equal to the
    dict of its values. `to_dict()` gives a plain dict (for YAML, JSON and Zarr attributes).
    """

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(self.__dataclass_fields__)

    def __len__(self) -> int:
        return len(self.__dataclass_fields__)

    def to_dict(self) -> dict[str, Any]:
        """The section's values as a plain dict (a deep copy)."""
        return copy.deepcopy({key: getattr(self, key) for key in self})

    def __reduce__(self):
        """Pickled by name and values, so that a process that never loaded this config (a Dask worker, another
        MPI rank) rebuilds it."""
        return _unpickle_section, (type(self).__name__, self.to_dict())


def _unpickle_section(class_name: str, values: dict[str, Any]) -> Section:
    """A section rebuilt from its pickled name and values (its schema's class when this process has it)."""
    cls = globals().get(class_name)
    if cls is None or not issubclass(cls, Section) or list(cls.__dataclass_fields__) != list(values):
        cls = make_dataclass(class_name, [(k, Any) for k in values], bases=(Section,), frozen=True, eq=False)
        cls.__module__ = __name__
    return cls(**values)


_PY_TYPES = {bool: bool, int: int, float: float, str: str, list: list, dict: dict}


def section_class(name: str, keys: dict[str, Key]) -> type[Section]:
    """The frozen dataclass of one section, built from its schema: a field per key, typed as the key is
    (None allowed where the key is nullable). Built once per section and schema."""
    key = (name, tuple((k, spec.type_, spec.nullable) for k, spec in keys.items()))
    cls = _SECTION_CLASSES.get(key)
    if cls is None:
        fields = [(k, _PY_TYPES[spec.type_] | None if spec.nullable else _PY_TYPES[spec.type_]) for k, spec in keys.items()]
        title = "".join(part.capitalize() for part in name.split("_"))
        cls = make_dataclass(f"{title}Section", fields, bases=(Section,), frozen=True, eq=False)
        cls.__doc__ = f"The validated `{name}` section: " + "; ".join(f"{k}: {spec.doc}" for k, spec in keys.items()
                                                                        if spec.doc)
        cls.__module__ = __name__
        globals().setdefault(cls.__name__, cls)  # importable by name: sections pickle (Dask, MPI)
        _SECTION_CLASSES[key] = cls
    return cls


_SECTION_CLASSES: dict[tuple, type[Section]] = {}
