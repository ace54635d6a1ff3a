"""Scaling relations of a halo population, measured from its gas particles (docs/calibration.md).

Per halo, from the gas the mocks would observe (kT > 0.1 keV, not star-forming), projected along z:
- L_X: thermal bremsstrahlung, eps = 1.42e-27 g_ff T^1/2 n_e sum(Z^2 n_i) erg s^-1 cm^-3 with g_ff = 1.2
  (Rybicki & Lightman 1979; Sarazin 1988), bolometric and restricted to the 0.5-7 keV band
  (the fraction exp(-0.5 keV/kT) - exp(-7 keV/kT) of a flat-Gaunt spectrum), inside R500c and in the
  core-excised annulus 0.15-1 R500c;
- T_sl: the spectroscopic-like temperature (Mazzotta et al. 2004), weights n_e n_H V T^-3/4, in 0.15-1 R500c.
Relations are fitted as ln Y = a + b ln(M500c / 1e14.5 Msun) by least squares; the scatter is the
standard deviation of the residuals in ln Y (a fraction for small values).

    python -m xraymass.halos.calibration --config pipeline/demo.yaml [--set SECTION.KEY=VALUE ...]
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass

import numpy as np

from .cosmo import KEV_K, M_P_G, MSUN_G, X_H

KT_MIN_KEV = 0.1
G_FF = 1.2
NE_PER_NH = (1.0 + X_H) / (2.0 * X_H)       # fully ionised H + He
Z2NI_PER_NH = 1.0 / X_H                     # sum over ions of Z^2 n_i: n_H + 4 n_He
BAND_KEV = (0.5, 7.0)
PIVOT_MSUN = 10**14.5
CORE_EXCISED = (0.15, 1.0)


def luminosities(gas: dict[str, np.ndarray], r500c: float, centre=(0.0, 0.0, 0.0)) -> dict[str, float]:
    """L_X (erg/s) within R500c and in 0.15-1 R500c (bolometric and 0.5-7 keV), and T_sl (keV)."""
    keep = (gas["temperature"] > KT_MIN_KEV * KEV_K) & (gas["star_formation_rate"] <= 0.0)
    rel = gas["position"][keep] - np.asarray(centre, float)
    r_proj = np.hypot(rel[:, 0], rel[:, 1]) / r500c
    t_k = gas["temperature"][keep]
    n_h = gas["density"][keep] * X_H / M_P_G
    volume = gas["mass"][keep] * MSUN_G / gas["density"][keep]
    em = n_h * n_h * NE_PER_NH * volume                                   # n_e n_H V
    bol = 1.42e-27 * G_FF * np.sqrt(t_k) * em * Z2NI_PER_NH              # n_e sum(Z^2 n_i) = em / X_H
    kt = t_k / KEV_K
    band = bol * (np.exp(-BAND_KEV[0] / kt) - np.exp(-BAND_KEV[1] / kt))
    inside = r_proj <= 1.0
    ring = (r_proj >= CORE_EXCISED[0]) & inside
    w = em[ring] * kt[ring] ** -0.75
    return {
        "lx_bol": float(bol[inside].sum()), "lx_bol_ce": float(bol[ring].sum()),
        "lx_band": float(band[inside].sum()), "lx_band_ce": float(band[ring].sum()),
        "t_sl_kev": float((w * kt[ring]).sum() / w.sum()) if w.size else float("nan"),
    }


@dataclass
class Fit:
    slope: float
    norm: float           # Y at the pivot mass 10^14.5 Msun
    scatter_ln: float     # standard deviation of ln-residuals

    def line(self, name: str) -> str:
        return (f"{name:14s} slope {self.slope:6.3f}  Y(10^14.5) {self.norm:10.4g}  "
                f"scatter {100 * self.scatter_ln:5.1f}%")


def fit_power_law(m500c: np.ndarray, y: np.ndarray) -> Fit:
    x = np.log(np.asarray(m500c) / PIVOT_MSUN)
    ly = np.log(np.asarray(y))
    b, a = np.polyfit(x, ly, 1)
    resid = ly - (a + b * x)
    return Fit(float(b), float(np.exp(a)), float(np.std(resid, ddof=2)))


def measure_population(cfg, progress: bool = True) -> dict[str, np.ndarray]:
    """Generate every synthetic halo of the config and measure it; returns arrays by quantity."""
    from ..progress import Progress
    from .synthetic import Model

    model = Model(**cfg.synthetic)
    halos, seed, name = cfg.halos, cfg.run["seed"], cfg.cosmology["name"]
    m500c = model.masses(seed, np.arange(model.n_halos), halos["log_m500c_min"], halos["log_m500c_max"],
                         halos["redshift"], name)
    bar = Progress("calibration", model.n_halos, enabled=progress)
    rows = []
    for halo_id, m, gas in model.population(seed, halos["log_m500c_min"], halos["log_m500c_max"],
                                            halos["redshift"], name):
        props = model.properties(seed, halo_id, m, halos["redshift"], name)
        rows.append({**luminosities(gas, props.r500c), "cool_core": props.cool_core, "merger": props.merger,
                     "bright_clump": props.bright_clump})
        bar.update()
    bar.close()
    out = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    out["m500c"] = m500c
    return out


def relations(measured: dict[str, np.ndarray]) -> dict[str, Fit]:
    """Fits over the halos without a bright nonphysical clump (a point source an analysis would mask)."""
    keep = ~measured["bright_clump"]
    m = measured["m500c"][keep]
    return {name: fit_power_law(m, measured[key][keep]) for name, key in (
        ("L_bol-M", "lx_bol"), ("L_bol,ce-M", "lx_bol_ce"), ("L_0.5-7-M", "lx_band"),
        ("L_0.5-7,ce-M", "lx_band_ce"), ("T_sl-M", "t_sl_kev"))}


def main(argv: list[str] | None = None) -> int:
    from ..config import load_config

    parser = argparse.ArgumentParser(prog="python -m xraymass.halos.calibration", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="pipeline/demo.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--json", action="store_true", help="print the fits as JSON")
    args = parser.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    measured = measure_population(cfg)
    fits = relations(measured)
    if args.json:
        print(json.dumps({k: asdict(v) for k, v in fits.items()}, indent=1))
    else:
        s = cfg.synthetic
        print(f"{s['n_halos']} halos, {s['particles_per_halo']} particles each, seed {cfg.run['seed']}; "
              f"cool cores {int(measured['cool_core'].sum())}, mergers {int(measured['merger'].sum())}, "
              f"bright clumps (left out of the fits) {int(measured['bright_clump'].sum())}")
        for name, fit in fits.items():
            print(fit.line(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
