"""The halo population a run asks for: one object for the settings every halo shares.

The seed (`run.seed`), the mass range (`halos.log_m500c_min`, `halos.log_m500c_max`), the redshift
(`halos.redshift`) and the cosmology (`cosmology.name`) travel together as a `Population`; the
synthetic model (`synthetic.Model`, the `synthetic` section) draws from it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass(frozen=True)
class Population:
    """The settings shared by every halo of a run.

    Parameters
    ----------
    seed : int
        Global seed (`run.seed`); every random stream derives from (seed, halo id, stream).
    log_m500c_min, log_m500c_max : float
        Mass range, log10(M500c / Msun).
    redshift : float
        Redshift of the clusters.
    cosmology : str
        colossus cosmology name (`cosmology.name`), e.g. ``planck15``.
    """

    seed: int
    log_m500c_min: float
    log_m500c_max: float
    redshift: float
    cosmology: str

    @classmethod
    def from_config(cls, cfg) -> "Population":
        """The population of a validated science config (xraymass.config.Config)."""
        halos = cfg.halos
        return cls(cfg.run["seed"], halos["log_m500c_min"], halos["log_m500c_max"], halos["redshift"],
                   cfg.cosmology["name"])

    def masses(self, model, halo_ids: np.ndarray) -> np.ndarray:
        """M500c (Msun) of each halo id, drawn by the synthetic `model` from the mass function."""
        return model.masses(self.seed, halo_ids, self.log_m500c_min, self.log_m500c_max, self.redshift,
                            self.cosmology)

    def properties(self, model, halo_id: int, m500c: float):
        """The global draws of one halo of mass `m500c` (Msun): synthetic.HaloProperties."""
        return model.properties(self.seed, halo_id, m500c, self.redshift, self.cosmology)

    def gas(self, model, halo_id: int, m500c: float) -> dict[str, np.ndarray]:
        """The gas particles of one halo of mass `m500c` (Msun), in the units of synthetic.GAS_FIELDS."""
        return model.gas(self.seed, halo_id, m500c, self.redshift, self.cosmology)

    def halos(self, model) -> Iterator[tuple[int, float, dict[str, np.ndarray]]]:
        """(halo_id, M500c in Msun, gas) of every halo of `model`, in halo order."""
        return model.population(self.seed, self.log_m500c_min, self.log_m500c_max, self.redshift, self.cosmology)
