"""One halo's mock observation: the gas cuts, seeds, determinism, pixel geometry, empty halos, scratch."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from xraymass.config import load_config
from xraymass.mocks.observe import (generate_photons, halo_seeds, observation_geometry, observe_halo,
                                    read_event_file, yt_cosmology)

REPO = Path(__file__).resolve().parents[1]
KEV_K = 1.160451812e7


def gas_dataset(n: int = 2000, seed: int = 0, kt_kev: float = 4.0, rc_kpc: float = 80.0, r_max_kpc: float = 800.0,
                n0_cm3: float = 5e-3, temperature_kev=None, sfr=None):
    """An isothermal beta-model (beta = 2/3) particle halo centred on the origin, as yt particle data."""
    import yt

    rng = np.random.default_rng(seed)
    r = np.linspace(1e-3, r_max_kpc, 10_000)
    cdf = np.cumsum(r**2 / (1 + (r / rc_kpc) ** 2))
    radius = np.interp(rng.random(n), cdf / cdf[-1], r)
    direction = rng.standard_normal((n, 3))
    pos = direction / np.linalg.norm(direction, axis=1)[:, None] * radius[:, None]
    rho = 1.14 * 1.6726e-24 * n0_cm3 / (1 + (radius / rc_kpc) ** 2)
    kpc = 3.0857e21
    shell = 4 * np.pi * (r * kpc) ** 2 * 1.14 * 1.6726e-24 * n0_cm3 / (1 + (r / rc_kpc) ** 2)
    mass = np.full(n, np.trapezoid(shell, r * kpc) / n)
    hsml = 2.0 * (3 * mass / (4 * np.pi * rho)) ** (1 / 3) / kpc
    t = np.full(n, kt_kev) if temperature_kev is None else temperature_kev
    data = {("gas", f"particle_position_{a}"): (pos[:, i], "kpc") for i, a in enumerate("xyz")}
    data.update({("gas", f"particle_velocity_{a}"): (np.zeros(n), "km/s") for a in "xyz"})
    data.update({("gas", "particle_mass"): (mass, "g"), ("gas", "density"): (rho, "g/cm**3"),
                 ("gas", "temperature"): (t * KEV_K, "K"), ("gas", "metallicity"): (np.full(n, 0.3), "Zsun"),
                 ("gas", "smoothing_length"): (hsml, "kpc"),
                 ("gas", "star_formation_rate"): (np.zeros(n) if sfr is None else sfr, "Msun/yr")})
    return yt.load_particles(data, length_unit="kpc", mass_unit="g", bbox=np.array([[-1.1, 1.1]] * 3) * r_max_kpc,
                             periodicity=(False,) * 3, default_species_fields="ionized")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Config (short exposure, coarse spectra, backgrounds off), physics data, geometry."""
    from xraymass.mocks.physics import resolve_physics

    work = tmp_path_factory.mktemp("observe")
    cfg = load_config(REPO / "pipeline" / "demo.yaml",
                      [f"run.directory={work}", "mocks.exposure_ks=20", "mocks.nbins=100",
                       "mocks.particle_background=false", "mocks.foreground=false", "physics.data=embedded"])
    phys = resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)
    return {"cfg": cfg, "mocks": cfg.mocks, "phys": phys, "work": work,
            "geometry": observation_geometry(cfg.mocks, cfg.cosmology["name"]),
            "cosmology": yt_cosmology(cfg.cosmology["name"])}


def observe(setup, ds, halo_id=7, seed=11, mocks=None, scratch=None):
    return observe_halo(ds, centre_kpc=[0.0, 0.0, 0.0], halo_id=halo_id, seed=seed, phys=setup["phys"],
                        mocks=mocks or setup["mocks"], geometry=setup["geometry"], cosmology=setup["cosmology"],
                        scratch=scratch or setup["work"])


def test_seeds_depend_on_seed_halo_and_projection_only():
    a = halo_seeds(1, 5, 3)
    assert a == halo_seeds(1, 5, 3)
    assert halo_seeds(1, 5, 2)["project"] == a["project"][:2]
    values = [a["photons"], *a["project"], *a["detect"]]
    assert len(set(values)) == len(values)
    assert halo_seeds(2, 5, 3)["photons"] != a["photons"]
    assert halo_seeds(1, 6, 3)["project"][0] != a["project"][0]
    assert all(0 <= v < 2**32 for v in values)


def test_geometry_of_the_paper_field(setup):
    g = setup["geometry"]
    assert g.npix == 2400
    # Planck15 at z = 0.05: D_A = 208.3 Mpc, 1.0098 kpc per arcsec (astropy.cosmology.Planck15)
    assert g.kpc_per_arcsec == pytest.approx(1.0098, rel=1e-3)
    assert g.kpc_to_pix(1000.0) == pytest.approx(1000.0 / g.kpc_per_arcsec / 0.5)


def test_cold_and_star_forming_gas_emits_no_photons(setup, tmp_path):
    n = 3000
    t = np.full(n, 5.0)
    sfr = np.zeros(n)
    t[:1000] = 0.09                  # cold: below kt_min_kev = 0.1
    sfr[1000:2000] = 0.5             # hot but star-forming
    ds = gas_dataset(n, seed=3, temperature_kev=t, sfr=sfr)
    n_photons, n_cells = generate_photons(ds, tmp_path / "photons", [0.0, 0.0, 0.0], setup["phys"], setup["mocks"],
                                          setup["cosmology"], seed=5)
    assert n_photons > 0
    with h5py.File(tmp_path / "photons.h5", "r") as f:
        cells = np.stack([f["data"][a][:] for a in "xyz"], axis=1)
    pos = np.stack([ds.all_data()["gas", f"particle_position_{a}"].to_value("kpc") for a in "xyz"], axis=1)
    nearest = np.array([np.argmin(np.sum((pos - c) ** 2, axis=1)) for c in cells])
    assert n_cells == len(cells) > 0
    assert nearest.min() >= 2000, "a cold or star-forming particle produced photons"


def test_a_halo_observes_the_same_events_twice_centred_on_the_field(setup):
    ds = gas_dataset(2000, seed=1, rc_kpc=5.0, r_max_kpc=40.0, n0_cm3=0.5)
    first, second = observe(setup, ds), observe(setup, ds)
    assert first.n_photons > 1000 and min(first.counts) > 100
    for a, b in zip(first.x + first.y + first.energy, second.x + second.y + second.energy):
        assert a.dtype == np.float32 and np.array_equal(a, b)
    half = setup["geometry"].npix / 2
    for p in range(3):
        assert np.median(first.x[p]) == pytest.approx(half, abs=3)
        assert np.median(first.y[p]) == pytest.approx(half, abs=3)
    assert not np.array_equal(first.x[0][:50], first.x[1][:50])
    energy = np.concatenate(first.energy)
    assert 0.05 < energy.min() and energy.max() < 15.0
    other = observe(setup, ds, halo_id=8)
    assert not np.array_equal(other.energy[0][:50], first.energy[0][:50])


def test_a_faint_halo_gives_empty_event_lists_and_leaves_no_scratch(setup, tmp_path):
    ds = gas_dataset(500, seed=2, kt_kev=0.05)
    events = observe(setup, ds, scratch=tmp_path)
    assert events.n_photons == 0 and events.counts == [0, 0, 0]
    x, y, energy, offsets = events.concatenated()
    assert offsets == [0, 0, 0, 0] and x.size == y.size == energy.size == 0
    assert list(tmp_path.iterdir()) == []


def test_scratch_is_removed_after_a_halo(setup, tmp_path):
    ds = gas_dataset(1000, seed=4)
    events = observe(setup, ds, scratch=tmp_path)
    assert sum(events.counts) > 0
    assert list(tmp_path.iterdir()) == []


def test_reading_a_missing_event_file_gives_no_events(tmp_path):
    x, y, e = read_event_file(tmp_path / "none.fits", 2400)
    assert x.size == y.size == e.size == 0
