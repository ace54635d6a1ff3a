"""Small stores for the analysis tests, written through the production writers (tests/builders.py):
constructed test-set predictions of ten folds, a halo catalogue with event lists whose core-excised counts
follow a known power law, stamps, and small trained-architecture models."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import builders
from xraymass import layout
from xraymass.store import consolidate, mark_complete, open_store, write_array

PER_CLUSTER = 24
PROJECTIONS = ["x", "y", "z"]
NPIX_DET = 2400          # 20' at 0.5"
PIXEL_ARCSEC = 0.5
INTERPRET_R500C_PIX = 900.0  # 12 stamp pixels of a 32-pixel stamp
R500C_PIX = 360.0        # 3': the cluster (out to 1.4 R500c) and the background annulus (1.5-2.5 R500c) fit the field


def cluster_masses(n_clusters: int, seed: int = 0) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).uniform(13.6, 15.1, n_clusters))


def cyclic_folds(n_clusters: int, n_folds: int = 10) -> np.ndarray:
    """Clusters ordered by mass and assigned cyclically, as the stamps stage does."""
    return np.arange(n_clusters) % n_folds


def constructed_predictions(n_clusters: int = 100, sigma: float = 0.05, mu: float = -0.02, seed: int = 1,
                            fold_sigma: dict[int, float] | None = None, subset_mu: float | None = None,
                            n_folds: int = 10) -> dict[str, np.ndarray]:
    """Per image: delta ~ N(mu, sigma) (per-fold sigma from fold_sigma; mu = subset_mu for 14.0 < log M < 14.5)."""
    rng = np.random.default_rng(seed)
    log_m = cluster_masses(n_clusters, seed)
    fold = np.repeat(cyclic_folds(n_clusters, n_folds), PER_CLUSTER)
    true = np.repeat(log_m, PER_CLUSTER)
    widths = np.array([(fold_sigma or {}).get(int(k), sigma) for k in fold])
    means = np.full(true.size, mu)
    if subset_mu is not None:
        means[(true > 14.0) & (true < 14.5)] = subset_mu
    return {"halo_id": np.repeat(np.arange(n_clusters, dtype=np.int64) * 5 + 2, PER_CLUSTER),
            "projection": np.tile(np.repeat(np.arange(3), 8), n_clusters).astype(np.int8),
            "augmentation": np.tile(np.arange(8), 3 * n_clusters).astype(np.int8),
            "log_m500c_true": true.astype(np.float32),
            "log_m500c_pred": (true + rng.normal(means, widths)).astype(np.float32),
            "fold": fold}


def write_predictions(store_path: Path, data: dict[str, np.ndarray], folds=None, complete: bool = True) -> None:
    """Write predictions/fold_KK for each fold in `folds` (default: every fold in the data), after consolidating
    the root as the stamps stage does before training: the consolidated snapshot then lists no predictions."""
    open_store(store_path, "a")
    consolidate(store_path)
    for k in sorted(set(data["fold"].tolist()) if folds is None else folds):
        rows = data["fold"] == k
        builders.fold_predictions(store_path, int(k), {name: data[name][rows] for name in
                                                       ("halo_id", "projection", "augmentation", "log_m500c_true",
                                                        "log_m500c_pred")}, complete=complete)


def write_halos(root, halo_id: np.ndarray, log_m500c: np.ndarray) -> np.ndarray:
    """A complete catalogue (builders.catalogue); returns the stored log10(M500c)."""
    return builders.catalogue(root, halo_id, log_m500c)


def power_law_events(rng, counts_in_annulus: float, background_per_arcmin2: float, core_counts: int):
    """One observation: a cluster whose 0.15-1 R500c annulus holds ~counts_in_annulus events in 0.5-7 keV
    (surface brightness ~ R^-2 from 0.15 to 1.4 R500c), a core (< 0.15 R500c) of core_counts events, a flat
    background, and out-of-band events that the proxy must ignore."""
    fraction_in_annulus = np.log(1.0 / 0.15) / np.log(1.4 / 0.15)
    n_cluster = rng.poisson(counts_in_annulus / fraction_in_annulus)
    r = R500C_PIX * 0.15 * (1.4 / 0.15) ** rng.uniform(0, 1, n_cluster)  # p(r) ~ 1/r: surface brightness ~ r^-2
    r_core = R500C_PIX * 0.15 * np.sqrt(rng.uniform(0, 1, core_counts))
    radius = np.concatenate([r, r_core])
    angle = rng.uniform(0, 2 * np.pi, radius.size)
    n_bkg = rng.poisson(background_per_arcmin2 * (NPIX_DET * PIXEL_ARCSEC / 60) ** 2)
    x = np.concatenate([NPIX_DET / 2 + radius * np.cos(angle), rng.uniform(0, NPIX_DET, n_bkg)])
    y = np.concatenate([NPIX_DET / 2 + radius * np.sin(angle), rng.uniform(0, NPIX_DET, n_bkg)])
    energy = rng.uniform(0.5, 7.0, x.size)
    n_out = x.size // 4
    out_x = NPIX_DET / 2 + 0.5 * R500C_PIX * np.ones(n_out)   # in the annulus, but out of band: ignored
    x, y = np.concatenate([x, out_x]), np.concatenate([y, np.full(n_out, NPIX_DET / 2)])
    energy = np.concatenate([energy, rng.uniform(7.5, 9.5, n_out)])
    return x.astype(np.float32), y.astype(np.float32), energy.astype(np.float32)


def write_events(root, halo_id: int, per_projection, r500c_pix: float = R500C_PIX) -> None:
    builders.events(root, halo_id, per_projection,
                    builders.event_attrs(halo_id, PROJECTIONS, pixel_arcsec=PIXEL_ARCSEC, fov_arcmin=20.0,
                                         npix_det=NPIX_DET, centre_pix=[NPIX_DET / 2, NPIX_DET / 2],
                                         r500c_pix=r500c_pix))


def build_baseline_store(store_path: Path, n_clusters: int = 40, a: float = 11.5, b: float = 0.6,
                         sigma: float = 0.08, background_per_arcmin2: float = 30.0, seed: int = 3) -> dict:
    """Clusters whose masses follow log10 M = a + b log10 C + N(0, sigma) at fixed annulus counts C.

    The same C is used for the three projections; the cores carry counts unrelated to mass.
    """
    rng = np.random.default_rng(seed)
    log_c = rng.uniform(3.2, 4.3, n_clusters)
    log_m = a + b * log_c + rng.normal(0.0, sigma, n_clusters)
    halo_id = np.arange(n_clusters, dtype=np.int64) * 3 + 1
    root = open_store(store_path, "a")
    log_m = write_halos(root, halo_id, log_m)
    for h, lc in zip(halo_id, log_c):
        write_events(root, int(h), [power_law_events(rng, 10 ** lc, background_per_arcmin2,
                                                     int(10 ** rng.uniform(2.5, 4.0))) for _ in PROJECTIONS])
    return {"halo_id": halo_id, "log_m500c": log_m, "log_counts": log_c}


def write_stamps(root, halo_id: np.ndarray, log_m: np.ndarray, fold: np.ndarray, npix: int = 32, seed: int = 4,
                 offset_pix: dict[int, tuple[float, float]] | None = None) -> np.ndarray:
    """Stamps of beta-model clusters (centre at npix/2, shifted for halos in offset_pix); returns the images."""
    rng = np.random.default_rng(seed)
    j, i = np.mgrid[0:npix, 0:npix] + 0.5
    images = np.empty((len(halo_id) * PER_CLUSTER, npix, npix), np.int32)
    for c, (h, m) in enumerate(zip(halo_id, log_m)):
        dx, dy = (offset_pix or {}).get(int(h), (0.0, 0.0))
        r2 = (i - npix / 2 - dx) ** 2 + (j - npix / 2 - dy) ** 2
        core = npix * (0.04 + 0.05 * (m - 13.6))
        image = rng.poisson(3.0 * 10 ** (1.2 * (m - 13.6)) / (1 + r2 / core**2) ** 1.5 + 0.3)
        images[c * PER_CLUSTER:(c + 1) * PER_CLUSTER] = image
    stamps = root.create_group("stamps", overwrite=True)
    write_array(stamps, "images", images, per_chunk=True, chunks=(PER_CLUSTER, npix, npix))
    for name, values, dtype in (("log_m500c", np.repeat(log_m, PER_CLUSTER), np.float32),
                                ("halo_id", np.repeat(halo_id, PER_CLUSTER), np.int64),
                                ("projection", np.tile(np.repeat(np.arange(3), 8), len(halo_id)), np.int8),
                                ("augmentation", np.tile(np.arange(8), 3 * len(halo_id)), np.int8),
                                ("fold", np.repeat(fold, PER_CLUSTER), np.int8)):
        write_array(stamps, name, values.astype(dtype))
    stamps.attrs.update(n_folds=int(fold.max()) + 1, emin_kev=0.5, emax_kev=7.0, npix=npix, fov_arcmin=20.0,
                        provenance={"stage": "test", "physics_data": "test stamps physics"})
    mark_complete(stamps)
    return images


def build_interpret_store(store_path: Path, run_dir: Path, n_clusters: int = 6, n_folds: int = 2, npix: int = 32,
                          offset_pix: dict[int, tuple[float, float]] | None = None) -> dict:
    """Stamps, event-list attributes (R500c) and one model of the paper's architecture per fold."""
    log_m = cluster_masses(n_clusters, seed=7)
    halo_id = np.arange(n_clusters, dtype=np.int64) * 11 + 5
    fold = cyclic_folds(n_clusters, n_folds)
    root = open_store(store_path, "a")
    log_m = write_halos(root, halo_id, log_m)
    images = write_stamps(root, halo_id, log_m, fold, npix, offset_pix=offset_pix)
    rng = np.random.default_rng(9)
    for h in halo_id:
        write_events(root, int(h), [(rng.uniform(0, NPIX_DET, 10).astype(np.float32),) * 2
                                    + (np.full(10, 1.0, np.float32),) for _ in PROJECTIONS], r500c_pix=INTERPRET_R500C_PIX)
    for k in range(n_folds):
        save_model(layout.model_path(run_dir, k), npix, seed=k)
    return {"halo_id": halo_id, "log_m500c": log_m, "fold": fold, "images": images}


def save_model(path: Path, npix: int, seed: int) -> None:
    """The training stage's architecture (xraymass.train.model), untrained but with a positive output bias."""
    import tensorflow as tf

    from xraymass.train.model import build_model

    tf.keras.utils.set_random_seed(seed)
    model = build_model(npix, filters=[16, 32, 64], kernel_size=3, pool_size=2, dense=[200, 100, 20], dropout=0.1,
                        padding="same", input_scaling="log1p", output_bias=14.3, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)


def build_full_store(store_path: Path, run_dir: Path, n_clusters: int = 20, npix: int = 32) -> dict:
    """Everything the three analysis stages read: halos and events (build_baseline_store), stamps of the
    same clusters, the predictions of all ten folds, and a model per fold."""
    truth = build_baseline_store(store_path, n_clusters=n_clusters, sigma=0.06)
    order = np.argsort(truth["log_m500c"])
    halo_id, log_m = truth["halo_id"][order], truth["log_m500c"][order]
    fold = cyclic_folds(n_clusters)
    write_stamps(open_store(store_path, "r+"), halo_id, log_m, fold, npix)
    predictions = constructed_predictions(n_clusters=n_clusters, sigma=0.03, mu=-0.01)
    predictions["halo_id"] = np.repeat(halo_id, PER_CLUSTER)
    predictions["log_m500c_true"] = np.repeat(log_m, PER_CLUSTER).astype(np.float32)
    predictions["log_m500c_pred"] = (predictions["log_m500c_true"]
                                     + np.random.default_rng(2).normal(-0.01, 0.03, n_clusters * PER_CLUSTER)
                                     ).astype(np.float32)
    write_predictions(store_path, predictions)
    for k in range(10):
        save_model(layout.model_path(run_dir, k), npix, seed=k)
    return truth
