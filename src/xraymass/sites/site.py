"""A site: site_configs/<name>/ (site.yaml, env.sh, jobqueue.yaml), loaded and checked in full.

`load_site(name, home)` validates site.yaml against the schema (`load_config(kind="site")`, which
also expands "${XRAYMASS_ACCOUNT}"-style placeholders and refuses unset ones), then checks every
value that reaches a command line or a job's environment: sbatch options (allow-list, strict
patterns), the account, module names, bind paths and the site's files.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..config import Config, load_config
from ..errors import ConfigError
from ..sitevalues import check_site_files
from .config_schema import STAGES
from .options import PATTERNS, check_options, to_argv

DEFAULT_SITE = "local"
SITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_MODULE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/-]*")
_BIND = re.compile(r"/[A-Za-z0-9_./-]*(:/[A-Za-z0-9_./-]*)?")
_IMAGE = re.compile(r"[A-Za-z0-9_./-]+\.sif")


@dataclass(frozen=True)
class Site:
    name: str
    directory: Path
    cfg: Config
    options: dict[str, dict[str, str | bool]]  # stage: checked sbatch options

    @property
    def env_sh(self) -> Path:
        return self.directory / "env.sh"

    def sbatch_argv(self, stage: str) -> list[str]:
        """The stage's sbatch options as argv elements, the account first when the site names one."""
        account = self.cfg.slurm["account"]
        return ([f"--account={account}"] if account else []) + to_argv(self.options[stage])


def site_names(home: Path) -> list[str]:
    root = home / "site_configs"
    return sorted(p.name for p in root.iterdir() if (p / "site.yaml").is_file()) if root.is_dir() else []


def repository_home() -> Path:
    """The repository holding jobs/ and site_configs/: $XRAYMASS_HOME, else the one of this package."""
    env = os.environ.get("XRAYMASS_HOME")
    home = Path(env) if env else Path(__file__).resolve().parents[3]
    if not (home / "jobs").is_dir() or not (home / "site_configs").is_dir():
        raise ConfigError(f"{home}: no jobs/ and site_configs/ here; set XRAYMASS_HOME to the xraymass repository")
    return home.resolve()


def load_site(name: str | None, home: Path | None = None, overrides: Sequence[str] = ()) -> Site:
    """Load and check site_configs/<name>/ under the repository `home` (default: repository_home()).

    name None means $XRAYMASS_SITE, else 'local'; overrides are `SECTION.KEY=VALUE` strings."""
    name = name or os.environ.get("XRAYMASS_SITE") or DEFAULT_SITE
    home = home or repository_home()
    if not SITE_NAME.fullmatch(name):
        raise ConfigError(f"--site {name!r}: a site is the name of a folder of site_configs/ "
                          f"(letters, digits, '-' and '_')")
    directory = home / "site_configs" / name
    path = directory / "site.yaml"
    if not path.is_file():
        raise ConfigError(f"--site {name}: no {path}; sites here: {', '.join(site_names(home)) or 'none'}")
    cfg = load_config(path, overrides, kind="site")
    options = {stage: check_options(getattr(cfg, f"slurm_{stage}")["options"], path, f"slurm_{stage}.options")
               for stage in STAGES}
    _check_unsupported(cfg, options, path)
    _check_account(cfg, path)
    _check_software(cfg, path)
    _check_files(cfg, directory)
    check_site_files(cfg, directory)  # every value, whatever its key, is data, never code (xraymass.sitevalues)
    return Site(name, directory, cfg, options)


def _check_unsupported(cfg: Config, options: dict[str, dict[str, str | bool]], path: Path) -> None:
    refused = set(cfg.slurm["unsupported"])
    for stage, stage_options in options.items():
        for name in refused & set(stage_options):
            raise ConfigError(f"{path}: 'slurm_{stage}.options.{name}': this site refuses --{name} "
                              f"(slurm.unsupported)")


def _check_account(cfg: Config, path: Path) -> None:
    account = cfg.slurm["account"]
    if account and not re.fullmatch(PATTERNS["account"], account):
        raise ConfigError(f"{path}: 'slurm.account' = {account!r} is not allowed; expected a project name "
                          f"matching {PATTERNS['account']}")


def _check_software(cfg: Config, path: Path) -> None:
    software = cfg.software
    for module in software["modules"]:
        if not _MODULE.fullmatch(module):
            raise ConfigError(f"{path}: 'software.modules' entry {module!r} is not a module name")
    for bind in software["binds"]:
        if not _BIND.fullmatch(bind):
            raise ConfigError(f"{path}: 'software.binds' entry {bind!r} is not allowed; expected an absolute "
                              f"path (or SRC:DEST) without spaces or commas")
    if software["mode"] == "container":
        if not _IMAGE.fullmatch(software["container"]):
            raise ConfigError(f"{path}: 'software.container' = {software['container']!r}: mode container needs "
                              f"an Apptainer image file name ending in .sif")
        if cfg.mpi["container_model"] == "none":
            raise ConfigError(f"{path}: 'mpi.container_model' must be hybrid or bind when software.mode is container")


def _check_files(cfg: Config, directory: Path) -> None:
    env_sh = directory / "env.sh"
    if not env_sh.is_file():
        raise ConfigError(f"{directory}: no env.sh (the job scripts source it)")
    if cfg.dask["cluster"] == "slurm":
        jobqueue = directory / cfg.dask["jobqueue"]
        if not jobqueue.is_file():
            raise ConfigError(f"{directory / 'site.yaml'}: 'dask.jobqueue' names {jobqueue}, which does not exist")
