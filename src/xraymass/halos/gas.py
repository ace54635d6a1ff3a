"""One halo's gas, regenerated (synthetic) or read (TNG), as numpy arrays or as a yt dataset for pyXSIM."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError, StoreError
from .cosmo import KPC_CM, MSUN_G

PTYPE = "gas"
MARGIN = 1.05  # the dataset's box reaches 5% beyond the farthest particle's smoothing sphere


def catalogue_row(cfg, halo_id: int) -> dict[str, Any]:
    """The catalogue entry of `halo_id` from the run's store (the halos stage must be complete)."""
    from ..layout import HALOS, catalogue_complete
    from ..store import open_store

    root = open_store(cfg.store_path, "r")
    if not catalogue_complete(root):
        raise StoreError(f"{cfg.store_path}/halos: the halo catalogue is missing or incomplete; "
                         "run `xraymass halos` first")
    group = root[HALOS]
    source = group.attrs.get("source")
    if source != cfg.halos["source"]:
        raise StoreError(f"{cfg.store_path}/halos: catalogue built from source '{source}', the config says "
                         f"halos.source = '{cfg.halos['source']}'; use a new run directory")
    ids = np.asarray(group["halo_id"][...])
    where = np.flatnonzero(ids == int(halo_id))
    if where.size == 0:
        raise InputError(f"halo id {halo_id} is not in the catalogue {cfg.store_path}/halos "
                         f"({ids.size} halos, ids {ids.min()}..{ids.max()})")
    i = int(where[0])
    return {"halo_id": int(halo_id), "m500c": float(group["m500c"][i]), "r500c": float(group["r500c"][i]),
            "centre": np.asarray(group["centre"][i], float), "redshift": float(group.attrs["redshift"]),
            "source": source}


def gas_arrays(cfg, halo_id: int, rows: tuple[int, int] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(gas, catalogue row): the halo's gas as numpy arrays in the units of synthetic.GAS_FIELDS.

    rows = (start, stop): only those cells of the halo, in its own order (a particle chunk of the mocks
    stage). TNG reads only them; the synthetic generator makes the whole halo (its temperatures are
    normalised over all particles) and keeps them.
    """
    row = catalogue_row(cfg, halo_id)
    if row["source"] == "synthetic":
        from .population import Population
        from .synthetic import Model

        from dataclasses import replace

        population = replace(Population.from_config(cfg), redshift=row["redshift"])  # the catalogue's redshift
        gas = population.gas(Model(**cfg.synthetic), row["halo_id"], row["m500c"])
        if rows is not None:
            gas = {name: values[rows[0]:rows[1]] for name, values in gas.items()}
        gas["position"] += row["centre"]
    else:
        from .tng import Snapshot

        snap = Snapshot.open(**cfg.tng)
        gas = snap.gas(row["halo_id"], row["centre"], rows=rows)
    return gas, row


def to_yt(gas: dict[str, np.ndarray], centre: np.ndarray, parameters: dict[str, Any] | None = None):
    """A yt particle dataset of particle type "gas" (SPH-like: density + smoothing_length) for pyXSIM."""
    import yt

    pos, hsml = gas["position"], gas["smoothing_length"]
    half = MARGIN * float(np.max(np.abs(pos - centre) + hsml[:, None]))
    bbox = np.column_stack([centre - half, centre + half])
    data = {(PTYPE, f"particle_position_{ax}"): (pos[:, i], "kpc") for i, ax in enumerate("xyz")}
    data.update({(PTYPE, f"particle_velocity_{ax}"): (gas["velocity"][:, i], "km/s") for i, ax in enumerate("xyz")})
    data.update({
        (PTYPE, "particle_mass"): (gas["mass"], "Msun"),
        (PTYPE, "density"): (gas["density"], "g/cm**3"),
        (PTYPE, "temperature"): (gas["temperature"], "K"),
        (PTYPE, "metallicity"): (gas["metallicity"], "Zsun"),
        (PTYPE, "smoothing_length"): (hsml, "kpc"),
        (PTYPE, "star_formation_rate"): (gas["star_formation_rate"], "Msun/yr"),
    })
    return yt.load_particles(data, length_unit=KPC_CM, mass_unit=MSUN_G, velocity_unit=1e5, bbox=bbox,
                             periodicity=(False, False, False), default_species_fields="ionized",
                             parameters={"centre_kpc": [float(c) for c in centre], **(parameters or {})},
                             dataset_name=f"halo_{(parameters or {}).get('halo_id', 'gas')}")


def load_gas(cfg, halo_id: int, rows: tuple[int, int] | None = None):
    """Gas of halo `halo_id` (cells rows[0]:rows[1] only, if given) as a yt dataset for pyXSIM's thermal models.

    Particle type "gas" (density + smoothing_length make it yt's SPH type, so ("gas", field) works for
    particle and derived fields alike). Fields and units:
      ("gas", "particle_position_x|y|z")   kpc, physical, the frame of the catalogue's `centre`
                                           (synthetic: centre (0, 0, 0); TNG: box coordinates,
                                           cells unwrapped to the periodic image nearest the centre)
      ("gas", "particle_velocity_x|y|z")   km/s
      ("gas", "particle_mass")             Msun
      ("gas", "density")                   g/cm^3
      ("gas", "temperature")               K
      ("gas", "metallicity")               Zsun
      ("gas", "smoothing_length")          kpc, 2 (3 m / 4 pi rho)^(1/3) as yt's Arepo frontend
      ("gas", "star_formation_rate")       Msun/yr, > 0 for star-forming gas (as TNG)
    and, from default_species_fields="ionized" (X_H = 0.76, fully ionised), ("gas", "H_nuclei_density"),
    ("gas", "El_number_density") and ("gas", "emission_measure") (cm^-3). ds.parameters holds
    "centre_kpc", "halo_id", "m500c" (Msun), "r500c" (kpc), "redshift" and "source".
    """
    gas, row = gas_arrays(cfg, halo_id, rows)
    params = {k: row[k] for k in ("halo_id", "m500c", "r500c", "redshift", "source")}
    if gas["mass"].size == 0:
        raise InputError(f"halo {halo_id} has no gas")
    return to_yt(gas, row["centre"], params)
