"""Config sections of the analysis stages: `evaluate`, `baseline`, `interpret`."""
from ..schema import Key

SECTIONS = {
    "evaluate": {
        "mass_subset": Key(list, [14.0, 14.5], "log10(M500c) range of the subset reported apart", item=float, length=2, lo=10.0, hi=16.5),
    },
    "baseline": {
        "r_inner_r500c": Key(float, 0.15, "inner radius of the core-excised aperture", lo=0.0, hi=5.0),
        "r_outer_r500c": Key(float, 1.0, "outer radius of the aperture", lo=0.01, hi=10.0),
        "emin_kev": Key(float, 0.5, "band of the luminosity proxy", lo=0.0, hi=20.0),
        "emax_kev": Key(float, 7.0, "band of the luminosity proxy", lo=0.1, hi=50.0),
        "r500c_errors": Key(list, [0.0, 0.03, 0.05], "fractional Gaussian errors on the R500c of the aperture", item=float, lo=0.0, hi=1.0),
        "n_realisations": Key(int, 100, "aperture-error draws per error level", lo=1, hi=100_000),
    },
    "interpret": {
        "step_size": Key(float, 1.0, "multiplier of the normalised gradient added per iteration", lo=0.0, hi=1e6),
        "iterations": Key(int, 2, "DeepDream iterations", lo=1, hi=100),
        "n_clusters": Key(int, 20, "clusters in the radial profile (Figure 6)", lo=1, hi=100_000),
        "radial_bins": Key(int, 12, "bins of R/R500c for Figure 6", lo=2, hi=1000),
        "core_radius_r500c": Key(float, 0.2, "radius inside which added photons are reported", lo=0.0, hi=5.0),
    },
}
