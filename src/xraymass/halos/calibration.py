"""Scaling relations of the synthetic population as the mocks see them, beside published ones (docs/calibration.md).

Per halo, from the gas the mocks observe (kT > mocks.kt_min_kev, not star-forming), projected along z:
- L_X from the embedded thermal emission with lines (`xraymass.mocks.spectral`, the model the mocks
  observe; cosmic + Z x metal spectrum per unit n_e n_H, each particle at its own T and Z): rest-frame
  0.1-2.4 keV (the ROSAT band of published L_X-M relations) and bolometric 0.01-100 keV, inside
  R500c and in the core-excised annulus 0.15-1 R500c;
- the mocks' expected source counts in the image band (0.5-7 keV observed): the same spectrum at
  mocks.redshift, absorbed by wabs with mocks.nh_1e22 (pyXSIM's model), times the embedded ACIS-I ARF,
  times mocks.exposure_ks, with pyXSIM's flux normalisation EM / (4 pi D_A^2 (1+z)^2): in the
  core-excised annulus and inside R500c, each restricted to the detector's square field;
- T_sl: the spectroscopic-like temperature (Mazzotta et al. 2004), weights n_e n_H V T^-3/4, in 0.15-1 R500c.
Relations are fitted as ln Y = a + b ln(M500c / 1e14.5 Msun) by least squares; sigma(ln Y | M) is the
standard deviation of the residuals. The scatter in mass at fixed L (the quantity of the paper's
core-excised L_X estimator, 14.6% and the literature's 15-18%) is the residual standard deviation of
the inverse fit ln M = a' + b' ln L. Published relations (PUBLISHED) are evaluated at the hydrostatic
mass M_HSE = (1 - b) M_true, b = synthetic.hydrostatic_bias, because they were calibrated on
hydrostatic (or hydrostatically calibrated Y_X) masses.

    python -m xraymass.halos.calibration --config pipeline/demo.yaml [--set SECTION.KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from ..stages import DEFAULT_CONFIG
from .cosmo import KEV_ERG, KEV_K, KPC_CM, M_P_G, MSUN_G, X_H

NE_PER_NH = (1.0 + X_H) / (2.0 * X_H)       # fully ionised H + He (yt's "ionized" emission_measure)
PIVOT_MSUN = 10**14.5
CORE_EXCISED = (0.15, 1.0)
SOFT_BAND_KEV = (0.1, 2.4)                  # rest frame, as the published L_X-M relations
BOL_BAND_KEV = (0.01, 100.0)                # rest frame, "bolometric"
KT_GRID = (0.05, 64.0, 300)                 # keV, the embedded spectral model's temperature grid in the mocks


# ---- the emission the mocks observe, integrated exactly per unit emission measure --------------------------
@lru_cache(maxsize=8)
def _band_tables(lo_kev: float, hi_kev: float, nbins: int, redshift: float,
                 weight: str, nh_1e22: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kT grid, cosmic, metal) per unit n_e n_H over the band [lo_kev, hi_kev]: with weight 'energy' the
    rest-frame energy emissivity (erg s^-1 cm^3); with weight 'arf' the observer-frame photon emissivity
    (photons s^-1 cm^3, pyXSIM's (1+z) convention) times wabs(nh_1e22) times the embedded ARF (cm^2)."""
    from ..mocks.spectral import spectrum_tables

    kt = np.geomspace(*KT_GRID[:2], KT_GRID[2])
    if weight == "energy":
        ebins = np.geomspace(lo_kev, hi_kev, nbins + 1)
    else:
        ebins = np.linspace(lo_kev, hi_kev, nbins + 1)
    cosmic, metal = spectrum_tables(ebins, kt, redshift)
    emid = 0.5 * (ebins[1:] + ebins[:-1])
    if weight == "energy":
        w = emid * (1.0 + redshift) * KEV_ERG
    else:
        from pyxsim.spectral_models import WabsModel

        from ..mocks.responses import cycle19_area

        w = cycle19_area(emid) * (WabsModel(nh_1e22).get_absorb(emid) if nh_1e22 > 0 else 1.0)
    return kt, cosmic @ w, metal @ w


def emissivity(kt_kev: np.ndarray, z_sun: np.ndarray, table) -> np.ndarray:
    """Per-particle emissivity per unit n_e n_H from a (kT, cosmic, metal) table: linear in T between
    grid points, as pyXSIM's SpectralInterpolator1D."""
    kt, cosmic, metal = table
    return np.interp(kt_kev, kt, cosmic) + z_sun * np.interp(kt_kev, kt, metal)


def luminosity_tables() -> dict[str, tuple]:
    """Rest-frame energy tables of the soft (0.1-2.4 keV) and bolometric (0.01-100 keV) bands."""
    return {"soft": _band_tables(*SOFT_BAND_KEV, 2300, 0.0, "energy", 0.0),
            "bol": _band_tables(*BOL_BAND_KEV, 4000, 0.0, "energy", 0.0)}


def count_table(mocks: dict, band_kev: tuple[float, float] = (0.5, 7.0)) -> tuple:
    """Observer-frame ARF x absorption weighted photon table of the image band at mocks.redshift."""
    lo, hi = band_kev
    return _band_tables(float(lo), float(hi), int(round((hi - lo) / 0.005)), float(mocks["redshift"]), "arf",
                        float(mocks["nh_1e22"]))


def observing_geometry(mocks: dict, cosmology: str) -> dict[str, float]:
    """D_A (cm) at mocks.redshift and the half-width (kpc) of the detector's square field."""
    from .cosmo import cosmology as colossus

    c = colossus(cosmology)
    z = float(mocks["redshift"])
    d_a_kpc = c.angularDiameterDistance(z) * 1e3 / c.h
    half = 0.5 * float(mocks["fov_arcmin"]) / 60.0 * np.pi / 180.0 * d_a_kpc
    return {"d_a_cm": d_a_kpc * KPC_CM, "half_field_kpc": half, "redshift": z}


def luminosities(gas: dict[str, np.ndarray], r500c: float, centre=(0.0, 0.0, 0.0), kt_min_kev: float = 0.1,
                 mocks: dict | None = None, cosmology: str = "planck15",
                 band_kev: tuple[float, float] = (0.5, 7.0)) -> dict[str, float]:
    """What the mocks see of one halo, projected along z, from the embedded emission with lines.

    Parameters
    ----------
    gas : dict of arrays
        The halo's gas in the units of `synthetic.GAS_FIELDS` (position kpc, density g/cm^3,
        temperature K, mass Msun, metallicity Zsun, star_formation_rate Msun/yr).
    r500c : float
        R500c in kpc.
    centre : sequence of 3 floats
        Halo centre in kpc.
    kt_min_kev : float
        Gas at or below this kT (keV) emits nothing, as in the mocks; star-forming gas neither.
    mocks : dict, optional
        The `mocks` config section (redshift, exposure_ks, nh_1e22, fov_arcmin); with it the expected
        source counts are computed too.
    cosmology : str
        colossus cosmology name (for D_A at mocks.redshift).
    band_kev : (float, float)
        Observed energy band of the counts, keV.

    Returns
    -------
    dict
        lx_soft, lx_soft_ce, lx_bol, lx_bol_ce (erg/s; rest-frame 0.1-2.4 keV and 0.01-100 keV,
        projected R < R500c and 0.15-1 R500c), t_sl_kev (keV, 0.15-1 R500c); with `mocks` also
        counts_ce, counts_r500 and counts_field (expected counts in band_kev inside the detector's
        square field: the annulus, the disc and the whole field).
    """
    keep = (gas["temperature"] > kt_min_kev * KEV_K) & (gas["star_formation_rate"] <= 0.0)   # as the mocks
    rel = gas["position"][keep] - np.asarray(centre, float)
    r_proj = np.hypot(rel[:, 0], rel[:, 1]) / r500c
    kt = gas["temperature"][keep] / KEV_K
    z_sun = gas["metallicity"][keep]
    n_h = gas["density"][keep] * X_H / M_P_G
    volume = gas["mass"][keep] * MSUN_G / gas["density"][keep]
    em = n_h * n_h * NE_PER_NH * volume                                   # n_e n_H V, cm^-3
    inside = r_proj <= 1.0
    ring = (r_proj >= CORE_EXCISED[0]) & inside
    out = {}
    for band, table in luminosity_tables().items():
        lum = em * emissivity(kt, z_sun, table)
        out[f"lx_{band}"] = float(lum[inside].sum())
        out[f"lx_{band}_ce"] = float(lum[ring].sum())
    w = em[ring] * kt[ring] ** -0.75
    out["t_sl_kev"] = float((w * kt[ring]).sum() / w.sum()) if w.size else float("nan")
    if mocks is not None:
        geo = observing_geometry(mocks, cosmology)
        norm = float(mocks["exposure_ks"]) * 1e3 / (4.0 * np.pi * geo["d_a_cm"] ** 2 * (1.0 + geo["redshift"]) ** 2)
        counts = em * emissivity(kt, z_sun, count_table(mocks, band_kev)) * norm
        field = (np.abs(rel[:, 0]) <= geo["half_field_kpc"]) & (np.abs(rel[:, 1]) <= geo["half_field_kpc"])
        out["counts_ce"] = float(counts[ring & field].sum())
        out["counts_r500"] = float(counts[inside & field].sum())
        out["counts_field"] = float(counts[field].sum())
    return out


# ---- fits ------------------------------------------------------------------------------------------------------
@dataclass
class Fit:
    slope: float
    norm: float           # Y at the pivot mass 10^14.5 Msun
    scatter_ln: float     # standard deviation of ln-residuals (sigma ln Y | M)
    scatter_ln_m: float = float("nan")  # sigma(ln M | Y) of the inverse fit ln M = a' + b' ln Y

    def line(self, name: str) -> str:
        return (f"{name:14s} slope {self.slope:6.3f}  Y(10^14.5) {self.norm:10.4g}  "
                f"sigma(lnY|M) {100 * self.scatter_ln:5.1f}%  sigma(lnM|Y) {100 * self.scatter_ln_m:5.1f}%")


def fit_power_law(m500c: np.ndarray, y: np.ndarray) -> Fit:
    """ln Y = a + b ln(M / 10^14.5 Msun) by least squares; scatters in ln Y at fixed M and in ln M at fixed Y."""
    x = np.log(np.asarray(m500c) / PIVOT_MSUN)
    ly = np.log(np.asarray(y))
    b, a = np.polyfit(x, ly, 1)
    resid = ly - (a + b * x)
    bi, ai = np.polyfit(ly, x, 1)
    resid_m = x - (ai + bi * ly)
    return Fit(float(b), float(np.exp(a)), float(np.std(resid, ddof=2)), float(np.std(resid_m, ddof=2)))


# ---- published relations ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Published:
    """A published power law Y = norm E(z)^ez (M_HSE / pivot)^slope in the authors' units.

    h_ref is the authors' Hubble parameter (0.7 for h70 units: Y ~ h^h_power_y, M ~ h^h_power_m), or
    None for a relation written in h^-1 units (pivot in h^-1 Msun), which holds for any h.
    """

    name: str
    quantity: str          # key of the measured quantity it is compared with
    norm: float
    pivot_msun: float
    slope: float
    ez: float              # power of E(z) multiplying the norm
    h_ref: float | None
    h_power_y: float       # L: -2, T: 0
    h_power_m: float       # X-ray masses: -1
    scatter_ln: float | None
    mass_range: tuple[float, float]
    source: str

    def predict(self, m_true: np.ndarray, bias: float, h: float, ez: float = 1.0) -> np.ndarray:
        """Y at true masses m_true (Msun, our h): evaluated at M_HSE = (1 - bias) M_true, in our h."""
        m_hse = (1.0 - bias) * np.asarray(m_true, float)
        if self.h_ref is None:                                           # pivot in h^-1 Msun
            return self.norm * ez ** self.ez * (m_hse * h / self.pivot_msun) ** self.slope
        m_auth = m_hse * (h / self.h_ref) ** -self.h_power_m            # our masses in the authors' units
        y_auth = self.norm * ez ** self.ez * (m_auth / self.pivot_msun) ** self.slope
        return y_auth * (h / self.h_ref) ** self.h_power_y


PUBLISHED = (
    # Pratt et al. 2009, A&A 498, 361, Table B.2: h(z)^-7/3 L[0.1-2.4], R < R500, vs M_Y (the Y_X-M relation of
    # Arnaud et al. 2007, calibrated on hydrostatic masses), BCES(Y|X) corrected for Malmquist bias (MB):
    # C = 0.83e44 h70^-2 erg/s at 2e14 h70^-1 Msun, alpha = 1.62; REXCESS, T = 2-9 keV.
    Published("Pratt+09 REXCESS L[0.1-2.4]-M (MB-corrected)", "lx_soft", 0.83e44, 2e14, 1.62, 7 / 3, 0.7, -2, -1,
              None, (10**14.0, 10**15.0), "Pratt et al. 2009, A&A 498, 361, Table B.2"),
    # Pratt et al. 2009, Table B.2, same relation without the Malmquist-bias correction: C = 1.03e44, alpha = 1.53.
    Published("Pratt+09 REXCESS L[0.1-2.4]-M (observed)", "lx_soft", 1.03e44, 2e14, 1.53, 7 / 3, 0.7, -2, -1,
              None, (10**14.0, 10**15.0), "Pratt et al. 2009, A&A 498, 361, Table B.2"),
    # Vikhlinin et al. 2009, ApJ 692, 1033: M500 = 3.02e14 h^-1 Msun (T/5 keV)^1.53 E(z)^-1 (hydrostatic masses of
    # relaxed Chandra clusters), i.e. T = 5 keV (M E(z) h / 3.02e14)^(1/1.53).
    Published("Vikhlinin+09 T-M", "t_sl_kev", 5.0, 3.02e14, 1 / 1.53, 1 / 1.53, None, 0, -1, None,
              (10**13.8, 10**15.2), "Vikhlinin et al. 2009, ApJ 692, 1033 (h^-1 units)"),
    # Arnaud et al. 2005, A&A 441, 893 (10 relaxed clusters, 2-9 keV, hydrostatic): h(z) M500 = 10^14.580 h70^-1 Msun
    # (T/5 keV)^1.71 (also Arnaud et al. 2007, A&A 474, L37, Table 2).
    Published("Arnaud+05 T-M", "t_sl_kev", 5.0, 10**14.580, 1 / 1.71, 1 / 1.71, 0.7, 0, -1, None,
              (10**14.3, 10**15.2), "Arnaud et al. 2005, A&A 441, 893"),
)
# Lovisari et al. 2015 (A&A 573, A118; a complete sample of RASS groups, XMM hydrostatic masses, 0.1-2.4 keV, R500): the
# L_X-M slope corrected for selection bias is 1.66 +- 0.22 (their abstract); compared on slope only, over the
# group half of our mass range (M500c < 10^14.2 Msun).
LOVISARI15_GROUP_SLOPE = (1.66, 0.22)
GROUP_MASS_MAX = 10**14.2


def compare(measured: dict[str, np.ndarray], bias: float, cosmology: str, redshift: float = 0.0) -> list[dict]:
    """Ours against each published relation: the median ratio ours/published in mass bins, and slopes."""
    from .cosmo import cosmology as colossus

    c = colossus(cosmology)
    keep = ~measured["bright_clump"]
    m = measured["m500c"][keep]
    rows = []
    for p in PUBLISHED:
        y = measured[p.quantity][keep]
        ratio = y / p.predict(m, bias, c.h, float(c.Ez(redshift)))
        in_range = (m >= p.mass_range[0]) & (m <= p.mass_range[1])
        fit_pub = fit_power_law(m, p.predict(m, bias, c.h, float(c.Ez(redshift))))
        fit_ours = fit_power_law(m[in_range], y[in_range]) if in_range.sum() > 3 else fit_power_law(m, y)
        rows.append({"relation": p.name, "source": p.source, "slope_published": p.slope,
                     "slope_ours": fit_ours.slope, "norm_ratio_pivot": fit_ours.norm / fit_pub.norm,
                     "median_ratio_in_range": float(np.median(ratio[in_range])) if in_range.any() else float("nan"),
                     "median_ratio_13.6-13.9": _median(ratio, m, 13.57, 13.9),
                     "median_ratio_14.2-14.5": _median(ratio, m, 14.2, 14.5),
                     "median_ratio_14.5-15.06": _median(ratio, m, 14.5, 15.06),
                     "scatter_ours": fit_ours.scatter_ln, "scatter_published": p.scatter_ln})
    groups = m < GROUP_MASS_MAX
    g = fit_power_law(m[groups], measured["lx_soft"][keep][groups])
    rows.append({"relation": "Lovisari+15 groups L[0.1-2.4]-M slope", "source": "Lovisari et al. 2015, A&A 573, A118",
                 "slope_published": LOVISARI15_GROUP_SLOPE[0], "slope_ours": g.slope,
                 "scatter_ours": g.scatter_ln, "scatter_published": None})
    return rows


def _finite(value):
    """NaN (an empty mass bin) as null, so that the JSON output is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _median(ratio, m, lo, hi) -> float:
    sel = (np.log10(m) >= lo) & (np.log10(m) < hi)
    return float(np.median(ratio[sel])) if sel.any() else float("nan")


# ---- the population ------------------------------------------------------------------------------------------------
def measure_population(cfg, progress: bool = True) -> dict[str, np.ndarray]:
    """Generate every synthetic halo of the config and measure it as the mocks see it; arrays by quantity."""
    from ..progress import Progress
    from .population import Population
    from .synthetic import Model

    model, population = Model(**cfg.synthetic), Population.from_config(cfg)
    m500c = population.masses(model, np.arange(model.n_halos))
    band = (cfg.baseline["emin_kev"], cfg.baseline["emax_kev"])
    bar = Progress("calibration", model.n_halos, enabled=progress)
    rows = []
    for halo_id, m, gas in population.halos(model):
        props = population.properties(model, halo_id, m)
        rows.append({**luminosities(gas, props.r500c, kt_min_kev=cfg.mocks["kt_min_kev"], mocks=cfg.mocks,
                                    cosmology=population.cosmology, band_kev=band),
                     "cool_core": props.cool_core, "merger": props.merger, "bright_clump": props.bright_clump})
        bar.update()
    bar.close()
    out = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    out["m500c"] = m500c
    return out


RELATIONS = (("L_soft-M", "lx_soft"), ("L_soft,ce-M", "lx_soft_ce"), ("L_bol-M", "lx_bol"),
             ("L_bol,ce-M", "lx_bol_ce"), ("counts_ce-M", "counts_ce"), ("T_sl-M", "t_sl_kev"))


def relations(measured: dict[str, np.ndarray]) -> dict[str, Fit]:
    """Fits over the halos without a bright nonphysical clump (a point source an analysis would mask)."""
    keep = ~measured["bright_clump"]
    m = measured["m500c"][keep]
    return {name: fit_power_law(m, measured[key][keep]) for name, key in RELATIONS if key in measured}


def main(argv: list[str] | None = None) -> int:
    from ..config import load_config

    parser = argparse.ArgumentParser(prog="python -m xraymass.halos.calibration", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--json", action="store_true", help="print the fits and comparisons as JSON")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    measured = measure_population(cfg)
    fits = relations(measured)
    rows = compare(measured, cfg.synthetic["hydrostatic_bias"], cfg.cosmology["name"], cfg.halos["redshift"])
    if args.json:
        out = {"fits": {k: asdict(v) for k, v in fits.items()}, "published": rows}
        print(json.dumps(_finite(out), indent=1))
        return 0
    s = cfg.synthetic
    print(f"{s['n_halos']} halos, {s['particles_per_halo']} particles each, seed {cfg.run['seed']}; "
          f"cool cores {int(measured['cool_core'].sum())}, mergers {int(measured['merger'].sum())}, "
          f"bright clumps (left out of the fits) {int(measured['bright_clump'].sum())}; "
          f"hydrostatic bias b = {s['hydrostatic_bias']}")
    for name, fit in fits.items():
        print(fit.line(name))
    for row in rows:
        print(f"{row['relation']:48s} slope ours {row['slope_ours']:5.2f} published {row['slope_published']:5.2f}"
              + "".join(f"  {k[13:] if k.startswith('median_ratio_') else k} {row[k]:5.2f}"
                        for k in ("median_ratio_13.6-13.9", "median_ratio_14.2-14.5", "median_ratio_14.5-15.06")
                        if k in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
