"""The run directory and its Zarr store (schema: docs/store.md, version SCHEMA_VERSION).

Helpers every stage uses: open with a schema-version check, a `complete` attribute written
as the last act on a group, skip-if-complete, and atomic writes of plain files.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import zarr

from .errors import StoreError

SCHEMA_VERSION = 1
COMPLETE = "complete"


def open_store(path: str | os.PathLike, mode: str = "r") -> zarr.Group:
    """Open the run's store. mode 'r' or 'r+': it must exist; 'a': create it if absent."""
    path = Path(path)
    exists = (path / "zarr.json").is_file()
    if not exists and mode != "a":
        raise StoreError(f"{path}: no xraymass store here (run the earlier stages first)")
    try:
        # never through consolidated metadata: it is a snapshot taken when a stage ended, and a later
        # stage's groups (stamps, predictions) would be invisible through it
        root = zarr.open_group(str(path), mode=mode, zarr_format=3, use_consolidated=False)
    except Exception as err:  # zarr raises many kinds on a damaged store
        raise StoreError(f"{path}: store is not readable ({type(err).__name__}: {err})") from None
    if not exists:
        root.attrs["schema_version"] = SCHEMA_VERSION
    found = root.attrs.get("schema_version")
    if found != SCHEMA_VERSION:
        raise StoreError(f"{path}: store schema version {found!r}, this xraymass reads version "
                         f"{SCHEMA_VERSION}; write a new run directory or use the matching xraymass")
    return root


def require_group(root: zarr.Group, name: str) -> zarr.Group:
    return root.require_group(name)


def is_complete(node: zarr.Group | zarr.Array) -> bool:
    return node.attrs.get(COMPLETE) is True


def mark_complete(node: zarr.Group | zarr.Array) -> None:
    """Mark a group or array complete: always the last write to it."""
    node.attrs[COMPLETE] = True


def consolidate(path: str | os.PathLike) -> None:
    """Write consolidated metadata once, at the end of a stage (rank 0 only)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr warns that consolidation is not in the v3 spec
        zarr.consolidate_metadata(str(path))


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `path` (an empty file ending in `suffix`, for writers that
    insist on an extension); rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    tmp.chmod(0o666 & ~_umask())  # mkstemp's 0600 would hide results from the rest of a project group
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _umask() -> int:
    """The process umask, read without setting it (os.umask would change it for every thread)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
