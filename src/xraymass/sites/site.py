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

from ..config import Config, expand_string, load_config
from ..errors import ConfigError
from ..sitevalues import check_site_files
from ..stages import CHAIN as STAGES
from .options import PATTERNS, SRUN_PATTERNS, check_options, to_argv

DEFAULT_SITE = "local"
SITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_MODULE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+/-]*")
_PATH = re.compile(r"/[A-Za-z0-9_./-]*")
_BIND = re.compile(r"/[A-Za-z0-9_./-]*(:/[A-Za-z0-9_./-]*)?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_ENV_VALUE = re.compile(r"[A-Za-z0-9_./:,=+@%-]{0,200}")
_FLAG = re.compile(r"--[a-z][a-z0-9-]{0,40}(=[A-Za-z0-9_./:,=+-]{1,100})?")
# the image named by software.container, per runtime
_IMAGES = {
    "apptainer": (re.compile(r"[A-Za-z0-9_./-]+\.sif"), "an Apptainer image file name ending in .sif"),
    "singularity": (re.compile(r"[A-Za-z0-9_./-]+\.sif"), "an Apptainer image file name ending in .sif"),
    "podman-hpc": (re.compile(r"[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?"), "an OCI image name like xraymass:cuda"),
    "shifter": (re.compile(r"[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?"), "an OCI image name like user/xraymass:cuda"),
    "container-engine": (re.compile(r"[A-Za-z0-9_./-]+\.sqsh"), "a squashfs image file ending in .sqsh "
                                                                "(enroot import)"),
}


@dataclass(frozen=True)
class Site:
    name: str
    directory: Path
    cfg: Config
    options: dict[str, dict[str, str | bool]]  # stage: checked sbatch options
    srun: dict[str, dict[str, str | bool]] | None = None  # stage: checked srun options of its step

    @property
    def env_sh(self) -> Path:
        return self.directory / "env.sh"

    def sbatch_argv(self, stage: str) -> list[str]:
        """The stage's sbatch options as argv elements, the account first (a stage's own `account` option,
        e.g. Perlmutter's GPU account <project>_g, replaces the site's)."""
        account = self.options[stage].get("account") or self.cfg.slurm["account"]
        rest = {k: v for k, v in self.options[stage].items() if k != "account"}
        return ([f"--account={account}"] if account else []) + to_argv(rest)

    def time_limit_s(self, stage: str) -> int | None:
        """The stage's --time in seconds, or None when the site sets none."""
        value = self.options[stage].get("time")
        return parse_time(value) if isinstance(value, str) else None


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


def load_site(name: str | None, home: Path | None = None, overrides: Sequence[str] = (), check_files: bool = True) -> Site:
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
    options = {stage: check_options(_expand_values(getattr(cfg, f"slurm_{stage}")["options"], path,
                                                   f"slurm_{stage}.options"), path, f"slurm_{stage}.options")
               for stage in STAGES}
    srun = {stage: check_options(getattr(cfg, f"slurm_{stage}")["srun"], path, f"slurm_{stage}.srun", SRUN_PATTERNS)
            for stage in STAGES}
    _check_unsupported(cfg, options, path)
    _check_account(cfg, path)
    for stage in STAGES:
        if "account" in options[stage]:
            _check_account(cfg, path, options[stage]["account"], f"slurm_{stage}.options.account")
    _check_software(cfg, path)
    check_site_files(cfg)  # every value, whatever its key, is data, never code (xraymass.sitevalues)
    site = Site(name, directory, cfg, options, srun)
    if check_files:  # off only while env.sh is being written from site.yaml (xraymass.sites.launch)
        _check_files(cfg, directory)
        _check_generated(site, home)
    return site


def _check_generated(site: Site, home: Path) -> None:
    """env.sh (and the Alps EDF), which the job scripts source, are written from site.yaml alone: a file
    that differs (edited by hand, or site.yaml changed since) is refused, naming its first differing line."""
    from .launch import generated_files_of

    for path, text in generated_files_of(site.name, home).items():
        have = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.is_file() else []
        want = text.splitlines()
        if have != want:
            line = next((i for i, (a, b) in enumerate(zip(have, want), 1) if a != b), min(len(have), len(want)) + 1)
            raise ConfigError(f"{path}: line {line} differs from what {site.directory / 'site.yaml'} writes (the file "
                              f"is generated, never edited: site values are data, never code); run "
                              f"'python -m xraymass.sites.launch {site.name}'")


def _expand_values(options: dict, path: Path, where: str) -> dict:
    """${VARIABLES} in the values of a mapping (an option like account: "${XRAYMASS_ACCOUNT}_g"), expanded
    from the environment; an unset one is refused like everywhere else in a config."""
    return {name: expand_string(value, path, f"{where}.{name}") if isinstance(value, str) else value
            for name, value in options.items()}


def parse_time(value: str) -> int:
    """SLURM's time formats in seconds: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S."""
    days, _, clock = value.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:
        h, m, sec = (parts + [0, 0])[:3]
        return int(days) * 86400 + h * 3600 + m * 60 + sec
    if len(parts) == 1:
        return parts[0] * 60
    if len(parts) == 2:
        return parts[0] * 60 + parts[1]
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def _check_unsupported(cfg: Config, options: dict[str, dict[str, str | bool]], path: Path) -> None:
    refused = set(cfg.slurm["unsupported"])
    for stage, stage_options in options.items():
        for name in refused & set(stage_options):
            raise ConfigError(f"{path}: 'slurm_{stage}.options.{name}': this site refuses --{name} "
                              f"(slurm.unsupported)")


def _check_account(cfg: Config, path: Path, account: str | None = None, where: str = "slurm.account") -> None:
    account = cfg.slurm["account"] if account is None else account
    if account and not re.fullmatch(PATTERNS["account"], account):
        raise ConfigError(f"{path}: '{where}' = {account!r} is not allowed; expected a project name "
                          f"matching {PATTERNS['account']}")


_VENV = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]{0,200}")
_LINE = re.compile(r"[^\x00-\x1f\x7f]{0,300}")


def _check_software(cfg: Config, path: Path) -> None:
    """Every software, resources and description value written into env.sh (or used as a path) is plain."""
    software = cfg.software
    if not _LINE.fullmatch(cfg.site["description"]):
        raise ConfigError(f"{path}: 'site.description' must be one line of at most 300 characters")
    if not _VENV.fullmatch(software["venv"]) or ".." in software["venv"].split("/"):
        raise ConfigError(f"{path}: 'software.venv' = {software['venv']!r} is not allowed; expected a folder of the "
                          f"repository (letters, digits, _./-)")
    scratch = cfg.resources["scratch_dir"]
    if scratch and not _PATH.fullmatch(scratch):
        raise ConfigError(f"{path}: 'resources.scratch_dir' = {scratch!r} is not allowed; expected an absolute path "
                          f"without spaces")
    for key, pattern, expected in (
            ("modules", _MODULE, None),
            ("module_use", _PATH, "an absolute path without spaces"),
            ("binds", _BIND, "an absolute path (or SRC:DEST) without spaces or commas"),
            ("runtime_flags", _FLAG, "--name or --name=value without spaces, quotes or $")):
        for entry in software[key]:
            if not pattern.fullmatch(entry):
                raise ConfigError(f"{path}: 'software.{key}' entry {entry!r} is not a module name" if expected is None
                                  else f"{path}: 'software.{key}' entry {entry!r} is not allowed; expected {expected}")
    for section in ("env", "step_env"):
        for key, value in software[section].items():
            if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
                raise ConfigError(f"{path}: 'software.{section}' name {key!r} is not allowed; expected a variable name (letters, digits, _)")
            if isinstance(value, bool) or not isinstance(value, (str, int)) or not _ENV_VALUE.fullmatch(str(value)):
                raise ConfigError(f"{path}: 'software.{section}.{key}' = {value!r} is not allowed; expected a plain "
                                  f"value (letters, digits, _./:,=+@%-)")
    if software["mode"] == "container":
        pattern, what = _IMAGES[software["runtime"]]
        if not pattern.fullmatch(software["container"]):
            raise ConfigError(f"{path}: 'software.container' = {software['container']!r}: runtime "
                              f"{software['runtime']} needs {what}")
        if cfg.mpi["container_model"] == "none":
            raise ConfigError(f"{path}: 'mpi.container_model' must be hybrid or bind when software.mode is container")


def _check_files(cfg: Config, directory: Path) -> None:
    env_sh = directory / "env.sh"
    if not env_sh.is_file():
        raise ConfigError(f"{directory}: no env.sh (the job scripts source it); write it from site.yaml with "
                          f"'python -m xraymass.sites.launch {directory.name}'")
    if cfg.dask["cluster"] == "slurm":
        jobqueue = directory / cfg.dask["jobqueue"]
        if not jobqueue.is_file():
            raise ConfigError(f"{directory / 'site.yaml'}: 'dask.jobqueue' names {jobqueue}, which does not exist")
