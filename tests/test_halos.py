"""The synthetic halo population: determinism, the particles, the catalogue stage, the yt dataset, calibration."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from conftest import xraymass
from xraymass.config import load_config
from xraymass.halos import gas_arrays, load_gas
from xraymass.halos.calibration import luminosities
from xraymass.halos.cosmo import cosmology
from xraymass.halos.synthetic import Model, mt_temperature_kev
from xraymass.store import is_complete, open_store

SEED, Z, COSMO = 20190507, 0.0, "planck15"
LOG_MIN, LOG_MAX = 13.57, 15.06
KEV_K = 1.160451812e7
M_P, X_H = 1.67262192369e-24, 0.76


def small(**overrides) -> Model:
    return Model(**{"n_halos": 8, "particles_per_halo": 4000, **overrides})


def assert_same_gas(a, b):
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_one_halo_alone_equals_the_same_halo_in_the_population():
    model = small()
    population = list(model.population(SEED, LOG_MIN, LOG_MAX, Z, COSMO))
    halo_id, m500c, gas_in_population = population[5]
    alone_mass = model.masses(SEED, np.array([5]), LOG_MIN, LOG_MAX, Z, COSMO)[0]
    assert alone_mass == m500c
    assert_same_gas(model.gas(SEED, 5, alone_mass, Z, COSMO), gas_in_population)
    bigger = Model(n_halos=20, particles_per_halo=4000)
    np.testing.assert_array_equal(bigger.masses(SEED, np.arange(20), LOG_MIN, LOG_MAX, Z, COSMO)[:8],
                                  [m for _, m, _ in population])


def test_other_seed_or_halo_gives_other_gas():
    model = small()
    m = 3e14
    a = model.gas(SEED, 1, m, Z, COSMO)
    assert not np.array_equal(a["position"], model.gas(SEED + 1, 1, m, Z, COSMO)["position"])
    assert not np.array_equal(a["position"], model.gas(SEED, 2, m, Z, COSMO)["position"])


def test_masses_follow_the_mass_function_inside_the_range():
    model = Model(n_halos=400)
    m = model.masses(SEED, np.arange(400), LOG_MIN, LOG_MAX, Z, COSMO)
    logm = np.log10(m)
    assert logm.min() >= LOG_MIN and logm.max() <= LOG_MAX
    # a steeply falling mass function: most halos in the lowest third of the range in log M
    assert np.mean(logm < LOG_MIN + (LOG_MAX - LOG_MIN) / 3) > 0.7
    assert np.median(logm) < 14.0


def test_particles_are_complete_and_physical():
    model = small(particles_per_halo=20000, bright_clump_probability=1.0, cool_core_fraction=0.75)
    m = 4e14
    for halo_id in range(6):
        props = model.properties(SEED, halo_id, m, Z, COSMO)
        gas = model.gas(SEED, halo_id, m, Z, COSMO)
        n = 20000
        assert all(len(v) == n for v in gas.values())
        assert gas["position"].shape == (n, 3) and gas["velocity"].shape == (n, 3)
        for key, value in gas.items():
            assert np.all(np.isfinite(value)), key
        assert np.all(gas["density"] > 0) and np.all(gas["temperature"] > 0) and np.all(gas["mass"] > 0)
        r = np.linalg.norm(gas["position"], axis=1) / props.r500c
        assert r.max() > 2.0 and np.mean(r > 1.0) > 0.2
        volume_kpc3 = gas["mass"] * 1.988409870698051e33 / gas["density"] / 3.085677581491367e21**3
        np.testing.assert_allclose(gas["smoothing_length"], 2.0 * (3 * volume_kpc3 / (4 * np.pi)) ** (1 / 3))
        sf = gas["star_formation_rate"] > 0
        n_h = gas["density"] * X_H / M_P
        assert np.all(n_h[sf] >= 0.13) and np.all(gas["temperature"][sf] < 1e6)
        assert np.all(r[sf] < 0.05)
        if props.cool_core:
            assert sf.sum() == round(0.002 * n)
        hot = gas["temperature"] > 0.1 * KEV_K
        assert np.mean(hot) > 0.95
        # the ICM's gas mass inside R500 is f_gas M500 (to sampling noise and the small extra phases)
        if not props.merger:
            inside = (np.linalg.norm(gas["position"], axis=1) < props.r500c) & ~sf
            assert gas["mass"][inside].sum() == pytest.approx(props.f_gas * m, rel=0.1)
        # the bright clump: dense, 0.2-0.5 keV, not star-forming, off centre
        clump = (n_h > 0.9) & ~sf
        assert clump.sum() >= 2
        assert np.all(r[clump] > 0.05)


def test_cool_cores_are_denser_and_cooler_in_the_centre():
    m = 3e14
    cc = small(particles_per_halo=20000, cool_core_fraction=0.75, merger_fraction=0.0)
    core_ratio = {True: [], False: []}
    for halo_id in range(12):
        props = cc.properties(SEED, halo_id, m, Z, COSMO)
        gas = cc.gas(SEED, halo_id, m, Z, COSMO)
        r = np.linalg.norm(gas["position"], axis=1) / props.r500c
        icm = gas["star_formation_rate"] == 0
        core = icm & (r < 0.05)
        ring = icm & (r > 0.2) & (r < 0.5)
        core_ratio[props.cool_core].append(np.median(gas["temperature"][core]) / np.median(gas["temperature"][ring]))
    assert core_ratio[True] and core_ratio[False]
    assert max(core_ratio[True]) < min(core_ratio[False])


def test_stage_writes_the_catalogue_and_skips_a_complete_one(write_config, tmp_path):
    path = write_config({"synthetic": {"n_halos": 12, "particles_per_halo": 2000}})
    out = xraymass("halos", "--config", str(path))
    assert out.returncode == 0, out.stderr
    cfg = load_config(path)
    root = open_store(cfg.store_path, "r")
    halos = root["halos"]
    assert is_complete(halos)
    assert halos.attrs["source"] == "synthetic" and halos.attrs["redshift"] == 0.0
    assert halos.attrs["cosmology"]["name"] == "planck15" and halos.attrs["provenance"]["stage"] == "halos"
    ids = halos["halo_id"][...]
    np.testing.assert_array_equal(ids, np.arange(12))
    m = halos["m500c"][...]
    np.testing.assert_allclose(halos["log_m500c"][...], np.log10(m))
    np.testing.assert_array_equal(m, Model(n_halos=12).masses(cfg.run["seed"], ids, LOG_MIN, LOG_MAX, Z, COSMO))
    rho_c = 277.536627245708 * 0.6774**2  # Msun / kpc^3 at z = 0, Planck15
    np.testing.assert_allclose(halos["r500c"][...], (3 * m / (4 * np.pi * 500 * rho_c)) ** (1 / 3), rtol=1e-6)
    assert halos["centre"].shape == (12, 3)
    np.testing.assert_array_equal(halos["n_gas"][...], 2000)
    effective = yaml.safe_load((cfg.run_dir / "halos.config.yaml").read_text())
    assert effective["config"]["synthetic"]["n_halos"] == 12
    again = xraymass("halos", "--config", str(path))
    assert again.returncode == 0 and "nothing to do" in again.stderr

    gas, row = gas_arrays(cfg, 7)
    alone = Model(**cfg.synthetic).gas(cfg.run["seed"], 7, m[7], Z, COSMO)
    assert_same_gas(gas, alone)
    assert len(gas["mass"]) == halos["n_gas"][7]


@pytest.mark.parametrize("setting, words", [
    ("run.seed=-1", "run.seed"),
    ("halos.log_m500c_min=15.5", "mass range is empty"),
    ("synthetic.n_halos=0", "synthetic.n_halos"),
])
def test_bad_input_is_one_line_and_nothing_complete(write_config, setting, words):
    path = write_config({"synthetic": {"n_halos": 5, "particles_per_halo": 2000}})
    out = xraymass("halos", "--config", str(path), "--set", setting)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xraymass halos: error:") and words in lines[0], out.stderr
    cfg = load_config(path)
    if (cfg.store_path / "zarr.json").is_file():
        root = open_store(cfg.store_path, "r")
        assert "halos" not in root or not is_complete(root["halos"])


def test_load_gas_is_a_yt_dataset_that_pyxsim_thermal_models_accept(write_config):
    from pyxsim.photon_list import determine_fields
    from pyxsim.source_models.thermal_sources.base import ThermalSourceModel

    path = write_config({"synthetic": {"n_halos": 4, "particles_per_halo": 3000}})
    assert xraymass("halos", "--config", str(path)).returncode == 0
    cfg = load_config(path)
    gas, row = gas_arrays(cfg, 2)
    ds = load_gas(cfg, 2)
    assert ds.particle_types == ("gas",) and ds._sph_ptypes == ("gas",)
    assert ds.parameters["halo_id"] == 2 and ds.parameters["r500c"] == pytest.approx(row["r500c"])
    ad = ds.all_data()
    units = {"particle_position_x": "kpc", "particle_velocity_y": "km/s", "particle_mass": "Msun",
             "density": "g/cm**3", "temperature": "K", "metallicity": "Zsun", "smoothing_length": "kpc",
             "star_formation_rate": "Msun/yr"}
    source = {"particle_position_x": gas["position"][:, 0], "particle_velocity_y": gas["velocity"][:, 1],
              "particle_mass": gas["mass"], "density": gas["density"], "temperature": gas["temperature"],
              "metallicity": gas["metallicity"], "smoothing_length": gas["smoothing_length"],
              "star_formation_rate": gas["star_formation_rate"]}
    for name, unit in units.items():
        np.testing.assert_allclose(np.sort(ad["gas", name].to(unit).d), np.sort(source[name]), rtol=1e-10,
                                   err_msg=name)
    em = ad["gas", "emission_measure"].to("cm**-3").d
    n_h = gas["density"] * X_H / M_P
    expected_em = n_h * n_h * (1 + X_H) / (2 * X_H) * gas["mass"] * 1.988409870698051e33 / gas["density"]
    np.testing.assert_allclose(np.sort(em), np.sort(expected_em), rtol=2e-3)

    class Bremsstrahlung:
        """The spectral-model interface pyXSIM's ThermalSourceModel reads (no photons are made here)."""
        ebins = np.linspace(0.1, 10.0, 51)
        emid, de = 0.5 * (ebins[1:] + ebins[:-1]), np.diff(ebins)
        model_vers, var_elem_names, var_ion_names = "test", [], []

        def prepare_spectrum(self, redshift):
            self.redshift = redshift

    model = ThermalSourceModel(Bremsstrahlung(), 0.1, 10.0, 50, ("gas", "metallicity"),
                               temperature_field=("gas", "temperature"),
                               emission_measure_field=("gas", "emission_measure"))
    sphere = ds.sphere(ds.parameters["centre_kpc"], (row["r500c"], "kpc"))
    model.setup_model("spectrum", sphere, 0.05)
    assert model.ftype == "gas" and model.Zmet == ("gas", "metallicity") and model.Zconvert == 1.0
    positions, velocities, width = determine_fields(ds, "gas", False)
    assert width == ("gas", "smoothing_length")
    for f in [*positions, *velocities, width, model.emission_measure_field, model.temperature_field]:
        assert sphere[f].size > 0.2 * len(gas["mass"])


def test_halo_temperature_is_the_mt_temperature_in_the_core_excised_annulus():
    model = small(particles_per_halo=20000, bright_clump_probability=0.0)
    for halo_id, m in enumerate([5e13, 2e14, 8e14, 3e14, 1e14]):
        props = model.properties(SEED, halo_id, m, Z, COSMO)
        measured = luminosities(model.gas(SEED, halo_id, m, Z, COSMO), props.r500c)["t_sl_kev"]
        assert measured == pytest.approx(props.t_x_kev, rel=0.08)
    # Vikhlinin et al. (2009) at 10^14.5 Msun, z = 0, h = 0.6774: 5 keV (10^14.5 h / 3.02e14)^(1/1.53)
    assert mt_temperature_kev(10**14.5, 0.0, cosmology(COSMO)) == pytest.approx(3.9946, rel=1e-3)


def test_mt_relation_is_applied_to_the_hydrostatic_mass():
    c = cosmology(COSMO)
    for bias in (0.0, 0.2, 0.35):
        model = small(scatter_ln_t=0.0, hydrostatic_bias=bias)
        props = model.properties(SEED, 3, 3e14, Z, COSMO)
        assert props.t_x_kev == pytest.approx(mt_temperature_kev((1 - bias) * 3e14, Z, c), rel=1e-12)
    # b = 0.2 lowers T by 0.8^(1/1.53) = 0.864 at fixed true mass
    assert (small(scatter_ln_t=0.0).properties(SEED, 3, 3e14, Z, COSMO).t_x_kev
            / small(scatter_ln_t=0.0, hydrostatic_bias=0.0).properties(SEED, 3, 3e14, Z, COSMO).t_x_kev
            == pytest.approx(0.8 ** (1 / 1.53), rel=1e-12))


def test_clumping_is_bounded_outside_r500c_and_isobaric():
    from xraymass.halos.synthetic import _clump, clumping_factor

    assert clumping_factor(0.0, 1.2, 1.5) == 1.0 and clumping_factor(1.0, 1.2, 1.5) == pytest.approx(1.2)
    assert clumping_factor(3.0, 1.2, 1.5) == clumping_factor(1.5, 1.2, 1.5) == pytest.approx(1.45)
    rng = np.random.default_rng(1)
    n, r500 = 400_000, 1000.0
    for x, expected in ((1.0, 1.2), (2.5, 1.45)):
        pos = np.zeros((n, 3))
        pos[:, 0] = x * r500
        rho, t = np.full(n, 2.0), np.full(n, 3.0)
        rho_c, t_c = _clump(rng, pos, rho, t, r500, 1.2, 1.5)
        np.testing.assert_allclose(rho_c * t_c, rho * t, rtol=1e-12)         # pressure unchanged: isobaric
        delta = rho_c / rho
        assert np.mean(delta) == pytest.approx(expected, rel=0.01)            # <rho^2>/<rho>^2 for equal masses
        assert np.mean(1.0 / delta) == pytest.approx(1.0, rel=0.01)           # volume conserved
        assert np.corrcoef(np.log(delta), np.log(t_c))[0, 1] < -0.999         # T anticorrelated with density
