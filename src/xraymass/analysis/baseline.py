"""`xraymass baseline`: a core-excised luminosity proxy from the same mock events, and its mass scatter.

Proxy: for each cluster and projection, the counts in `emin_kev`-`emax_kev` within r_inner_r500c-r_outer_r500c
R500c of `centre_pix` (the part of the annulus inside the detector field), minus the expected background.
All clusters share redshift, exposure and response, so counts are proportional to the core-excised
luminosity in that band, up to the temperature dependence of the count rate per unit luminosity. The expected background is one surface density for the whole run (same detector,
exposure and sky): the median, over the observations where at least `bkg_min_area_arcmin2` of the
background annulus (bkg_r500c, in R500c) lies inside the field, of its counts per arcmin^2. Where no
observation has that much (at the paper's scale R500c exceeds the field for most clusters), it is the
smallest surface density found in the field's corners (outside the inscribed circle) of any observation:
the corners of the faintest cluster, an upper bound on the true background.

Power law: log10 M500c = a + b log10 C, a least-squares fit; delta = (a + b log10 C) - log10 M500c_true,
and its scatter is fitted exactly as the CNN's (xraymass.analysis.metrics). With an R500c error e, the
R500c that sets both aperture radii is multiplied by (1 + e g), g ~ N(0, 1) drawn independently for
each cluster and projection; the fit and scatter are repeated for `n_realisations` draws and the median
sigma is reported with the 16-84th percentile range of the draws.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from ..config import Config
from ..errors import InputError, StoreError
from ..progress import Progress
from ..provenance import write_effective_config
from ..store import is_complete, open_store, verify_group
from . import figures
from .metrics import dex_to_percent, fit_gaussian
from .predictions import available_folds, load_predictions
from .report import results_dir, write_part

APERTURE_STREAM = 7  # tags the aperture-error draws apart from other streams seeded by (run.seed, halo id, ...)


@dataclass
class Apertures:
    """Per observation (cluster x projection): the aperture and background measurements."""

    halo_id: np.ndarray          # [n_obs]
    projection: np.ndarray       # [n_obs]
    log_m500c: np.ndarray        # [n_obs]
    gross: list[np.ndarray]      # per R500c-error level: [n_obs, n_draws] counts in the annulus
    area: list[np.ndarray]       # per level: [n_obs, n_draws] annulus area inside the field, arcmin^2
    bkg_counts: np.ndarray       # [n_obs] counts in the background annulus inside the field
    bkg_area: np.ndarray         # [n_obs] its area, arcmin^2
    corner_counts: np.ndarray    # [n_obs] counts in the field's corners (outside the inscribed circle)
    corner_area: np.ndarray      # [n_obs] arcmin^2


def run(cfg: Config, args: argparse.Namespace | None = None) -> int:
    halos = read_halos(cfg.store_path)
    result = core_excised_baseline(cfg.store_path, halos, cfg.run["seed"], cfg.evaluate["fit_bin_width_dex"],
                                   **cfg.baseline)
    result["cnn_same_clusters"] = compare_with_cnn(cfg, result)
    result["figures"] = figures.save(figures.draw_baseline_figure(*result.pop("plot")), results_dir(cfg), "baseline_lx_m")
    write_part(cfg, "baseline", result)
    write_effective_config(cfg.run_dir, cfg, "baseline")
    print_summary(result)
    return 0


def read_halos(store_path) -> dict[str, np.ndarray]:
    root = open_store(store_path)
    if "halos" not in root or not is_complete(root["halos"]):
        raise StoreError(f"{store_path}/halos: the halo catalogue is missing or not complete; run `xraymass halos`")
    group = root["halos"]
    verify_group(group, f"{store_path}/halos")  # against the writer's records (xraymass.store)
    return {"halo_id": np.asarray(group["halo_id"][...]), "log_m500c": np.asarray(group["log_m500c"][...])}


def core_excised_baseline(store_path, halos: dict[str, np.ndarray], seed: int, fit_bin_width_dex: float,
                          r_inner_r500c: float, r_outer_r500c: float, emin_kev: float, emax_kev: float,
                          r500c_errors: list[float], n_realisations: int, bkg_r500c: list[float],
                          bkg_min_area_arcmin2: float) -> dict:
    """The `baseline` section: measure the apertures of every observation, then fit each R500c-error level."""
    apertures = measure_apertures(store_path, halos, seed, r_inner_r500c, r_outer_r500c, emin_kev, emax_kev,
                                  r500c_errors, n_realisations, bkg_r500c)
    result = fit_baseline(apertures, r500c_errors, bkg_min_area_arcmin2, fit_bin_width_dex)
    return {"band_kev": [emin_kev, emax_kev], "aperture_r500c": [r_inner_r500c, r_outer_r500c], **result}


def measure_apertures(store_path, halos: dict[str, np.ndarray], seed: int, r_inner_r500c: float,
                      r_outer_r500c: float, emin_kev: float, emax_kev: float, r500c_errors: list[float],
                      n_realisations: int, bkg_r500c: list[float]) -> Apertures:
    """Counts in the aperture (for every R500c-error draw) and in the background regions of every observation."""
    root = open_store(store_path)
    groups = _event_groups(store_path, root, halos["halo_id"])
    for halo_id, group in zip(halos["halo_id"], groups):  # against the writer's records (xraymass.store)
        verify_group(group, f"{store_path}/events/h{int(halo_id):08d}")
    rows: list[dict] = []
    progress = Progress("baseline", len(groups), unit="halo")
    for halo_id, log_m, group in zip(halos["halo_id"], halos["log_m500c"], groups):
        for p in range(len(group.attrs["projections"])):
            factors = [_r500c_factors(seed, int(halo_id), p, i, err, n_realisations) for i, err in enumerate(r500c_errors)]
            rows.append(_measure_observation(group, p, factors, r_inner_r500c, r_outer_r500c, emin_kev, emax_kev,
                                             bkg_r500c) | {"halo_id": int(halo_id), "projection": p, "log_m500c": log_m})
        progress.update()
    progress.close()
    return Apertures(
        halo_id=np.array([r["halo_id"] for r in rows]), projection=np.array([r["projection"] for r in rows]),
        log_m500c=np.array([r["log_m500c"] for r in rows], dtype=np.float64),
        gross=[np.stack([r["gross"][i] for r in rows]) for i in range(len(r500c_errors))],
        area=[np.stack([r["area"][i] for r in rows]) for i in range(len(r500c_errors))],
        **{key: np.array([r[key] for r in rows], dtype=np.float64)
           for key in ("bkg_counts", "bkg_area", "corner_counts", "corner_area")})


def _event_groups(store_path, root, halo_ids: np.ndarray) -> list:
    groups, missing = [], []
    for halo_id in halo_ids:
        name = f"events/h{int(halo_id):08d}"
        if name in root and is_complete(root[name]):
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
    centre = np.asarray(attrs["centre_pix"], dtype=np.float64).reshape(-1, 2)
    cx, cy = centre[p] if len(centre) > 1 else centre[0]
    r500 = float(attrs["r500c_pix"])
    radius = np.sort(np.hypot(x - cx, y - cy))

    def within(r: np.ndarray) -> np.ndarray:
        return np.searchsorted(radius, r, side="left").astype(np.float64)

    gross, area = [], []
    for f in factors:
        inner, outer = r_in * r500 * f, r_out * r500 * f
        gross.append(within(outer) - within(inner))
        area.append((disk_area_in_field(cx, cy, outer, npix) - disk_area_in_field(cx, cy, inner, npix)) * arcmin2)
    b_in, b_out = np.array(bkg_r500c) * r500
    bkg_area = float(disk_area_in_field(cx, cy, np.array([b_out]), npix)[0]
                     - disk_area_in_field(cx, cy, np.array([b_in]), npix)[0]) * arcmin2
    corner = np.hypot(x - npix / 2, y - npix / 2) >= npix / 2
    return {"gross": gross, "area": area, "bkg_counts": float(within(np.array([b_out]))[0] - within(np.array([b_in]))[0]),
            "bkg_area": bkg_area, "corner_counts": float(np.count_nonzero(corner)),
            "corner_area": float(npix ** 2 * (1 - np.pi / 4)) * arcmin2}


def disk_area_in_field(cx: float, cy: float, radii: np.ndarray, npix: float, samples: int = 2001) -> np.ndarray:
    """Area (pixels^2) of the disks of `radii` about (cx, cy) inside the square field [0, npix]^2.

    The chord length inside the field is integrated over x with the trapezoid rule (all radii at once).
    """
    radii = np.atleast_1d(np.asarray(radii, dtype=np.float64))
    x0 = np.clip(cx - radii, 0.0, npix)
    x1 = np.clip(cx + radii, 0.0, npix)
    x = x0[:, None] + (x1 - x0)[:, None] * np.linspace(0.0, 1.0, samples)[None, :]
    h = np.sqrt(np.clip(radii[:, None] ** 2 - (x - cx) ** 2, 0.0, None))
    chord = np.clip(cy + h, 0.0, npix) - np.clip(cy - h, 0.0, npix)
    return np.trapezoid(chord, x, axis=1)


def expected_background(ap: Apertures, bkg_min_area_arcmin2: float) -> dict:
    """One background surface density (counts/arcmin^2) for the run; see the module docstring."""
    usable = ap.bkg_area >= bkg_min_area_arcmin2
    if np.any(usable):
        density = float(np.median(ap.bkg_counts[usable] / ap.bkg_area[usable]))
        method = f"median of the background annulus over {int(usable.sum())} observations"
    else:
        density = float(np.min(ap.corner_counts / ap.corner_area))
        method = "faintest field corners (no background annulus inside the field; an upper bound)"
    return {"counts_per_arcmin2": density, "method": method}


def fit_power_law(log_counts: np.ndarray, log_m: np.ndarray) -> tuple[float, float]:
    """Least-squares log10 M = a + b log10 C; returns (a, b)."""
    b, a = np.polyfit(log_counts, log_m, 1)
    return float(a), float(b)


def scatter_of(log_counts: np.ndarray, log_m: np.ndarray, fit_bin_width_dex: float) -> tuple[dict, float, float]:
    a, b = fit_power_law(log_counts, log_m)
    return fit_gaussian(a + b * log_counts - log_m, fit_bin_width_dex).to_dict(), a, b


def fit_baseline(ap: Apertures, r500c_errors: list[float], bkg_min_area_arcmin2: float, fit_bin_width_dex: float) -> dict:
    """Power-law fits and scatter for each R500c-error level (median over the draws)."""
    background = expected_background(ap, bkg_min_area_arcmin2)
    levels, plot = [], None
    kept_all = np.ones(len(ap.halo_id), dtype=bool)
    for level, error in enumerate(r500c_errors):
        net = ap.gross[level] - background["counts_per_arcmin2"] * ap.area[level]
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
                plot = (np.log10(net[positive, d]), ap.log_m500c[positive], a, b, fit["sigma_percent"] or np.nan)
        sigmas = _column(fits, "sigma")
        median = int(np.nanargmin(np.abs(sigmas - np.nanmedian(sigmas))))
        entry = {"r500c_error": error, "n_draws": len(fits), "n_observations": fits[median][3],
                 "sigma": float(np.nanmedian(sigmas)), "sigma_percent": dex_to_percent(float(np.nanmedian(sigmas))),
                 "mle_sigma": float(np.nanmedian(_column(fits, "mle_sigma"))),
                 "robust_sigma": float(np.nanmedian(_column(fits, "robust_sigma"))),
                 "a": fits[median][1], "b": fits[median][2], "fit_median_draw": fits[median][0]}
        if len(fits) > 1:
            lo, hi = np.nanpercentile(sigmas, [16, 84])
            entry["sigma_percent_16_84"] = [dex_to_percent(float(lo)), dex_to_percent(float(hi))]
        levels.append(entry)
    first = levels[0]
    return {"n_observations": int(len(ap.halo_id)), "n_clusters": int(np.unique(ap.halo_id).size),
            "background": background, "fit": {"a": first["a"], "b": first["b"]}, "levels": levels,
            "clusters_kept": sorted({int(h) for h in ap.halo_id[kept_all]}), "plot": plot,
            "percent_conversion": "100 ln(10) sigma"}


def _column(fits: list[tuple], key: str) -> np.ndarray:
    return np.array([f[0][key] if f[0][key] is not None else np.nan for f in fits], dtype=np.float64)


def compare_with_cnn(cfg: Config, result: dict) -> dict | None:
    """The CNN's scatter on the clusters the baseline kept, and the CNN-to-L_X ratio per error level."""
    folds = available_folds(cfg.store_path, cfg.stamps["n_folds"])
    if not folds:
        return None
    predictions = load_predictions(cfg.store_path, cfg.stamps["n_folds"], folds)
    same = predictions.select(np.isin(predictions.halo_id, result["clusters_kept"]))
    if same.halo_id.size == 0:
        return None
    fit = fit_gaussian(same.delta, cfg.evaluate["fit_bin_width_dex"]).to_dict()
    for level in result["levels"]:
        level["cnn_to_lx_ratio"] = fit["sigma"] / level["sigma"] if fit["sigma"] and level["sigma"] else None
    return fit | {"n_clusters": int(np.unique(same.halo_id).size), "folds": folds}


def print_summary(result: dict) -> None:
    print(f"baseline: background {result['background']['counts_per_arcmin2']:.3g} counts/arcmin^2 "
          f"({result['background']['method']})")
    for level in result["levels"]:
        ratio = level.get("cnn_to_lx_ratio")
        print(f"baseline: R500c error {100 * level['r500c_error']:g}%: sigma {level['sigma']:.4f} dex "
              f"({level['sigma_percent']:.1f}%), {level['n_draws']} draws"
              + ("" if ratio is None else f"; CNN/L_X = {ratio:.2f}"))
