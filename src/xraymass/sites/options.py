"""sbatch options from a site config, checked before they reach a command line.

Site values become argv elements of `sbatch` (a list given to subprocess, never a shell string),
and only after two checks: the option name is on an allow-list of resource and placement options
(nothing that runs commands, like --wrap, or that redirects files, like --output), and the value
matches a strict pattern for that option. Anything else is refused with one line naming the file,
the key and the value.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError

_WORD = r"[A-Za-z0-9_][A-Za-z0-9_.:+@%/=-]*"
_LIST = rf"{_WORD}(,{_WORD})*"
_COUNT = r"[1-9][0-9]{0,6}"
_TIME = r"([0-9]{1,3}-)?[0-9]{1,3}(:[0-9]{2}){0,2}"
_MEM = r"[0-9]{1,9}[KMGT]?"
_GPUS = rf"({_WORD}:)?{_COUNT}"

# long option name: pattern of its value
PATTERNS: dict[str, str] = {
    "account": _WORD,
    "partition": _LIST,
    "qos": _WORD,
    "constraint": r"[A-Za-z0-9_][A-Za-z0-9_.:&|,\[\]*-]*",
    "reservation": _WORD,
    "clusters": _LIST,
    "nodes": rf"{_COUNT}(-{_COUNT})?",
    "ntasks": _COUNT,
    "ntasks-per-node": _COUNT,
    "cpus-per-task": _COUNT,
    "cpus-per-gpu": _COUNT,
    "threads-per-core": _COUNT,
    "core-spec": r"[0-9]{1,3}",
    "gpus": _GPUS,
    "gpus-per-node": _GPUS,
    "gpus-per-task": _GPUS,
    "gres": _LIST,
    "gpu-bind": _LIST,
    "hint": r"(compute_bound|memory_bound|multithread|nomultithread)",
    "mem": _MEM,
    "mem-per-cpu": _MEM,
    "mem-per-gpu": _MEM,
    "tmp": _MEM,
    "time": _TIME,
    "licenses": _LIST,
}
# srun options a stage's step may carry (slurm_<stage>.srun): task and GPU binding
SRUN_PATTERNS: dict[str, str] = {
    "cpu-bind": r"(verbose,)?(none|cores|threads|sockets|ldoms|rank|(map_cpu|mask_cpu|map_ldom|mask_ldom):"
                r"(0x)?[0-9A-Fa-f]+(,(0x)?[0-9A-Fa-f]+)*)",
    "gpu-bind": r"(verbose,)?(none|closest|single:[0-9]{1,3}|(map_gpu|mask_gpu):(0x)?[0-9A-Fa-f]+(,(0x)?[0-9A-Fa-f]+)*)",
    "distribution": r"(block|cyclic|plane=[0-9]{1,3}|arbitrary)(:(block|cyclic|fcyclic))?",
    "hint": PATTERNS["hint"],
}
FLAGS = ("exclusive",)  # options without a value, written `exclusive: true`
MAX_LENGTH = 200


def check_options(options: dict[str, Any], path: Path | str, where: str,
                  patterns: dict[str, str] | None = None) -> dict[str, str | bool]:
    """Return the options with values as strings (flags as True); raise ConfigError on the first bad one.

    patterns: the allowed option names and their value patterns (default: sbatch's, PATTERNS)."""
    patterns = PATTERNS if patterns is None else patterns
    flags = FLAGS if patterns is PATTERNS else ()
    checked: dict[str, str | bool] = {}
    for name, value in options.items():
        key = f"{where}.{name}"
        if name in flags:
            if value is not True:
                raise ConfigError(f"{path}: '{key}' = {value!r} is not allowed; expected true (a flag)")
            checked[name] = True
            continue
        pattern = patterns.get(name) if isinstance(name, str) else None
        if pattern is None:
            raise ConfigError(f"{path}: {'sbatch' if patterns is PATTERNS else 'srun'} option '{key}' is not "
                              f"allowed; allowed: {', '.join(sorted([*patterns, *flags]))}")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ConfigError(f"{path}: '{key}' = {value!r} is not allowed; expected a string or an integer")
        text = str(value)
        if len(text) > MAX_LENGTH or not re.fullmatch(pattern, text):
            raise ConfigError(f"{path}: '{key}' = {text!r} is not allowed; expected a value matching {pattern}")
        checked[name] = text
    return checked


def to_argv(options: dict[str, str | bool]) -> list[str]:
    """sbatch command-line options, one argv element each: ['--partition=gpu', '--exclusive']."""
    return [f"--{name}" if value is True else f"--{name}={value}" for name, value in options.items()]
