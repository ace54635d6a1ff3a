"""Provenance written beside every output: effective config, version, commit, ranks, physics data."""
from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import __version__
from .config import Config, dump_yaml
from .store import write_text_atomic


@lru_cache(maxsize=1)
def git_commit() -> str:
    """The commit of the source tree this package runs from, or 'unknown' (e.g. an installed wheel)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def provenance(stage: str, ranks: int = 1, physics_data: Any = None) -> dict[str, Any]:
    return {
        "stage": stage,
        "xraymass_version": __version__,
        "git_commit": git_commit(),
        "ranks": int(ranks),
        "physics_data": physics_data,
        "python": platform.python_version(),
        "host": platform.node(),
        "time_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_effective_config(directory: str | Path, cfg: Config, stage: str, ranks: int = 1,
                           physics_data: Any = None) -> Path:
    """Write <directory>/<stage>.config.yaml: the config as run and its provenance (YAML, never pickle)."""
    doc = {"provenance": provenance(stage, ranks, physics_data), "config": cfg.to_dict()}
    from .layout import effective_config

    return write_text_atomic(effective_config(directory, stage), dump_yaml(doc))
