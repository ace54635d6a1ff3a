"""Typed keys for config validation: each config section maps onto one function's keywords.

A section's schema is a dict {key: Key(...)}; a config schema is a dict {section: that}. Stage subpackages keep their sections in
`<stage>/config_schema.py` (light modules: no heavy imports); `xraymass.config` gathers them.
"""
from __future__ import annotations

from dataclasses import dataclass
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
