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
3. env.sh, which every job script sources, holds only comments, `export NAME=VALUE ...`,
   `source FILE` / `. FILE` and `module ...` lines, whose values are literal words or
   parameter expansions ($NAME, ${NAME}, ${NAME:-default}), double-quoted or not: no command
   substitution, no command separator, no redirection.

Anything else is a ConfigError naming the file, the key (or line) and the value.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from .errors import ConfigError

UNSAFE = re.compile(r"[$`;&|<>\\'\"\x00-\x1f\x7f]")
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_WORD_CHARS = re.compile(r"[A-Za-z0-9_./:@%+=,~-]")
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


def check_site_files(cfg, directory: Path) -> None:
    """Rules 1 and 3 for a loaded site: every string value of its config, and its env.sh.
    (jobqueue.yaml is checked where it is read, after expansion in the job: stamps/workers.py.)"""
    data = cfg.to_dict()
    # sbatch options are argv elements of sbatch, never shell text, each checked against its own strict
    # pattern (xraymass.sites.options): constraints legitimately hold '&' and '|'
    check_values({section: values for section, values in data.items() if not section.startswith("slurm_")},
                 cfg.path)
    env_sh = Path(directory) / "env.sh"
    if env_sh.is_file():
        check_env_file(env_sh)


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


def check_env_file(path: Path) -> None:
    """Rule 3: env.sh holds only exports, sources and module commands with inert values."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not readable as UTF-8 text ({type(err).__name__})") from None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        problem = _env_line_problem(line)
        if problem:
            raise ConfigError(f"{path}: line {number} {line!r} is not allowed: {problem} (env files hold only "
                              f"export NAME=VALUE, source FILE and module lines; values are data, never code)")


def _env_line_problem(line: str) -> str | None:
    words = _split_words(line)
    if words is None:
        return "unbalanced quotes"
    command, args = words[0], words[1:]
    if command == "export":
        if not args:
            return "export of nothing"
        for arg in args:
            name, sep, value = arg.partition("=")
            if not re.fullmatch(_NAME, name) or not sep:
                return f"{arg!r} is not NAME=VALUE"
            problem = _value_problem(value)
            if problem:
                return f"{name}: {problem}"
        return None
    if command in ("source", ".", "module"):
        if not args:
            return f"{command} of nothing"
        for arg in args:
            problem = _value_problem(arg)
            if problem:
                return problem
        return None
    return f"{command!r} is not export, source or module"


def _split_words(line: str) -> list[str] | None:
    """Words of a line: runs of characters outside double quotes split at spaces, quotes kept."""
    words, current, quoted = [], "", False
    for ch in line:
        if ch == '"':
            quoted = not quoted
            current += ch
        elif ch.isspace() and not quoted:
            if current:
                words.append(current)
            current = ""
        else:
            current += ch
    if quoted:
        return None
    if current:
        words.append(current)
    return words


def _value_problem(value: str) -> str | None:
    """None when `value` is literal words and $NAME / ${NAME} / ${NAME:-default} expansions only."""
    text = value.replace('"', "") if value.count('"') % 2 == 0 else None
    if text is None:
        return "unbalanced quotes"
    quoted_space = '"' in value
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "$":
            end = _expansion_end(text, i)
            if end is None:
                return f"{text[i:i + 12]!r}...: only $NAME, ${{NAME}} and ${{NAME:-default}} may expand"
            i = end
            continue
        if ch == " " and quoted_space:
            i += 1
            continue
        if not _WORD_CHARS.fullmatch(ch):
            return f"{_describe(ch)} has a meaning to the shell"
        i += 1
    return None


def _expansion_end(text: str, i: int) -> int | None:
    """Index after the parameter expansion starting at text[i] == '$', or None if it is not one."""
    m = re.match(_NAME, text[i + 1:])
    if m:
        return i + 1 + m.end()
    m = re.match(rf"\{{({_NAME})(\}}|:-)", text[i + 1:])
    if not m:
        return None
    j = i + 1 + m.end()
    if m.group(2) == "}":
        return j
    depth, start = 1, j
    while j < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
    if depth:
        return None
    return j if _value_problem(text[start:j - 1]) is None else None


def _describe(ch: str) -> str:
    names = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "`": "a backquote", "$": "'$'"}
    return names.get(ch, f"{ch!r}" if ch.isprintable() else f"the control character {ord(ch):#04x}")
