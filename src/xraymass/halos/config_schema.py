"""Config sections of the halo stage: `halos` (which halos), `synthetic` and `tng` (where from).

The `synthetic` section maps one-to-one onto `xraymass.halos.synthetic.Model(**cfg.synthetic)`;
every model key names the published relation it follows in docs/halos.md and in synthetic.py.
"""
from ..schema import Key

SECTIONS = {
    "halos": {
        "source": Key(str, "synthetic", "where halos come from", choices=("synthetic", "tng")),
        "log_m500c_min": Key(float, 13.57, "lower mass limit, log10(M500c/Msun), inclusive", lo=10.0, hi=16.5),
        "log_m500c_max": Key(float, 15.06, "upper mass limit, log10(M500c/Msun), inclusive", lo=10.0, hi=16.5),
        "redshift": Key(float, 0.0, "redshift of the simulation snapshot (the paper: z = 0)", lo=0.0, hi=10.0),
    },
    "synthetic": {
        "n_halos": Key(int, 329, "number of synthetic clusters (the paper's TNG300 sample: 329)", lo=1, hi=10_000_000),
        "particles_per_halo": Key(int, 1_000_000, "gas particles per halo inside r_max", lo=1000, hi=100_000_000),
        "r_max_r500c": Key(float, 3.0, "gas sampled out to this radius in units of R500c (>= 2)", lo=2.0, hi=10.0),
        "mass_function": Key(str, "tinker08", "colossus mass-function model that supports M500c directly",
                             choices=("tinker08", "watson13", "bocquet16")),
        "scatter_ln_t": Key(float, 0.10, "log-normal scatter of T at fixed M500c (M-T of Vikhlinin+2009 at M_HSE)",
                            lo=0.0, hi=1.0),
        "scatter_ln_fgas": Key(float, 0.03, "log-normal scatter of f_gas,500 at fixed M500c", lo=0.0, hi=1.0),
        "cool_core_fraction": Key(float, 0.40, "fraction of all clusters with a cool core (mergers never have one)",
                                  lo=0.0, hi=1.0),
        "merger_fraction": Key(float, 0.25, "fraction of clusters with a merging second component", lo=0.0, hi=1.0),
        "substructure_mean": Key(float, 4.0, "mean number of infalling gas-rich subhalos per cluster",
                                 lo=0.0, hi=100.0),
        "axis_ratio_min": Key(float, 0.75, "smallest minor/major axis ratio of the gas ellipsoid", lo=0.2, hi=1.0),
        "clumping_r500c": Key(float, 1.2, "gas clumping factor <rho^2>/<rho>^2 at R500c (grows as r^2 up to "
                              "clumping_saturation_r500c, constant beyond)", lo=1.0, hi=5.0),
        "clumping_saturation_r500c": Key(float, 1.5, "radius / R500c beyond which the clumping factor stays "
                                         "constant (R200c ~ 1.5 R500c; Eckert+2015)", lo=1.0, hi=10.0),
        "hydrostatic_bias": Key(float, 0.2, "b in M_HSE = (1 - b) M_true: the M-T relation (Vikhlinin+2009) is applied "
                                "to M_HSE (Planck 2015 XXIV; Hoekstra+2015)", lo=0.0, hi=0.6),
        "core_radius_slope": Key(float, 0.4, "core radii of the density profile scale as (M500c / 10^14.5 Msun)^-s: "
                                 "flatter group cores (docs/calibration.md)", lo=-1.0, hi=2.0),
        "beta_slope": Key(float, 0.12, "outer density slope beta scales as (M500c / 10^14.5 Msun)^s: flatter group "
                          "profiles (docs/calibration.md)", lo=-1.0, hi=1.0),
        "fgas_slope": Key(float, 0.30, "f_gas,500 = 0.13 (M500c / 1e15 Msun)^s (docs/calibration.md)",
                          lo=0.0, hi=1.0),
        "turbulence_fraction": Key(float, 0.2, "turbulent velocity dispersion / isothermal sound speed",
                                   lo=0.0, hi=2.0),
        "cold_gas_fraction": Key(float, 0.002, "gas-mass fraction of the dense star-forming phase in cool cores",
                                 lo=0.0, hi=0.1),
        "bright_clump_probability": Key(float, 0.02, "probability that a cluster holds a bright nonphysical clump",
                                        lo=0.0, hi=1.0),
        "bright_clump_fraction": Key(float, 1e-4, "gas-mass fraction of such a clump", lo=0.0, hi=0.01),
    },
    "tng": {
        "base_path": Key(str, "", "TNG output directory holding groups_NNN/ and snapdir_NNN/ (e.g. $TNG300_DIR/output)"),
        "snapshot": Key(int, 99, "snapshot number (99 is z = 0)", lo=0, hi=99),
        "offsets_path": Key(str, "", "directory of offsets_NNN.hdf5 ('' = <base_path>/../postprocessing/offsets)"),
    },
}


def _mass_range(cfg: dict) -> str | None:
    lo, hi = cfg["halos"]["log_m500c_min"], cfg["halos"]["log_m500c_max"]
    if not lo < hi:
        return f"'halos.log_m500c_min' = {lo} must be below 'halos.log_m500c_max' = {hi}: the mass range is empty"
    return None


# cross-key rules: functions of the whole validated config, returning one line or None
RULES = (_mass_range,)


def settings(cfg) -> dict:
    """The config values a halo catalogue is made with: recorded on `halos/`, checked by later stages
    (paths to the simulation are left out: the same snapshot may move)."""
    source = {"synthetic": None} if cfg.halos["source"] == "synthetic" else {"tng": ("snapshot",)}
    return {"run": ("seed",), "cosmology": None, "halos": None, **source}
