"""`xraymass halos`: write the halo catalogue (`halos/` in the store, docs/store.md).

The synthetic source draws M500c from the mass function and each cluster's global properties; the TNG
source checks the group catalogue, selects FoF groups by Group_M_Crit500, then checks every snapshot chunk.
Everything is computed before the store is touched; the group is marked complete last. A rerun with a
complete catalogue does nothing. The gas itself is not stored: `xraymass.halos.load_gas` makes it.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STAGE = "halos"


@dataclass
class Catalogue:
    halo_id: np.ndarray
    m500c: np.ndarray
    r500c: np.ndarray
    centre: np.ndarray
    n_gas: np.ndarray
    attrs: dict[str, Any]
    extra: dict[str, np.ndarray] = field(default_factory=dict)


def run(cfg, args) -> int:
    from ..context import get_context

    ctx = get_context()
    if not ctx.is_root:
        return 0
    if catalogue_complete(cfg):
        check_catalogue_settings(cfg, "halos")
        print(f"[{STAGE}] {cfg.store_path}/halos is complete; nothing to do", file=sys.stderr)
        return 0
    catalogue = build_catalogue(cfg)
    write_catalogue(cfg, catalogue, ranks=ctx.size)
    print(f"[{STAGE}] {len(catalogue.halo_id)} halos ({catalogue.attrs['source']}) written to "
          f"{cfg.store_path}/halos", file=sys.stderr)
    return 0


def catalogue_complete(cfg) -> bool:
    from ..layout import catalogue_complete
    from ..store import open_store

    if not (cfg.store_path / "zarr.json").is_file():
        return False
    return catalogue_complete(open_store(cfg.store_path, "r"))


def check_catalogue_settings(cfg, stage: str) -> None:
    """ConfigError naming the keys when the store's catalogue was made with other halo settings."""
    from ..layout import HALOS
    from ..store import check_settings, open_store
    from .config_schema import settings

    check_settings(open_store(cfg.store_path, "r")[HALOS], cfg, settings(cfg), f"{cfg.store_path}/{HALOS}", stage)


def check_outputs(root, store_path, run_dir) -> tuple[str, list[str]]:
    """For `xraymass check`: (summary, problems) of `halos/` and the stage's effective config."""
    from ..layout import HALOS
    from ..store import array_problems, config_problems, group_to_check

    group, where, problems = group_to_check(root, HALOS, store_path, "run `xraymass halos` again")
    if group is None:
        return "not run", []
    names = sorted(name for name, _ in group.arrays())
    problems += array_problems(group, names, where) + config_problems(run_dir, STAGE)
    return f"{group.attrs.get('n_halos', '?')} halos, {len(names)} arrays", problems


def build_catalogue(cfg) -> Catalogue:
    """The catalogue of the configured source; raises InputError before anything is written."""
    from . import cosmo

    catalogue = synthetic_catalogue(cfg) if cfg.halos["source"] == "synthetic" else tng_catalogue(cfg)
    catalogue.attrs.update({"redshift": cfg.halos["redshift"], "cosmology": cosmo.describe(cfg.cosmology["name"]),
                            "log_m500c_range": [cfg.halos["log_m500c_min"], cfg.halos["log_m500c_max"]]})
    return catalogue


def synthetic_catalogue(cfg) -> Catalogue:
    from ..progress import Progress
    from .population import Population
    from .synthetic import Model

    model, population = Model(**cfg.synthetic), Population.from_config(cfg)
    seed = population.seed
    ids = np.arange(model.n_halos, dtype=np.int64)
    m500c = population.masses(model, ids)
    bar = Progress(STAGE, len(ids))
    props = []
    for halo_id, m in zip(ids, m500c):
        props.append(population.properties(model, int(halo_id), float(m)))
        bar.update()
    bar.close()
    extra = {
        "kt_model_kev": np.array([p.t_x_kev for p in props]),
        "f_gas_model": np.array([p.f_gas for p in props]),
        "cool_core": np.array([p.cool_core for p in props]),
        "merger": np.array([p.merger for p in props]),
        "bright_clump": np.array([p.bright_clump for p in props]),
    }
    return Catalogue(ids, m500c, np.array([p.r500c for p in props]), np.zeros((len(ids), 3)),
                     np.full(len(ids), model.particles_per_halo, dtype=np.int64),
                     {"source": "synthetic", "seed": seed, "synthetic": cfg.synthetic.to_dict()}, extra)


def tng_catalogue(cfg) -> Catalogue:
    from ..errors import InputError
    from .tng import Snapshot

    snap = Snapshot.open(**cfg.tng)
    if abs(snap.redshift - cfg.halos["redshift"]) > 1e-3:
        raise InputError(f"{cfg.tng['base_path']} snapshot {cfg.tng['snapshot']} is at z = {snap.redshift:.4g}, "
                         f"halos.redshift = {cfg.halos['redshift']}; make them agree")
    snap.check_catalogue()
    groups = snap.groups(cfg.halos["log_m500c_min"], cfg.halos["log_m500c_max"])
    snap.check_snapshot()
    return Catalogue(groups["halo_id"], groups["m500c"], groups["r500c"], groups["centre"], groups["n_gas"],
                     {"source": "tng", "tng": cfg.tng.to_dict(), "hubble_param": snap.h, "scale_factor": snap.a,
                      "box_size_kpc": snap.box_kpc})


def write_catalogue(cfg, catalogue: Catalogue, ranks: int = 1) -> None:
    """Replace any incomplete `halos` group, write the arrays and attributes, mark complete, consolidate."""
    from ..provenance import provenance, write_effective_config
    from ..store import consolidate, open_store
    from .config_schema import settings

    write_catalogue_group(open_store(cfg.store_path, "a"), catalogue, provenance(STAGE, ranks, physics_data=None),
                          (cfg, settings(cfg)))
    consolidate(cfg.store_path)
    write_effective_config(cfg.run_dir, cfg, STAGE, ranks)


def write_catalogue_group(root, catalogue: Catalogue, provenance: dict[str, Any], settings=None):
    """The `halos` group of the store `root`: replaced whole, arrays with their records, attributes, the settings
    it was made with (`settings`: (cfg, sections) for store.record_settings, or None), `complete` last."""
    from ..layout import HALOS
    from ..store import mark_complete, record_settings, write_array

    group = root.create_group(HALOS, overwrite=True)
    arrays = {"halo_id": catalogue.halo_id, "m500c": catalogue.m500c, "log_m500c": np.log10(catalogue.m500c),
              "r500c": catalogue.r500c, "centre": catalogue.centre, "n_gas": catalogue.n_gas, **catalogue.extra}
    for name, data in arrays.items():
        data = np.ascontiguousarray(data)
        write_array(group, name, data, chunks=data.shape)
    if settings is not None:
        record_settings(group, *settings)
    group.attrs.update({**catalogue.attrs, "n_halos": int(len(catalogue.halo_id)), "provenance": provenance})
    mark_complete(group)
    return group
