"""Point-source masking of a stamp: find (or take) the sources, drop their events, refill their area.

The same function makes the masked stamps of `xraymass stamps` (config section `masking`) and of
`xraymass predict`, so that a network sees masked data in training exactly as it sees it in use.

The rule (docs/stamps.md, "Point-source masking"), on the in-band events of one projection inside
the stamp's field, gridded into square cells of about `cell_arcsec`:

1. Sources. `method: detect` finds them: a cell is a detection when the counts N in the 3x3 cells
   around it exceed the local background mu, scaled from the square annulus of cells 4 to 7 cells
   away (only cells inside the field count), with Poisson P(>= N | mu) < `detect_p`,
   N >= `detect_min_counts` and N >= `detect_min_ratio` * mu (the last keeps the smooth cluster
   core, bright but not peaked at the point-spread scale, unmasked). Touching detections are one
   source at their counts-weighted centroid, of radius `radius_arcsec`. `xraymass predict` may
   instead take a source list (CIAO wavdetect region or FITS source list, xraymass.predict.sources).
2. Mask. Each source owns the cells whose centres lie within its radius (a cell already owned by an
   earlier source stays with it); every event in an owned cell is dropped.
3. Fill. Each source's cells are refilled with a Poisson number of events of mean
   (mean counts per cell of the annulus r..annulus_factor*r around it, cells not owned by any
   source) x (cells it owns), placed uniformly in cells drawn uniformly among its own; the random
   stream is numpy's default_rng(seed). No annulus cell: mean 0 (the area stays empty).

Stamps are then binned from the remaining and the filled events by the same `bin_events` as the
unmasked stamps. Memory: one projection's in-band events and a cell grid (8 bytes per cell).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .binning import Field, bin_events

METHODS = ("none", "detect")
SOURCE_HALF = 1                       # detection box: (2*1+1)^2 = 3x3 cells
ANNULUS_INNER, ANNULUS_OUTER = 3, 7   # background: the square annulus between half-widths 3 and 7 cells


@dataclass(frozen=True)
class Sources:
    """Point sources in the events' pixel frame: centres x, y and radii r (pixels)."""

    x: np.ndarray
    y: np.ndarray
    r: np.ndarray

    @classmethod
    def empty(cls) -> "Sources":
        z = np.zeros(0, np.float64)
        return cls(z, z.copy(), z.copy())

    def __len__(self) -> int:
        return len(self.x)

    def as_rows(self) -> list[list[float]]:
        return [[float(a), float(b), float(c)] for a, b, c in zip(self.x, self.y, self.r)]


def cell_field(field: Field, pixel_arcsec: float, cell_arcsec: float) -> Field:
    """The stamp's field divided into square cells of about `cell_arcsec` (arcsec; pixel_arcsec: arcsec per
    event pixel): the same corner and width, round(width in arcsec / cell_arcsec) cells a side."""
    n = max(int(round(field.width * pixel_arcsec / cell_arcsec)), 2 * ANNULUS_OUTER + 1)
    return Field(field.x0, field.y0, field.width, n)


def box_sums(image: np.ndarray, half: int) -> np.ndarray:
    """Sum of `image` over the (2*half+1)^2 box centred on each element (zero outside), exactly, in int64."""
    n0, n1 = image.shape
    padded = np.zeros((n0 + 2 * half + 1, n1 + 2 * half + 1), np.int64)
    padded[half + 1:half + 1 + n0, half + 1:half + 1 + n1] = image
    s = padded.cumsum(0).cumsum(1)
    w = 2 * half + 1
    return s[w:, w:] - s[:-w, w:] - s[w:, :-w] + s[:-w, :-w]


def detect_sources(cells: np.ndarray, grid: Field, radius_pix: float, detect_p: float, detect_min_counts: int,
                   detect_min_ratio: float) -> Sources:
    """Point sources in a cell image (counts [n, n] on `grid`) by the rule of the module docstring."""
    from scipy import ndimage
    from scipy.stats import poisson

    n_src = box_sums(cells, SOURCE_HALF)
    n_ann = box_sums(cells, ANNULUS_OUTER) - box_sums(cells, ANNULUS_INNER)
    inside = np.ones_like(cells, dtype=np.int64)
    area_src = box_sums(inside, SOURCE_HALF)
    area_ann = box_sums(inside, ANNULUS_OUTER) - box_sums(inside, ANNULUS_INNER)
    mu = (n_ann + 0.5) * area_src / area_ann  # +0.5: an empty annulus is not a background of zero
    candidate = (n_src >= detect_min_counts) & (n_src >= detect_min_ratio * mu)
    detected = np.zeros_like(candidate)
    rows, cols = np.nonzero(candidate)
    if len(rows):
        p = poisson.sf(n_src[rows, cols] - 1, mu[rows, cols])
        keep = p < detect_p
        detected[rows[keep], cols[keep]] = True
    labels, n = ndimage.label(detected, structure=np.ones((3, 3), bool))
    if n == 0:
        return Sources.empty()
    index = np.arange(1, n + 1)
    weights = cells.astype(np.float64) + 1e-9  # a detection of an empty cell (impossible above) still has a centre
    cy, cx = (np.asarray(c) for c in zip(*ndimage.center_of_mass(weights, labels, index)))
    x = grid.x0 + (cx + 0.5) * grid.pixel
    y = grid.y0 + (cy + 0.5) * grid.pixel
    return Sources(x, y, np.full(n, float(radius_pix)))


def mask_and_fill(x: np.ndarray, y: np.ndarray, cells: np.ndarray, grid: Field, sources: Sources,
                  annulus_factor: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the in-band events with the sources' cells emptied and refilled (module docstring, steps 2-3)."""
    n = grid.npix
    owner = np.full((n, n), -1, np.int64)
    centres = grid.x0 + (np.arange(n) + 0.5) * grid.pixel
    windows = []
    for s in range(len(sources)):
        window = _window(centres, grid, sources.x[s], sources.y[s], annulus_factor * sources.r[s])
        windows.append(window)
        rows, cols, d2 = window
        mine = (d2 <= sources.r[s] ** 2) & (owner[rows, cols] == -1)
        owner[rows[mine], cols[mine]] = s
    if not len(sources):
        return x, y
    i = np.floor((x - grid.x0) / grid.pixel).astype(np.int64).clip(0, n - 1)
    j = np.floor((y - grid.y0) / grid.pixel).astype(np.int64).clip(0, n - 1)
    keep = owner[j, i] < 0
    new_x, new_y = [x[keep]], [y[keep]]
    for s, (rows, cols, d2) in enumerate(windows):
        own = owner[rows, cols] == s
        ring = (d2 > sources.r[s] ** 2) & (owner[rows, cols] == -1)
        level = cells[rows[ring], cols[ring]].mean() if ring.any() else 0.0
        k = rng.poisson(level * own.sum())
        if k == 0 or not own.any():
            continue
        pick = rng.integers(0, own.sum(), k)
        new_x.append(grid.x0 + (cols[own][pick] + rng.random(k)) * grid.pixel)
        new_y.append(grid.y0 + (rows[own][pick] + rng.random(k)) * grid.pixel)
    return np.concatenate(new_x), np.concatenate(new_y)


def _window(centres: np.ndarray, grid: Field, xs: float, ys: float, radius: float):
    """Rows, columns and squared distances (pixels^2) of the cells whose centres lie within `radius` of (xs, ys)."""
    lo_i, hi_i = np.searchsorted(centres, [xs - radius, xs + radius])
    lo_j, hi_j = np.searchsorted(centres, [ys - radius, ys + radius])
    rows, cols = np.mgrid[lo_j:hi_j, lo_i:hi_i]
    rows, cols = rows.ravel(), cols.ravel()
    d2 = (centres[cols] - xs) ** 2 + (centres[rows] - ys) ** 2
    near = d2 <= radius ** 2
    return rows[near], cols[near], d2[near]


def masked_image(x, y, energy, field: Field, emin_kev: float, emax_kev: float, pixel_arcsec: float,
                 masking: dict[str, Any], seed, sources: Sources | None = None) -> tuple[np.ndarray, Sources]:
    """The counts image [npix, npix] (int64) of one projection's events with point sources masked.

    Parameters
    ----------
    x, y : array
        Event positions in pixels of `pixel_arcsec` arcsec (the frame of `field`).
    energy : array
        Event energies in keV; the band emin_kev..emax_kev (inclusive) is kept, as `bin_events` does.
    field : Field
        The stamp's field.
    pixel_arcsec : float
        Size of one event pixel in arcsec.
    masking : dict
        The config section `masking` (method, cell_arcsec, radius_arcsec, detect_p, detect_min_counts,
        detect_min_ratio, annulus_factor).
    seed : int or sequence of int
        Seed of the fill's random stream (numpy SeedSequence entropy).
    sources : Sources, optional
        Sources to mask instead of detecting them (positions and radii in pixels).

    Returns
    -------
    (image, sources): the stamp and the sources masked.
    """
    x, y, energy = (np.asarray(a, np.float64) for a in (x, y, energy))
    in_band = (energy >= emin_kev) & (energy <= emax_kev)
    x, y = x[in_band], y[in_band]
    grid = cell_field(field, pixel_arcsec, masking["cell_arcsec"])
    band_mid = np.full(len(x), 0.5 * (emin_kev + emax_kev))
    cells = bin_events(x, y, band_mid, grid, emin_kev, emax_kev)
    if sources is None:
        if masking["method"] == "none":
            return bin_events(x, y, band_mid, field, emin_kev, emax_kev), Sources.empty()
        sources = detect_sources(cells, grid, masking["radius_arcsec"] / pixel_arcsec, masking["detect_p"],
                                 masking["detect_min_counts"], masking["detect_min_ratio"])
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    mx, my = mask_and_fill(x, y, cells, grid, sources, masking["annulus_factor"], rng)
    return bin_events(mx, my, np.full(len(mx), 0.5 * (emin_kev + emax_kev)), field, emin_kev, emax_kev), sources


def masked_projections(x, y, energy, offsets: list[int], field: Field, emin_kev: float, emax_kev: float,
                       pixel_arcsec: float, masking: dict[str, Any], seeds: list) -> np.ndarray:
    """One masked image per projection ([P, npix, npix] int64); rows offsets[p]:offsets[p+1] are projection p,
    read in order (each projection whole), the fill of projection p seeded by seeds[p]."""
    images = np.zeros((len(offsets) - 1, field.npix, field.npix), np.int64)
    for p in range(len(offsets) - 1):
        rows = slice(offsets[p], offsets[p + 1])
        images[p], _ = masked_image(x[rows], y[rows], energy[rows], field, emin_kev, emax_kev, pixel_arcsec,
                                    masking, seeds[p])
    return images


def fill_seed(run_seed: int, halo_id: int, projection: int) -> list[int]:
    """The fill's seed for one halo and projection in `xraymass stamps`: (run.seed, halo id, projection, 4)."""
    return [int(run_seed), int(halo_id), int(projection), 4]
