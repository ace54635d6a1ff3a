"""A small synthetic `stamps/` group (docs/store.md) for the training tests, and a check of it.

Each cluster's images are Poisson draws of a beta-model-like blob whose brightness and size grow
with the label, so a network can learn the mass quickly and its loss falls clearly.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from xraymass.stamps.folds import assign_folds
from xraymass.store import consolidate, mark_complete, open_store, write_array

PER_CLUSTER = 24  # 3 projections x 8 dihedral transforms


def write_stamps_store(store_path: Path, n_clusters: int = 20, npix: int = 32, n_folds: int = 10,
                       seed: int = 1, folds: np.ndarray | None = None, bands: list | None = None) -> np.ndarray:
    """Write a complete, consolidated stamps group; return the per-cluster labels. `bands` ([[emin, emax], ...]
    keV): multi-band stamps [N, npix, npix, len(bands)], channel c holding a share of the counts."""
    rng = np.random.default_rng(seed)
    labels = np.sort(rng.uniform(13.6, 15.0, n_clusters))
    cluster_fold = assign_folds(labels, n_folds) if folds is None else np.asarray(folds, np.int8)
    yy, xx = np.mgrid[:npix, :npix] - (npix - 1) / 2
    r2 = xx**2 + yy**2
    images = np.empty((n_clusters * PER_CLUSTER, npix, npix), np.int32)
    for c, label in enumerate(labels):
        core = npix * (0.05 + 0.08 * (label - 13.6))
        peak = 2.0 * 10 ** (1.2 * (label - 13.6))
        for i in range(PER_CLUSTER):
            shift = rng.integers(-1, 2, size=2)
            rr = (xx - shift[0]) ** 2 + (yy - shift[1]) ** 2 if i % 3 else r2
            images[c * PER_CLUSTER + i] = rng.poisson(peak / (1 + rr / core**2) ** 1.5 + 0.2)
    n = len(images)
    if bands:
        shares = np.linspace(1.0, 2.0, len(bands)) / np.linspace(1.0, 2.0, len(bands)).sum()
        images = np.stack([rng.binomial(images, share) for share in shares], axis=-1).astype(np.int32)
    root = open_store(store_path, "a")
    stamps = root.create_group("stamps", overwrite=True)
    write_array(stamps, "images", images, per_chunk=True, chunks=(PER_CLUSTER, *images.shape[1:]))
    columns = {"log_m500c": np.repeat(labels, PER_CLUSTER).astype(np.float32),
               "halo_id": np.repeat(np.arange(n_clusters) * 7 + 3, PER_CLUSTER).astype(np.int64),
               "projection": np.tile(np.repeat(np.arange(3), 8), n_clusters).astype(np.int8),
               "augmentation": np.tile(np.arange(8), 3 * n_clusters).astype(np.int8),
               "fold": np.repeat(cluster_fold, PER_CLUSTER).astype(np.int8)}
    for name, values in columns.items():
        write_array(stamps, name, values, chunks=(n,))
    write_array(stamps, "cluster_done", np.ones(n_clusters, bool), chunks=(n_clusters,))
    stamps.attrs.update({"n_folds": n_folds, "emin_kev": 0.5, "emax_kev": 7.0, "npix": npix, "fov_arcmin": 20.0})
    if bands:
        stamps.attrs["bands"] = [list(map(float, b)) for b in bands]
    mark_complete(stamps)
    consolidate(store_path)
    return labels


def test_synthetic_stamps_follow_the_schema(tmp_path):
    labels = write_stamps_store(tmp_path / "store.zarr", n_clusters=10, npix=16)
    stamps = open_store(tmp_path / "store.zarr")["stamps"]
    assert stamps["images"].shape == (240, 16, 16) and stamps["images"].chunks == (24, 16, 16)
    assert stamps["images"].dtype == np.int32 and stamps.attrs["complete"] is True
    counts = np.asarray(stamps["images"][:]).reshape(10, -1).sum(axis=1)
    assert np.all(np.diff(counts) > 0) and np.all(np.diff(labels) > 0)  # brighter with mass
    assert sorted(set(np.asarray(stamps["fold"][:]).tolist())) == list(range(10))
