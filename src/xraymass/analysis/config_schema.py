"""Config sections of the analysis stages: `evaluate`, `baseline`, `interpret`."""
from ..schema import Key

SECTIONS = {
    "evaluate": {
        "mass_subset": Key(list, [14.0, 14.5], "log10(M500c) range of the subset reported apart", item=float, length=2, lo=10.0, hi=16.5),
        "fit_bin_width_dex": Key(float, 0.01, "histogram bin of delta for the paper's histogram fit (also the baseline's); widened for small samples, the width used is reported per sample", lo=1e-4, hi=1.0),
        "n_bootstrap": Key(int, 1000, "bootstrap resamples of clusters for the 95% intervals of sigma, mu and the CNN/L_X ratio (also the baseline's)", lo=0, hi=1_000_000),
        "uncertainty": Key(bool, False, "per-cluster predictive distributions (members' and views' spread, calibrated on each fold's validation clusters): coverage of 68%/95% intervals, width, NLL, CRPS (docs/results.md)"),
    },
    "baseline": {
        "r_inner_r500c": Key(float, 0.15, "inner radius of the core-excised aperture", lo=0.0, hi=5.0),
        "r_outer_r500c": Key(float, 1.0, "outer radius of the aperture", lo=0.01, hi=10.0),
        "emin_kev": Key(float, 0.5, "band of the luminosity proxy", lo=0.0, hi=20.0),
        "emax_kev": Key(float, 7.0, "band of the luminosity proxy", lo=0.1, hi=50.0),
        "r500c_errors": Key(list, [0.0, 0.03, 0.05], "fractional Gaussian errors on the R500c of the aperture", item=float, lo=0.0, hi=1.0),
        "n_realisations": Key(int, 100, "aperture-error draws per error level", lo=1, hi=100_000),
        "bkg_r500c": Key(list, [1.5, 2.5], "background annulus, in R500c", item=float, length=2, lo=0.0, hi=100.0),
        "bkg_min_area_arcmin2": Key(float, 5.0, "least exposure-weighted background-annulus area inside the field for it to be used", lo=0.0, hi=1e6),
        "ratio_r500c_error": Key(float, 0.03, "R500c-error level of the headline CNN/L_X ratio (the paper: 11.6% against 14.6% at 3%); the nearest level is used", lo=0.0, hi=1.0),
    },
    "interpret": {
        "step_size": Key(float, 1.0, "mean |change| per pixel of one iteration, counts (gradient / mean|gradient| times this)", lo=0.0, hi=1e6),
        "iterations": Key(int, 2, "DeepDream iterations", lo=1, hi=100),
        "n_clusters": Key(int, 20, "clusters in the radial profile (Figure 6), evenly spaced in mass rank", lo=1, hi=100_000),
        "figure5_clusters": Key(list, [], "halo ids shown in Figure 5; [] = the median-mass and the most off-centre cluster", item=int),
        "radial_bins": Key(int, 12, "bins of R/R500c for Figure 6", lo=2, hi=1000),
        "radial_max_r500c": Key(float, 1.5, "outer edge of the last R/R500c bin", lo=0.01, hi=100.0),
        "core_radius_r500c": Key(float, 0.2, "radius inside which added photons are reported", lo=0.0, hi=5.0),
        "small_change": Key(float, 0.02, "Figure 5 marks pixels with |Delta N| / N at most this", lo=0.0, hi=10.0),
        "off_centre_r500c": Key(float, 0.1, "gradient centre this far from the true centre (in R500c) flags a cluster", lo=0.0, hi=10.0),
    },
}


def _ordered(section: str, key: str):
    def rule(cfg: dict) -> str | None:
        values = cfg[section][key]
        if len(values) == 2 and not values[0] < values[1]:
            return f"'{section}.{key}' = {cfg[section][key]!r}: the first value must be below the second"
        return None
    return rule


def _aperture(cfg: dict) -> str | None:
    b = cfg["baseline"]
    if not b["r_inner_r500c"] < b["r_outer_r500c"]:
        return f"'baseline.r_inner_r500c' = {b['r_inner_r500c']} must be below 'baseline.r_outer_r500c' = {b['r_outer_r500c']}"
    if not b["emin_kev"] < b["emax_kev"]:
        return f"'baseline.emin_kev' = {b['emin_kev']} must be below 'baseline.emax_kev' = {b['emax_kev']}"
    return None


# cross-key rules: functions of the whole validated config, returning one line or None
RULES = (_ordered("evaluate", "mass_subset"), _ordered("baseline", "bkg_r500c"), _aperture)
