"""A small store for the stamps tests: a complete halo catalogue and event lists, written through the
production writers (tests/builders.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

import builders
from xraymass.store import open_store

PROJECTIONS = ["x", "y", "z"]
FOV_ARCMIN = 20.0
PIXEL_ARCSEC = 0.5
NPIX_DET = int(FOV_ARCMIN * 60 / PIXEL_ARCSEC)  # 2400 detector pixels: one stamp pixel is 18.75 of them


def make_events(rng: np.random.Generator, n_cluster: int, n_background: int, centre, core_pix: float):
    """A cluster (a Gaussian blob, off-round so every transform differs) on a flat background,
    with some events exactly on the edges of the 128 stamp pixels and of the 0.5-7 keV band."""
    xc = rng.normal(centre[0], core_pix, n_cluster)
    yc = rng.normal(centre[1], 0.6 * core_pix, n_cluster)
    xb = rng.uniform(0, NPIX_DET, n_background)
    yb = rng.uniform(0, NPIX_DET, n_background)
    x = np.clip(np.concatenate([xc, xb]), 0, np.nextafter(NPIX_DET, 0)).astype(np.float32)
    y = np.clip(np.concatenate([yc, yb]), 0, np.nextafter(NPIX_DET, 0)).astype(np.float32)
    energy = rng.uniform(0.1, 10.0, len(x)).astype(np.float32)
    edges = np.float32(centre[0] - NPIX_DET / 2) + np.arange(128, dtype=np.float32) * np.float32(18.75)
    x[: len(edges)] = edges
    y[len(edges): 2 * len(edges)] = edges
    energy[:4] = [0.5, 7.0, np.nextafter(np.float32(0.5), 0), np.nextafter(np.float32(7.0), 8)]
    return x, y, energy


def build_event_store(path: Path, n_halos: int = 6, events_per_projection: int = 3000, seed: int = 5,
                      skip_events: tuple[int, ...] = ()) -> dict:
    """Write a complete catalogue of n_halos and the events of every halo not in skip_events.

    Returns {"halo_id", "log_m500c", "events": {halo_id: [(x, y, energy) per projection]}, "centre"}.
    """
    rng = np.random.default_rng(seed)
    root = open_store(path, "a")
    halo_id = np.arange(n_halos, dtype=np.int64) * 7 + 3  # not 0..N-1: ids and rows must not be confused
    log_m500c = rng.uniform(13.57, 15.06, n_halos)
    log_m500c = builders.catalogue(root, halo_id, log_m500c, centre=rng.uniform(0, 1e5, (n_halos, 3)))
    centre = [NPIX_DET / 2 + 3.25, NPIX_DET / 2 - 5.5]
    events = {}
    for hid, logm in zip(halo_id, log_m500c):
        per_projection = []
        for _ in PROJECTIONS:
            n_cluster = int(events_per_projection * 0.7)
            per_projection.append(make_events(rng, n_cluster, events_per_projection - n_cluster, centre,
                                              core_pix=40 * (1 + logm - 13.5)))
        events[int(hid)] = per_projection
        if hid not in skip_events:
            write_events(root, int(hid), per_projection, centre)
    return {"halo_id": halo_id, "log_m500c": log_m500c, "events": events, "centre": centre}


def write_events(root, halo_id: int, per_projection, centre) -> None:
    builders.events(root, halo_id, per_projection,
                    builders.event_attrs(halo_id, PROJECTIONS, pixel_arcsec=PIXEL_ARCSEC, fov_arcmin=FOV_ARCMIN,
                                         npix_det=NPIX_DET, centre_pix=centre, r500c_pix=600.0))
