"""`xraymass baseline`: a core-excised luminosity proxy from the same mock events, and its mass scatter.

Proxy: for each cluster and projection, the counts in `emin_kev`-`emax_kev` within r_inner_r500c-r_outer_r500c
R500c of `centre_pix` (the part of the annulus inside the detector field), minus the expected background.
All clusters share redshift, exposure and response, so counts are proportional to the core-excised
luminosity in that band, up to the temperature dependence of the count rate per unit luminosity.

Exposure map: SOXS dithers the pointing (a Lissajous pattern of DITHER_ARCSEC amplitude, its default, which
the mocks use), so a sky position within that distance of the field's edge is on the detector for only part
of the exposure. Its exposure fraction is f(x) f(y), with f(u) = G(u) - G(u - npix) and G(v) = 1/2 +
arcsin(clip(v / A, -1, 1)) / pi (A the amplitude in pixels): the time average of a sinusoidal offset. Every
area here is exposure-weighted (the integral of f over the region inside the field), for apertures and
background regions alike, so edges and corners count with the exposure they had.

The expected background is one surface density B for the whole run (same detector, exposure and sky):
the pooled counts over the pooled exposure-weighted area of the background annulus (bkg_r500c, in R500c) of
the observations where at least `bkg_min_area_arcmin2` of it lies inside the field. Where no observation has
that much (at the paper's scale R500c exceeds the field for most clusters), it is the smallest surface
density found in the field's corners (outside the inscribed circle) of any observation: the corners of the
faintest cluster, an upper bound on the true background. B is checked against the instrument's own
background rate in the same band: the background spectrum the mocks gave SOXS (particle background plus
foreground, counts s^-1 arcmin^-2 per channel) summed over the band through the RMF's channel energies
(SOXS draws an event's energy uniformly within its channel), times the exposure.

Power law: log10 M500c = a + b log10 C, a least-squares fit; delta = (a + b log10 C) - log10 M500c_true,
and its scatter is estimated exactly as the CNN's (xraymass.analysis.metrics: the MLE Gaussian, the
histogram fit beside it). With an R500c error e, the R500c that sets both aperture radii is multiplied by
(1 + e g), g ~ N(0, 1) drawn independently for each cluster and projection; the fit and scatter are repeated
for `n_realisations` draws and the median sigma is reported with the 16-84th percentile range of the draws.

CNN against L_X: on the clusters that have both CNN predictions and positive net counts at every level and
draw, the CNN's MLE sigma (all images) and each level's L_X MLE sigma (power law refitted on those clusters),
their ratio, and 95% intervals from resampling clusters (each resample also draws one aperture-error draw).
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config
from ..errors import InputError, StoreError
from ..progress import Progress
from ..provenance import write_effective_config
from ..layout import HALOS, catalogue_complete, events_group, group_complete
from ..store import open_store, verify_group, write_text_atomic
from . import figures
from .metrics import (ESTIMATOR_TEXT, HISTOGRAM_TEXT, bootstrap_text, cluster_sums, cluster_weights, dex_to_percent,
                      fit_gaussian, interval95, resampled_mle, with_bootstrap)
from .predictions import available_folds, load_predictions
from .report import results_dir, stage_provenance, write_part

APERTURE_STREAM = 7   # tags the aperture-error draws apart from other streams seeded by (run.seed, halo id, ...)
BOOTSTRAP_STREAM = 12
DITHER_ARCSEC = 8.0   # SOXS instrument_simulator's default dither amplitude in x and y (periods 1000 s, 707 s)
OBSERVATIONS_CSV = "baseline_observations.csv"


@dataclass
class Apertures:
    """Per observation (cluster x projection): the aperture and background measurements (areas exposure-weighted)."""

    halo_id: np.ndarray          # [n_obs]
    projection: np.ndarray       # [n_obs]
    log_m500c: np.ndarray        # [n_obs]
    r500c_arcmin: np.ndarray     # [n_obs] the R500c of the apertures (before any R500c-error draw)
    gross: list[np.ndarray]      # per R500c-error level: [n_obs, n_draws] counts in the annulus
    area: list[np.ndarray]       # per level: [n_obs, n_draws] exposure-weighted annulus area inside the field, arcmin^2
    geometric_area: np.ndarray   # [n_obs] level 0's annulus area inside the field without the exposure map, arcmin^2
    bkg_counts: np.ndarray       # [n_obs] counts in the background annulus inside the field
    bkg_area: np.ndarray         # [n_obs] its exposure-weighted area, arcmin^2
    corner_counts: np.ndarray    # [n_obs] counts in the field's corners (outside the inscribed circle)
    corner_area: np.ndarray      # [n_obs] their exposure-weighted area, arcmin^2
    exposure_s: float = float("nan")
    physics_data: object = None


def run(cfg: Config, args: argparse.Namespace | None = None) -> int:
    halos = read_halos(cfg.store_path)
    result = core_excised_baseline(cfg.store_path, halos, cfg.run["seed"], cfg.evaluate["fit_bin_width_dex"],
                                   **cfg.baseline)
    ap = result.pop("apertures")
    background = result["background"]
    background["instrument"] = instrument_background(cfg, ap.physics_data, *result["band_kev"], ap.exposure_s,
                                                     background["counts_per_arcmin2"])
    result["observations_csv"] = write_observations_csv(results_dir(cfg) / OBSERVATIONS_CSV, ap,
                                                        background["counts_per_arcmin2"])
    comparison = compare_with_cnn(cfg, ap, result)
    result["cnn_same_clusters"] = comparison["cnn"] if comparison else None
    result["cnn_vs_lx"] = comparison["cnn_vs_lx"] if comparison else None
    result["figures"] = figures.save(figures.draw_baseline_figure(*result.pop("plot")), results_dir(cfg), "baseline_lx_m")
    result["provenance"] = stage_provenance("baseline", ap.physics_data)
    write_part(cfg, "baseline", result)
    write_effective_config(cfg.run_dir, cfg, "baseline", physics_data=ap.physics_data)
    print_summary(result)
    return 0


def read_halos(store_path) -> dict[str, np.ndarray]:
    root = open_store(store_path)
    if not catalogue_complete(root):
        raise StoreError(f"{store_path}/{HALOS}: the halo catalogue is missing or not complete; run `xraymass halos`")
    group = root[HALOS]
    verify_group(group, f"{store_path}/{HALOS}")  # against the writer's records (xraymass.store)
    return {"halo_id": np.asarray(group["halo_id"][...]), "log_m500c": np.asarray(group["log_m500c"][...])}


def core_excised_baseline(store_path, halos: dict[str, np.ndarray], seed: int, fit_bin_width_dex: float,
                          r_inner_r500c: float, r_outer_r500c: float, emin_kev: float, emax_kev: float,
                          r500c_errors: list[float], n_realisations: int, bkg_r500c: list[float],
                          bkg_min_area_arcmin2: float, ratio_r500c_error: float = 0.03) -> dict:
    """The `baseline` section: measure every observation, the background, fit each R500c-error level.

    Returns the part's numbers plus, for the stage, `apertures` (the measurements) and `plot` (Figure data).
    """
    apertures = measure_apertures(store_path, halos, seed, r_inner_r500c, r_outer_r500c, emin_kev, emax_kev,
                                  r500c_errors, n_realisations, bkg_r500c)
    background = expected_background(apertures, bkg_min_area_arcmin2)
    result = fit_baseline(apertures, background, r500c_errors, fit_bin_width_dex)
    return {"band_kev": [emin_kev, emax_kev], "aperture_r500c": [r_inner_r500c, r_outer_r500c],
            "ratio_r500c_error": ratio_r500c_error, **result, "apertures": apertures}


def measure_apertures(store_path, halos: dict[str, np.ndarray], seed: int, r_inner_r500c: float,
                      r_outer_r500c: float, emin_kev: float, emax_kev: float, r500c_errors: list[float],
                      n_realisations: int, bkg_r500c: list[float]) -> Apertures:
    """Counts in the aperture (for every R500c-error draw) and in the background regions of every observation."""
    root = open_store(store_path)
    groups = _event_groups(store_path, root, halos["halo_id"])
    for halo_id, group in zip(halos["halo_id"], groups):  # against the writer's records (xraymass.store)
        verify_group(group, f"{store_path}/{events_group(halo_id)}")
    rows: list[dict] = []
    progress = Progress("baseline", len(groups), unit="halo")
    for halo_id, log_m, group in zip(halos["halo_id"], halos["log_m500c"], groups):
        for p in range(len(group.attrs["projections"])):
            factors = [_r500c_factors(seed, int(halo_id), p, i, err, n_realisations) for i, err in enumerate(r500c_errors)]
            rows.append(_measure_observation(group, p, factors, r_inner_r500c, r_outer_r500c, emin_kev, emax_kev,
                                             bkg_r500c) | {"halo_id": int(halo_id), "projection": p, "log_m500c": log_m})
        progress.update()
    progress.close()
    first = groups[0].attrs if groups else {}
    return Apertures(
        halo_id=np.array([r["halo_id"] for r in rows]), projection=np.array([r["projection"] for r in rows]),
        log_m500c=np.array([r["log_m500c"] for r in rows], dtype=np.float64),
        gross=[np.stack([r["gross"][i] for r in rows]) for i in range(len(r500c_errors))],
        area=[np.stack([r["area"][i] for r in rows]) for i in range(len(r500c_errors))],
        **{key: np.array([r[key] for r in rows], dtype=np.float64)
           for key in ("r500c_arcmin", "geometric_area", "bkg_counts", "bkg_area", "corner_counts", "corner_area")},
        exposure_s=float(first.get("exposure_s", float("nan"))), physics_data=first.get("physics_data"))


def _event_groups(store_path, root, halo_ids: np.ndarray) -> list:
    groups, missing = [], []
    for halo_id in halo_ids:
        name = events_group(halo_id)
        if group_complete(root, name):
            groups.append(root[name])
        else:
            missing.append(name)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(f"{store_path}: {len(missing)} of {len(halo_ids)} halos have no complete event list "
                         f"({shown}); run `xraymass mocks`")
    return groups


def _r500c_factors(seed: int, halo_id: int, projection: int, level: int, error: float, n: int) -> np.ndarray:
    """Multipliers (1 + error g) of R500c for one observation; one exact draw when error is 0."""
    if error == 0:
        return np.ones(1)
    rng = np.random.default_rng([seed, halo_id, projection, level, APERTURE_STREAM])
    return np.clip(1.0 + error * rng.standard_normal(n), 0.05, None)  # a radius stays positive at any error


def _measure_observation(group, p: int, factors: list[np.ndarray], r_in: float, r_out: float, emin: float,
                         emax: float, bkg_r500c: list[float]) -> dict:
    attrs = group.attrs
    lo, hi = attrs["offsets"][p], attrs["offsets"][p + 1]
    energy = np.asarray(group["energy"][lo:hi])
    keep = (energy >= emin) & (energy <= emax)  # inclusive, as the stamps' band
    x = np.asarray(group["x"][lo:hi])[keep].astype(np.float64)
    y = np.asarray(group["y"][lo:hi])[keep].astype(np.float64)
    npix = float(attrs["npix_det"])
    arcmin2 = (attrs["pixel_arcsec"] / 60.0) ** 2
    exposure = ExposureMap(npix, DITHER_ARCSEC / float(attrs["pixel_arcsec"]))
    centre = np.asarray(attrs["centre_pix"], dtype=np.float64).reshape(-1, 2)
    cx, cy = centre[p] if len(centre) > 1 else centre[0]
    r500 = float(attrs["r500c_pix"])
    radius = np.sort(np.hypot(x - cx, y - cy))

    def within(r: np.ndarray) -> np.ndarray:
        return np.searchsorted(radius, r, side="left").astype(np.float64)

    def annulus_area(inner, outer, weighted: bool = True) -> np.ndarray:
        area = exposure.disk_area if weighted else (lambda a, b, r: disk_area_in_field(a, b, r, npix))
        return (area(cx, cy, np.atleast_1d(outer)) - area(cx, cy, np.atleast_1d(inner))) * arcmin2

    gross, area = [], []
    for f in factors:
        inner, outer = r_in * r500 * f, r_out * r500 * f
        gross.append(within(outer) - within(inner))
        area.append(annulus_area(inner, outer))
    b_in, b_out = np.array(bkg_r500c) * r500
    corner = np.hypot(x - npix / 2, y - npix / 2) >= npix / 2
    corner_area = (exposure.field_area() - exposure.disk_area(npix / 2, npix / 2, np.array([npix / 2]))[0]) * arcmin2
    return {"gross": gross, "area": area, "r500c_arcmin": r500 * attrs["pixel_arcsec"] / 60.0,
            "geometric_area": float(annulus_area(r_in * r500, r_out * r500, weighted=False)[0]),
            "bkg_counts": float(within(np.array([b_out]))[0] - within(np.array([b_in]))[0]),
            "bkg_area": float(annulus_area(b_in, b_out)[0]), "corner_counts": float(np.count_nonzero(corner)),
            "corner_area": float(corner_area)}


class ExposureMap:
    """The dithered field's exposure fraction f(x) f(y) over the square [0, npix]^2 (see the module docstring).

    amplitude_pix: the dither amplitude in detector pixels (0: no dither, f = 1 inside the field).
    """

    TABLE_STEP_PIX = 0.125  # f and F are tabulated once and interpolated (the closed forms are ~4x slower per call)

    def __init__(self, npix: float, amplitude_pix: float):
        self.npix, self.amp = float(npix), float(amplitude_pix)
        self._grid = np.linspace(0.0, self.npix, int(np.ceil(self.npix / self.TABLE_STEP_PIX)) + 1)
        self._f = self.fraction_exact(self._grid)
        self._F = self.cumulative_exact(self._grid)

    def fraction(self, u: np.ndarray) -> np.ndarray:
        """f(u) inside the field [0, npix] (tabulated; 0 outside): the fraction of the exposure during which
        coordinate u (pixels) is on the detector."""
        return np.interp(np.asarray(u, dtype=np.float64), self._grid, self._f, left=0.0, right=0.0)

    def cumulative(self, u: np.ndarray) -> np.ndarray:
        """F(u) = integral of f from 0 to u (pixels), u clipped to the field (tabulated)."""
        return np.interp(np.asarray(u, dtype=np.float64), self._grid, self._F)

    def fraction_exact(self, u: np.ndarray) -> np.ndarray:
        """f(u) = G(u) - G(u - npix) in closed form."""
        u = np.asarray(u, dtype=np.float64)
        if self.amp <= 0:
            return ((u >= 0) & (u <= self.npix)).astype(np.float64)  # the field's closed edges count in full
        return self._g(u) - self._g(u - self.npix)

    def cumulative_exact(self, u: np.ndarray) -> np.ndarray:
        """F(u) in closed form, u clipped to the field."""
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, self.npix)
        return self._g_int(u) - self._g_int(np.zeros_like(u)) - self._g_int(u - self.npix) + self._g_int(
            np.full_like(u, -self.npix))

    def field_area(self) -> float:
        """Exposure-weighted area of the whole field, pixels^2."""
        return float(self.cumulative(np.array([self.npix]))[0] ** 2)

    def disk_area(self, cx: float, cy: float, radii: np.ndarray, samples: int = 2001) -> np.ndarray:
        """Exposure-weighted area (pixels^2) of the disks of `radii` about (cx, cy) inside the field:
        the integral over x of f(x) [F(cy + h) - F(cy - h)], h the half chord (trapezoid rule, all radii at once)."""
        radii = np.atleast_1d(np.asarray(radii, dtype=np.float64))
        x0 = np.clip(cx - radii, 0.0, self.npix)
        x1 = np.clip(cx + radii, 0.0, self.npix)
        x = x0[:, None] + (x1 - x0)[:, None] * np.linspace(0.0, 1.0, samples)[None, :]
        h = np.sqrt(np.clip(radii[:, None] ** 2 - (x - cx) ** 2, 0.0, None))
        chord = self.cumulative(cy + h) - self.cumulative(cy - h)
        return np.trapezoid(self.fraction(x) * chord, x, axis=1)

    def _g(self, v) -> np.ndarray:
        """P(offset <= v) for offset = A sin(phase), phase uniform."""
        v = np.asarray(v, dtype=np.float64)
        if self.amp <= 0:
            return (v >= 0).astype(np.float64)
        return 0.5 + np.arcsin(np.clip(v / self.amp, -1.0, 1.0)) / np.pi

    def _g_int(self, v) -> np.ndarray:
        """Integral of G from -infinity to v (G is 0 below -A)."""
        v = np.asarray(v, dtype=np.float64)
        a = self.amp
        if a <= 0:
            return np.clip(v, 0.0, None)
        inside = np.clip(v, -a, a)
        core = 0.5 * (inside + a) + (inside * np.arcsin(inside / a) + np.sqrt(np.clip(a * a - inside**2, 0.0, None))
                                     - a * np.pi / 2) / np.pi
        return np.where(v <= -a, 0.0, np.where(v >= a, v, core))


def disk_area_in_field(cx: float, cy: float, radii: np.ndarray, npix: float, samples: int = 2001) -> np.ndarray:
    """Geometric area (pixels^2) of the disks of `radii` about (cx, cy) inside the square field [0, npix]^2."""
    return ExposureMap(npix, 0.0).disk_area(cx, cy, radii, samples)


def expected_background(ap: Apertures, bkg_min_area_arcmin2: float) -> dict:
    """One background surface density (counts/arcmin^2) for the run; see the module docstring."""
    usable = ap.bkg_area >= bkg_min_area_arcmin2
    if np.any(usable):
        density = float(ap.bkg_counts[usable].sum() / ap.bkg_area[usable].sum())
        method = (f"pooled background annulus of {int(usable.sum())} observations (counts over exposure-weighted "
                  "area)")
    else:
        density = float(np.min(ap.corner_counts / ap.corner_area))
        method = "faintest field corners, exposure-weighted (no background annulus inside the field; an upper bound)"
    return {"counts_per_arcmin2": density, "method": method, "dither_arcsec": DITHER_ARCSEC}


def instrument_background(cfg: Config, physics_data, emin_kev: float, emax_kev: float, exposure_s: float,
                          measured: float) -> dict:
    """The instrument's background in the band (counts/arcmin^2 over the exposure) from the background spectrum
    and RMF the mocks used (found by the sha256 the events recorded), beside the measured one."""
    from ..mocks.physics import in_run_dir

    record = physics_data if isinstance(physics_data, dict) else {}
    spectrum, rmf = record.get("background_spectrum"), record.get("rmf")
    if not spectrum or not rmf:
        return {"status": "unchecked: the events record no background spectrum or RMF (backgrounds off, or "
                          "events written without physics data)"}
    cache = in_run_dir(cfg.physics["cache_dir"] or "physics", cfg.run_dir)
    spectrum_path = _find_by_sha256(spectrum, [cache])
    rmf_path = _find_by_sha256(rmf, [cache, *_configured(cfg.physics["rmf"], cfg.run_dir), *_soxs_dirs()])
    if spectrum_path is None or rmf_path is None:
        missing = spectrum["file"] if spectrum_path is None else rmf["file"]
        return {"status": f"unchecked: {missing} (sha256 {(spectrum if spectrum_path is None else rmf)['sha256'][:12]}) "
                          f"not found in {cache}"}
    rate = background_rate_in_band(spectrum_path, rmf_path, emin_kev, emax_kev)
    expected = rate * exposure_s
    out = {"status": "checked", "counts_per_arcmin2": expected, "rate_per_s_arcmin2": rate,
           "spectrum": spectrum["file"], "rmf": rmf["file"], "exposure_s": exposure_s,
           "measured_over_instrument": measured / expected if expected > 0 else None}
    if cfg.mocks.get("point_sources"):
        out["note"] = "the mocks add a point-source background that the instrument spectrum does not hold"
    return out


def _configured(value: str, run_dir) -> list[Path]:
    if not value:
        return []
    path = Path(value) if Path(value).is_absolute() else Path(run_dir) / value
    return [path.parent]


def _soxs_dirs() -> list[Path]:
    try:
        from ..mocks.physics import soxs_search_dirs

        return soxs_search_dirs()
    except Exception:  # SOXS not configured here: the cache is searched alone
        return []


def _find_by_sha256(record: dict, directories: list[Path]) -> Path | None:
    from ..mocks.responses import sha256

    for directory in directories:
        path = Path(directory) / record["file"]
        if path.is_file() and sha256(path) == record["sha256"]:
            return path
    return None


def background_rate_in_band(spectrum_path: Path, rmf_path: Path, emin_kev: float, emax_kev: float) -> float:
    """counts s^-1 arcmin^-2 in emin-emax of a background PHA (COUNT_RATE per channel per arcmin^2): each channel
    counts with the fraction of its EBOUNDS range inside the band."""
    from astropy.io import fits

    with fits.open(spectrum_path, memmap=False) as hdul:
        data = hdul["SPECTRUM"].data
        channel = np.asarray(data["CHANNEL"], dtype=np.int64)
        rate = np.asarray(data["COUNT_RATE"], dtype=np.float64)
    with fits.open(rmf_path, memmap=False) as hdul:
        bounds = hdul["EBOUNDS"].data
        ch = np.asarray(bounds["CHANNEL"], dtype=np.int64)
        lo, hi = np.asarray(bounds["E_MIN"], np.float64), np.asarray(bounds["E_MAX"], np.float64)
    order = np.searchsorted(ch, channel)
    lo, hi = lo[order], hi[order]
    overlap = np.clip(np.minimum(hi, emax_kev) - np.maximum(lo, emin_kev), 0.0, None)
    return float(np.sum(rate * overlap / np.where(hi > lo, hi - lo, np.inf)))


def fit_power_law(log_counts: np.ndarray, log_m: np.ndarray) -> tuple[float, float]:
    """Least-squares log10 M = a + b log10 C; returns (a, b)."""
    b, a = np.polyfit(log_counts, log_m, 1)
    return float(a), float(b)


def scatter_of(log_counts: np.ndarray, log_m: np.ndarray, fit_bin_width_dex: float) -> tuple[dict, float, float]:
    a, b = fit_power_law(log_counts, log_m)
    return fit_gaussian(a + b * log_counts - log_m, fit_bin_width_dex).to_dict(), a, b


def net_counts(ap: Apertures, level: int, background_per_arcmin2: float) -> np.ndarray:
    """[n_obs, n_draws] aperture counts minus B x the exposure-weighted aperture area."""
    return ap.gross[level] - background_per_arcmin2 * ap.area[level]


def fit_baseline(ap: Apertures, background: dict, r500c_errors: list[float], fit_bin_width_dex: float) -> dict:
    """Power-law fits and scatter for each R500c-error level (median over the draws)."""
    levels, plot = [], None
    kept_all = np.ones(len(ap.halo_id), dtype=bool)
    for level, error in enumerate(r500c_errors):
        net = net_counts(ap, level, background["counts_per_arcmin2"])
        fits = []
        for d in range(net.shape[1]):
            positive = net[:, d] > 0
            kept_all &= positive
            if positive.sum() < 3:
                raise InputError(f"baseline: only {int(positive.sum())} observations have positive net counts "
                                 f"at R500c error {error}; the aperture or background settings leave no signal")
            fit, a, b = scatter_of(np.log10(net[positive, d]), ap.log_m500c[positive], fit_bin_width_dex)
            fits.append((fit, a, b, int(positive.sum())))
            if level == 0 and d == 0:
                plot = (np.log10(net[positive, d]), ap.log_m500c[positive], a, b, fit["sigma_percent"])
        sigmas = _column(fits, "sigma")
        median = int(np.nanargmin(np.abs(sigmas - np.nanmedian(sigmas))))
        hist_ok = np.array([f[0]["hist_status"] == "ok" for f in fits])
        entry = {"r500c_error": error, "n_draws": len(fits), "n_observations": fits[median][3],
                 "estimator": "mle", "sigma": float(np.nanmedian(sigmas)),
                 "sigma_percent": dex_to_percent(float(np.nanmedian(sigmas))),
                 "mu": float(np.nanmedian(_column(fits, "mu"))),
                 "hist_sigma": float(np.nanmedian(_column(fits, "hist_sigma"))) if hist_ok.any() else None,
                 "hist_ok_draws": int(hist_ok.sum()),
                 "hist_status": "ok" if hist_ok.all() else
                 (f"failed on {int((~hist_ok).sum())} of {len(fits)} draws (median over the others)" if hist_ok.any()
                  else f"failed on every draw ({fits[0][0]['hist_status']})"),
                 "robust_sigma": float(np.nanmedian(_column(fits, "robust_sigma"))),
                 "a": fits[median][1], "b": fits[median][2], "fit_median_draw": fits[median][0]}
        if len(fits) > 1:
            lo, hi = np.nanpercentile(sigmas, [16, 84])
            entry["sigma_percent_16_84"] = [dex_to_percent(float(lo)), dex_to_percent(float(hi))]
        levels.append(entry)
    first = levels[0]
    return {"n_observations": int(len(ap.halo_id)), "n_clusters": int(np.unique(ap.halo_id).size),
            "background": background, "fit": {"a": first["a"], "b": first["b"], "r500c_error": first["r500c_error"],
                                              "form": "log10 M500c = a + b log10 C"},
            "estimator": ESTIMATOR_TEXT, "histogram_fit": HISTOGRAM_TEXT, "levels": levels,
            "clusters_kept": sorted({int(h) for h in ap.halo_id[kept_all]}), "plot": plot,
            "percent_conversion": "100 ln(10) sigma"}


def _column(fits: list[tuple], key: str) -> np.ndarray:
    return np.array([f[0][key] if f[0][key] is not None else np.nan for f in fits], dtype=np.float64)


def write_observations_csv(path: Path, ap: Apertures, background_per_arcmin2: float) -> str:
    """One row per observation at the exact R500c (the first level's draw): the aperture measurement."""
    bkg = background_per_arcmin2 * ap.area[0][:, 0]
    lines = ["halo_id,projection,log_m500c_true,r500c_arcmin,aperture_area_arcmin2,aperture_geometric_area_arcmin2,"
             "counts,background,net,bkg_region_counts,bkg_region_area_arcmin2"]
    for i in range(len(ap.halo_id)):
        lines.append(f"{ap.halo_id[i]},{ap.projection[i]},{ap.log_m500c[i]:.6f},{ap.r500c_arcmin[i]:.6g},"
                     f"{ap.area[0][i, 0]:.6g},{ap.geometric_area[i]:.6g},{ap.gross[0][i, 0]:.0f},{bkg[i]:.6g},"
                     f"{ap.gross[0][i, 0] - bkg[i]:.6g},{ap.bkg_counts[i]:.0f},{ap.bkg_area[i]:.6g}")
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path.name


def compare_with_cnn(cfg: Config, ap: Apertures, result: dict) -> dict | None:
    """The CNN and L_X scatter on the same clusters, their ratio per level, with cluster-bootstrap intervals."""
    folds = available_folds(cfg.store_path, cfg.stamps["n_folds"])
    if not folds:
        return None
    predictions = load_predictions(cfg.store_path, cfg.stamps["n_folds"], folds)
    common = np.intersect1d(np.unique(predictions.halo_id), np.array(result["clusters_kept"], dtype=np.int64))
    if common.size < 3:
        return None
    same = predictions.select(np.isin(predictions.halo_id, common))
    n_boot, seed = cfg.evaluate["n_bootstrap"], cfg.run["seed"]
    # one set of cluster resamples for the CNN, each L_X level and their ratio
    cnn = with_bootstrap(fit_gaussian(same.delta, cfg.evaluate["fit_bin_width_dex"]), same.delta, same.halo_id,
                         n_boot, [seed, BOOTSTRAP_STREAM, 1]).to_dict()
    cnn |= {"n_clusters": int(common.size), "folds": folds}
    obs = np.isin(ap.halo_id, common)
    weights = cluster_weights(common.size, max(n_boot, 1), [seed, BOOTSTRAP_STREAM, 1])
    _, cnn_boot = resampled_mle(weights, cluster_sums(same.delta, same.halo_id, common))
    per_level = []
    for level, entry in enumerate(result["levels"]):
        log_c = np.log10(net_counts(ap, level, result["background"]["counts_per_arcmin2"])[obs])
        lx_sigma = float(np.median([_lx_sigma(log_c[:, d], ap.log_m500c[obs]) for d in range(log_c.shape[1])]))
        draw = np.random.default_rng([seed, BOOTSTRAP_STREAM, 2, level]).integers(0, log_c.shape[1], weights.shape[0])
        lx_boot = _resampled_lx_sigma(weights, log_c, ap.log_m500c[obs], ap.halo_id[obs], common, draw)
        ratio = cnn["sigma"] / lx_sigma if lx_sigma > 0 else None
        item = {"r500c_error": entry["r500c_error"], "lx_sigma_dex": lx_sigma,
                "lx_sigma_dex_ci95": interval95(lx_boot) if n_boot else None, "ratio": ratio,
                "ratio_ci95": interval95(cnn_boot / lx_boot) if n_boot else None}
        entry["cnn_to_lx_ratio"], entry["cnn_to_lx_ratio_ci95"] = ratio, item["ratio_ci95"]
        entry["lx_sigma_same_clusters"] = lx_sigma
        per_level.append(item)
    errors = np.array([lv["r500c_error"] for lv in per_level])
    chosen = per_level[int(np.argmin(np.abs(errors - result["ratio_r500c_error"])))]
    headline = {"clusters": int(common.size),
                "estimator": f"{ESTIMATOR_TEXT} of delta, CNN over all images and L_X over all projections of the "
                             f"same clusters (power law refitted on them), L_X at R500c error "
                             f"{100 * chosen['r500c_error']:g}% (median over its draws); ratio = CNN MLE sigma / L_X MLE sigma; "
                             f"{bootstrap_text(n_boot)}",
                "cnn_sigma_dex": cnn["sigma"], "cnn_sigma_dex_ci95": cnn["sigma_ci95"],
                "lx_sigma_dex": chosen["lx_sigma_dex"], "lx_sigma_dex_ci95": chosen["lx_sigma_dex_ci95"],
                "ratio": chosen["ratio"], "ratio_ci95": chosen["ratio_ci95"]}
    cnn["per_level"] = per_level
    return {"cnn": cnn, "cnn_vs_lx": headline}


def _lx_sigma(log_c: np.ndarray, log_m: np.ndarray) -> float:
    a, b = fit_power_law(log_c, log_m)
    return float(np.std(a + b * log_c - log_m))


def _resampled_lx_sigma(weights: np.ndarray, log_c: np.ndarray, log_m: np.ndarray, halo_id: np.ndarray,
                        clusters: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """MLE sigma of the refitted power law's residuals in each resample (one aperture draw per resample)."""
    index = np.searchsorted(clusters, halo_id)
    n_boot = weights.shape[0]
    sums = np.zeros((clusters.size, log_c.shape[1], 6))
    for d in range(log_c.shape[1]):
        x, y = log_c[:, d], log_m
        for k, values in enumerate((np.ones_like(x), x, y, x * x, x * y, y * y)):
            sums[:, d, k] = np.bincount(index, values, clusters.size)
    total = np.einsum("bc,cbk->bk", weights, sums[:, draw, :])
    n, sx, sy, sxx, sxy, syy = total.T
    cxx, cxy, cyy = sxx - sx * sx / n, sxy - sx * sy / n, syy - sy * sy / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(np.clip((cyy - cxy**2 / cxx) / n, 0.0, None))


def print_summary(result: dict) -> None:
    bg = result["background"]
    line = f"baseline: background {bg['counts_per_arcmin2']:.4g} counts/arcmin^2 ({bg['method']})"
    inst = bg.get("instrument") or {}
    if inst.get("status") == "checked":
        line += (f"; instrument {inst['counts_per_arcmin2']:.4g} counts/arcmin^2 in the band, measured/instrument "
                 f"{inst['measured_over_instrument']:.3f}")
    elif inst:
        line += f"; instrument check {inst['status']}"
    print(line)
    for level in result["levels"]:
        ratio = level.get("cnn_to_lx_ratio")
        print(f"baseline: R500c error {100 * level['r500c_error']:g}%: MLE sigma {level['sigma']:.4f} dex "
              f"({level['sigma_percent']:.1f}%), {level['n_draws']} draws, a = {level['a']:.3f}, b = {level['b']:.3f}"
              + ("" if ratio is None else f"; CNN/L_X = {ratio:.2f}"))
    head = result.get("cnn_vs_lx")
    if head:
        lo, hi = head["ratio_ci95"] or (math.nan, math.nan)
        print(f"baseline: CNN/L_X on {head['clusters']} clusters: {head['ratio']:.3f} (95% {lo:.3f}-{hi:.3f})")
