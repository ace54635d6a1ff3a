"""Stores for the tests, written through the production writers.

The numbers are the tests' own; the groups, arrays, records and `complete` markers are written by the
code the stages run: the halo catalogue by `xraymass.halos.stage.write_catalogue_group`, one halo's
events by `xraymass.mocks.stage.write_halo_events`, a fold's predictions by
`xraymass.train.outputs.write_fold_predictions`, and every name comes from `xraymass.layout`. A store
made here is therefore laid out exactly as docs/store.md says, and follows the writers when they change.
"""
from __future__ import annotations

import numpy as np

from xraymass import layout
from xraymass.halos.stage import Catalogue, write_catalogue_group
from xraymass.mocks.observe import HaloEvents
from xraymass.mocks.stage import write_halo_events
from xraymass.store import COMPLETE, open_store
from xraymass.train.data import FoldSplit
from xraymass.train.outputs import write_fold_predictions

TEST_PROVENANCE = {"stage": "test"}


def catalogue(root, halo_id, log_m500c, *, r500c=None, n_gas=1000, centre=None, **attrs) -> np.ndarray:
    """A complete halo catalogue of `halo_id` with masses 10**log_m500c (Msun); returns the stored log10(M500c).

    Parameters
    ----------
    root : zarr.Group
        The store (xraymass.store.open_store).
    halo_id, log_m500c : array_like
        Ids and log10(M500c / Msun) of the halos.
    r500c : array_like, optional
        R500c in kpc; default 800 kpc (M500c / 10^14.5 Msun)^(1/3).
    n_gas : int
        Gas cells per halo.
    centre : array_like, optional
        [n, 3] centres in kpc; default zeros.
    **attrs
        Group attributes beside the defaults (source synthetic, redshift 0, cosmology planck15).
    """
    halo_id = np.asarray(halo_id, dtype=np.int64)
    log_m500c = np.asarray(log_m500c, dtype=np.float64)
    n = len(halo_id)
    r500c = 800.0 * 10 ** ((log_m500c - 14.5) / 3) if r500c is None else np.asarray(r500c, dtype=np.float64)
    centre = np.zeros((n, 3)) if centre is None else np.asarray(centre, dtype=np.float64)
    made = Catalogue(halo_id, 10 ** log_m500c, r500c, centre, np.full(n, n_gas, dtype=np.int64),
                     {"source": "synthetic", "redshift": 0.0, "cosmology": "planck15", **attrs})
    return np.asarray(write_catalogue_group(root, made, TEST_PROVENANCE)["log_m500c"][...])


def event_attrs(halo_id: int, projections, *, pixel_arcsec: float, fov_arcmin: float, npix_det: int, centre_pix,
                r500c_pix: float, physics_data="test events", exposure_s: float = 1e5, redshift: float = 0.05,
                nh_1e22: float = 0.04) -> dict:
    """The attributes the mocks stage writes on one halo's events group (HaloObserver.halo_attrs).

    Parameters
    ----------
    pixel_arcsec : float
        Detector pixel, arcsec.
    fov_arcmin : float
        Side of the square field, arcmin.
    npix_det : int
        Detector pixels per side.
    centre_pix : sequence of float
        (x, y) of the cluster centre, detector pixels.
    r500c_pix : float
        R500c in detector pixels.
    exposure_s : float
        Exposure, s.
    nh_1e22 : float
        Galactic column, 10^22 cm^-2.
    """
    return {"halo_id": int(halo_id), "projections": list(projections), "exposure_s": exposure_s,
            "pixel_arcsec": pixel_arcsec, "fov_arcmin": fov_arcmin, "npix_det": npix_det,
            "centre_pix": [float(c) for c in centre_pix], "r500c_pix": r500c_pix,
            "r500c_arcmin": r500c_pix * pixel_arcsec / 60.0, "redshift": redshift, "nh_1e22": nh_1e22,
            "physics_data": physics_data, "provenance": TEST_PROVENANCE}


def events(root, halo_id: int, per_projection, attrs: dict) -> None:
    """One halo's complete event list: per_projection is [(x, y, energy) per projection], detector pixels and keV."""
    observed = HaloEvents(x=[np.asarray(p[0]) for p in per_projection], y=[np.asarray(p[1]) for p in per_projection],
                          energy=[np.asarray(p[2]) for p in per_projection], n_photons=0, n_cells=0)
    write_halo_events(root.require_group(layout.EVENTS), {"halo_id": int(halo_id)}, observed, attrs)


def fold_predictions(store_path, fold: int, table: dict[str, np.ndarray], *, n_folds: int = 10, kept_epoch: int = 42,
                     converged: bool = True, physics_data="test physics", complete: bool = True) -> None:
    """A fold's test predictions (columns of xraymass.train.outputs.PREDICTION_COLUMNS), as the train stage writes
    them but without updating the metadata index (as when other folds finish later); complete=False leaves the
    group as a writer killed before its marker would (`complete` false)."""
    validation = (fold + 1) % n_folds
    split = FoldSplit(fold, validation, tuple(k for k in range(n_folds) if k not in (fold, validation)),
                      np.array([]), np.array([]), np.array([]))
    parent = open_store(store_path, "r+").require_group(layout.PREDICTIONS)
    group = write_fold_predictions(parent, split, table, kept_epoch, converged,
                                   {"stage": "test", "physics_data": physics_data})
    if not complete:
        group.attrs[COMPLETE] = False
