"""Site files are data, never code: every value of site.yaml, jobqueue.yaml and env.sh checked
before anything from them reaches a job script or a command line.

Three rules, generic over every value (so keys added to the site schema are covered too):

1. Every string value of site.yaml (after `--site-set` overrides and $VAR expansion; the sbatch
   options of `slurm_<stage>.options` have their own strict per-option patterns, as argv elements
   of sbatch, xraymass.sites.options) and of
   jobqueue.yaml (after dask's $VAR expansion) is free of the characters a shell gives meaning to
   when a value is pasted unquoted into a script (dask-jobqueue writes values such as
   `local-directory` unquoted into the worker job script): `$` (a substitution: any $VAR is
   expanded before, so what is left is `$(...)` or an unset variable), backquote, `;`, `&`, `|`,
   `<`, `>`, `\\`, quotes, newlines and other control characters.
2. The jobqueue values that a job script runs as commands have the shape of what they may be:
   `python` is words ending in a Python interpreter; each `job-script-prologue` line is
   `source FILE`, `. FILE`, `module ...`, `export NAME=VALUE` or `cd DIR`; each
   `job-extra-directives` entry is one sbatch option (`--name[=value]`).
3. env.sh (and the Alps EDF), which every job script sources, is written from site.yaml's checked
   values by xraymass.sites.launch; a file that differs from what site.yaml writes is refused
   (xraymass.sites.site), so nothing reaches a job script that rule 1 has not seen.

Anything else is a ConfigError naming the file, the key (or line) and the value.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from .errors import ConfigError

UNSAFE = re.compile(r"[$`;&|<>\\'\"\x00-\x1f\x7f]")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PYTHON = re.compile(r"(.*/)?python(3(\.[0-9]+)?)?")
_PROLOGUE = re.compile(rf"(source|\.|cd) \S+|module( \S+)+|export {_NAME}=\S*")
_DIRECTIVE = re.compile(r"--[a-z][a-z-]*(=\S+)?")


def string_values(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, value) of every string in a nested mapping/list (list items as key.N)."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from string_values(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from string_values(v, f"{key}.{i}")


def check_site_files(cfg) -> None:
    """Rule 1 for a loaded site: every string value of its config. (env.sh is written from these values
    and checked against them by xraymass.sites.site; jobqueue.yaml is checked where it is read, after
    expansion in the job: stamps/workers.py.)"""
    data = cfg.to_dict()
    # sbatch options are argv elements of sbatch, never shell text, each checked against its own strict
    # pattern (xraymass.sites.options): constraints legitimately hold '&' and '|'
    check_values({section: values for section, values in data.items() if not section.startswith("slurm_")},
                 cfg.path)


def check_values(data: Any, path: Path | str, prefix: str = "") -> None:
    """Rule 1 on every string value of `data`; ConfigError naming the first unsafe one."""
    for key, value in string_values(data, prefix):
        bad = UNSAFE.search(value)
        if bad:
            raise ConfigError(f"{path}: '{key}' = {value!r} is not allowed: {_describe(bad.group(0))} has a meaning "
                              f"to the shell of a job script (site values are data, never code)")


def check_jobqueue(options: dict[str, Any], path: Path | str) -> None:
    """Rules 1 and 2 on the (expanded) `jobqueue.slurm` options of a dask-jobqueue file."""
    check_values(options, path, "jobqueue.slurm")
    python = options.get("python")
    if python is not None and not (isinstance(python, str) and python.split()
                                   and _PYTHON.fullmatch(python.split()[-1])):
        raise ConfigError(f"{path}: 'jobqueue.slurm.python' = {python!r} is not allowed; expected a command "
                          f"ending in a Python interpreter (e.g. python3, or $XRAYMASS_EXEC python)")
    for key, pattern, what in (("job-script-prologue", _PROLOGUE, "source FILE, . FILE, module ..., export NAME=VALUE "
                                "or cd DIR"), ("job-extra-directives", _DIRECTIVE, "one sbatch option --name[=value]")):
        for i, line in enumerate(options.get(key) or []):
            if not isinstance(line, str) or not pattern.fullmatch(line.strip()):
                raise ConfigError(f"{path}: 'jobqueue.slurm.{key}.{i}' = {line!r} is not allowed; expected {what}")


def _describe(ch: str) -> str:
    names = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "`": "a backquote", "$": "'$'"}
    return names.get(ch, f"{ch!r}" if ch.isprintable() else f"the control character {ord(ch):#04x}")
