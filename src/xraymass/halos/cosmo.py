"""The halos' cosmology (colossus) and the unit constants of the halo stage.

Constants in CGS: IAU 2015 nominal solar mass, IAU parsec, CODATA 2018 proton mass and Boltzmann
constant (the values astropy 8 uses), so that no module of this stage imports astropy at start-up.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

MSUN_G = 1.988409870698051e33
KPC_CM = 3.085677581491367e21
M_P_G = 1.67262192369e-24
K_B_ERG = 1.380649e-16
KEV_ERG = 1.602176634e-9
KEV_K = KEV_ERG / K_B_ERG
G_KPC_KMS2_MSUN = 4.300917270069976e-6  # G in kpc (km/s)^2 / Msun
MSUN_KPC3_G_CM3 = MSUN_G / KPC_CM**3
X_H = 0.76  # hydrogen mass fraction (primordial, as TNG and yt's "ionized" species fields)
MU_IONISED = 4.0 / (3.0 + 5.0 * X_H)  # mean molecular weight of fully ionised H + He, 0.588


@lru_cache(maxsize=4)
def cosmology(name: str):
    """The colossus cosmology `name` (e.g. 'planck15'), without writing a cache to the home directory."""
    from colossus.cosmology import cosmology as colossus_cosmology

    return colossus_cosmology.setCosmology(name, persistence="")


def describe(name: str) -> dict[str, Any]:
    """The parameters stored beside the catalogue (attrs['cosmology'])."""
    c = cosmology(name)
    return {"name": name, "H0": float(c.H0), "Om0": float(c.Om0), "Ob0": float(c.Ob0), "Ode0": float(c.Ode0),
            "sigma8": float(c.sigma8), "ns": float(c.ns), "library": "colossus"}


def rho_crit_msun_kpc3(name: str, z: float) -> float:
    """Critical density at redshift z in Msun per physical kpc^3."""
    c = cosmology(name)
    return float(c.rho_c(z)) * c.h**2


def r500c_kpc(m500c_msun: np.ndarray | float, z: float, name: str) -> np.ndarray:
    """R500c in physical kpc: M500c = (4 pi / 3) 500 rho_c(z) R500c^3."""
    rho = rho_crit_msun_kpc3(name, z)
    return np.cbrt(3.0 * np.asarray(m500c_msun, float) / (4.0 * np.pi * 500.0 * rho))
