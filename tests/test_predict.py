"""`xraymass predict` on level-2 event files in the real Chandra layout, written from mocks in a trained run's
store: the same events give the same stamps and masses as the store path; out-of-domain and bad input give one
line and no result."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
import zarr
from astropy.io import fits

from conftest import xraymass
from predict_run import N_FOLDS, build_trained_run

from xraymass.config import load_config
from xraymass.predict.eventfile import SKY_REFERENCE_PIX, read_level2
from xraymass.predict.stage import predict_folds, trained_models
from xraymass.stamps.dihedral import all_transforms

pytestmark = pytest.mark.slow  # every test here uses a trained run (about a minute to build)

RA, DEC = 30.0, 45.0  # demo.yaml's mocks.sky_center_deg: the pointing, on the halo centre
LEVEL2_COLUMNS = ["time", "ccd_id", "node_id", "expno", "chipx", "chipy", "tdetx", "tdety", "detx", "dety", "x", "y",
                  "pha", "energy", "pi", "fltgrade", "grade", "status"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("predict")
    run = build_trained_run(base)
    halo = int(run["info"]["halo_id"][2])
    evt = base / "evt2.fits"
    out = xraymass("predict", "--config", str(run["config"]), "--write-event-file", str(evt), "--halo", str(halo),
                   "--projection", "y")
    assert out.returncode == 0, out.stderr
    return {**run, "base": base, "halo": halo, "evt": evt}


def predict(trained, out: Path, *extra: str, evt: Path | None = None, redshift: str = "0.05"):
    return xraymass("predict", "--config", str(trained["config"]), "--events", str(evt or trained["evt"]),
                    "--redshift", redshift, "--out", str(out), *extra)


def one_error_line(out) -> str:
    errors = [line for line in out.stderr.splitlines() if line.startswith("xraymass predict: error:")]
    assert len(errors) == 1, out.stderr
    return errors[0]


def test_the_event_file_has_the_level2_layout_and_holds_the_store_events_exactly(trained):
    with fits.open(trained["evt"]) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "EVENTS", "GTI"]
        events = hdul["EVENTS"]
        assert list(events.columns.names) == LEVEL2_COLUMNS
        units = {c.name: c.unit for c in events.columns}
        assert units["energy"] == "eV" and units["x"] == "pixel" and units["time"] == "s"
        h = events.header
        n = LEVEL2_COLUMNS.index("x") + 1
        assert (h[f"TCTYP{n}"], h[f"TCTYP{n + 1}"]) == ("RA---TAN", "DEC--TAN")
        assert h[f"TCRPX{n}"] == SKY_REFERENCE_PIX and h[f"TCRVL{n}"] == RA and h[f"TCRVL{n + 1}"] == DEC
        assert h[f"TCDLT{n}"] == pytest.approx(-0.5 / 3600) and h[f"TCDLT{n + 1}"] == pytest.approx(0.5 / 3600)
        for key, value in (("TELESCOP", "CHANDRA"), ("INSTRUME", "ACIS"), ("CONTENT", "EVT2"), ("EXPOSURE", 1e5),
                           ("LIVETIME", 1e5), ("ONTIME", 1e5), ("RA_PNT", RA), ("DEC_PNT", DEC), ("DATAMODE", "VFAINT")):
            assert h[key] == value, key
        for key in ("DETNAM", "OBS_ID", "TSTART", "TSTOP", "ROLL_PNT", "RA_NOM", "DEC_NOM", "TIMEDEL", "MJDREF", "DATE-OBS"):
            assert key in h, key
        assert h["TSTOP"] - h["TSTART"] == pytest.approx(1e5)
        gti = hdul["GTI"]
        assert gti.header["CCD_ID"] == 3 and gti.data["STOP"][0] - gti.data["START"][0] == pytest.approx(1e5)
        assert np.all(np.diff(events.data["time"]) >= 0)
    x, y, energy = trained["info"]["events"][trained["halo"]][1]  # projection y
    obs = read_level2(trained["evt"])
    centre = trained["info"]["centre"]
    order = np.lexsort((obs.y, obs.x))
    expected = np.lexsort((y.astype(np.float64) + SKY_REFERENCE_PIX - centre[1],
                           x.astype(np.float64) + SKY_REFERENCE_PIX - centre[0]))
    assert np.array_equal(obs.x[order] - (SKY_REFERENCE_PIX - centre[0]), x[expected].astype(np.float64))
    assert np.array_equal(obs.y[order] - (SKY_REFERENCE_PIX - centre[1]), y[expected].astype(np.float64))
    assert np.allclose(obs.energy_kev[order], energy[expected], rtol=1e-6)
    assert obs.exposure_s == 1e5 and obs.pixel_arcsec == 0.5


def test_the_store_path_and_the_event_file_path_give_identical_stamps_and_masses(trained):
    out_dir = trained["base"] / "result"
    out = predict(trained, out_dir, "--ra", str(RA), "--dec", str(DEC))
    assert out.returncode == 0, out.stderr
    store = zarr.open_group(str(trained["run_dir"] / "store.zarr"), mode="r", use_consolidated=False)
    stamps = store["stamps"]
    row = int(np.flatnonzero((stamps["halo_id"][:] == trained["halo"]) & (stamps["projection"][:] == 1)
                             & (stamps["augmentation"][:] == 0))[0])
    fed = fits.getdata(out_dir / "stamp.fits")
    assert fed.sum() > 0 and np.array_equal(fed, stamps["images"][row])
    fold = int(stamps["fold"][row])
    group = store[f"predictions/fold_{fold:02d}"]
    mine = (group["halo_id"][:] == trained["halo"]) & (group["projection"][:] == 1)
    stored = dict(zip(group["augmentation"][:][mine].tolist(), group["log_m500c_pred"][:][mine].tolist()))
    with open(out_dir / "predictions.csv") as f:
        rows = rows_csv = list(csv.DictReader(f))
    assert sorted({int(r["fold"]) for r in rows}) == list(range(N_FOLDS)) and len(rows) == 8 * N_FOLDS
    ours = {int(r["augmentation"]): float(r["log_m500c_pred"]) for r in rows if int(r["fold"]) == fold}
    assert sorted(ours) == sorted(stored) == list(range(8))
    # the store path: the stamps stage's own images of this halo and projection, through the same fold models
    # in the same batch, give exactly the masses of the event-file path
    image_rows = [int(np.flatnonzero((stamps["halo_id"][:] == trained["halo"]) & (stamps["projection"][:] == 1)
                                     & (stamps["augmentation"][:] == a))[0]) for a in range(8)]
    assert all(np.array_equal(stamps["images"][r], all_transforms(fed)[a]) for a, r in enumerate(image_rows))
    from_store = predict_folds(trained_models(load_config(trained["config"])), stamps["images"][image_rows[0]])
    table = {(int(r["fold"]), int(r["augmentation"])): np.float32(r["log_m500c_pred"]) for r in rows_csv}
    assert all(from_store[k, a] == table[(k, a)] for k in range(N_FOLDS) for a in range(8))
    for a in range(8):  # training predicted in batches of other images: equal to float32 rounding
        assert ours[a] == pytest.approx(stored[a], abs=2e-6), (a, ours[a], stored[a])
    summary = yaml.safe_load((out_dir / "summary.yaml").read_text())
    per_fold = [np.mean([float(r["log_m500c_pred"]) for r in rows if int(r["fold"]) == k]) for k in range(N_FOLDS)]
    assert summary["log_m500c"]["value"] == pytest.approx(np.mean(per_fold), abs=1e-6)
    assert summary["log_m500c"]["fold_spread"] == pytest.approx(np.std(per_fold, ddof=1), abs=1e-6)
    assert summary["log_m500c"]["n_models"] == N_FOLDS and "not a calibrated uncertainty" in summary["log_m500c"]["what"]
    assert summary["provenance"]["stage"] == "predict" and summary["centre"]["sky_pix"] == [SKY_REFERENCE_PIX] * 2
    assert all(line.split(": ")[1] in ("inside", "warning") for line in summary["domain"])
    assert "redshift: inside" in out.stderr and "exposure: inside" in out.stderr and "field coverage: inside" in out.stderr
    assert re.search(r"log10\(M500c/Msun\) = \d+\.\d{3}, fold spread \d\.\d{3} dex", out.stdout), out.stdout
    assert (out_dir / "predict.png").stat().st_size > 0
    # the centre found from the events lands near the halo centre, and the stamp is fed all the same
    found = predict(trained, trained["base"] / "centroid", "--centre", "centroid")
    assert found.returncode == 0, found.stderr
    centre = yaml.safe_load((trained["base"] / "centroid" / "summary.yaml").read_text())["centre"]
    assert np.hypot(*(np.asarray(centre["sky_pix"]) - SKY_REFERENCE_PIX)) < 40  # 20": the blob is 40-70 pixels wide


def _rewrite(src: Path, dst: Path, header: dict | None = None, drop: str | None = None) -> Path:
    with fits.open(src) as hdul:
        events = hdul["EVENTS"]
        if drop:
            keep = [c for c in events.columns if c.name != drop]
            new = fits.BinTableHDU.from_columns(keep, header=events.header, name="EVENTS")
            hdul = fits.HDUList([hdul[0], new, hdul["GTI"]])
        for key, value in (header or {}).items():
            hdul["EVENTS"].header[key] = value
        hdul.writeto(dst)
    return dst


@pytest.mark.parametrize("case, status, message", [
    ("redshift", 4, r"redshift: outside: z = 0\.2; the models were trained at z = 0\.05 .* --set mocks\.redshift=0\.2"),
    ("short", 4, r"exposure: outside: 50 ks \(EXPOSURE\); the models were trained at 100 ks .* --set mocks\.exposure_ks=50"),
    ("edge", 4, r"field coverage: outside: \d+\.\d% of the stamp's field lies on the CCDs"),
    ("no energy", 1, r"EVENTS has no 'energy' column"),
    ("not fits", 1, r"not a FITS file"),
])
def test_out_of_domain_and_bad_input_give_one_line_and_no_result(trained, tmp_path, case, status, message):
    evt, args, redshift = trained["evt"], ["--ra", str(RA), "--dec", str(DEC)], "0.05"
    if case == "redshift":
        redshift = "0.2"
    elif case == "short":
        evt = _rewrite(evt, tmp_path / "short.fits", {"EXPOSURE": 5e4, "LIVETIME": 5e4})
    elif case == "edge":
        args = ["--ra", str(RA), "--dec", str(DEC + 6.0 / 60)]  # 6' north: the stamp reaches past the field
    elif case == "no energy":
        evt = _rewrite(evt, tmp_path / "noenergy.fits", drop="energy")
    elif case == "not fits":
        evt = tmp_path / "evt2.fits"
        evt.write_text("TIME X Y ENERGY\n1 2 3 4\n")
    out = predict(trained, tmp_path / "out", *args, evt=evt, redshift=redshift)
    assert out.returncode == status, out.stderr
    assert re.search(message, out.stderr), out.stderr
    line = one_error_line(out)
    if status == 4:
        assert line.startswith("xraymass predict: error: outside the trained domain: ") and "no prediction" in line
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.*"))
    assert "log10(M500c/Msun)" not in out.stdout


def test_a_longer_exposure_is_thinned_to_the_trained_one(trained, tmp_path):
    evt = _rewrite(trained["evt"], tmp_path / "long.fits", {"EXPOSURE": 4e5, "LIVETIME": 4e5})
    out = predict(trained, tmp_path / "out", "--ra", str(RA), "--dec", str(DEC), evt=evt)
    assert out.returncode == 0, out.stderr
    assert "exposure: adjusted: 400 ks (EXPOSURE); the models were trained at 100 ks: Poisson-thinned" in out.stderr
    summary = yaml.safe_load((tmp_path / "out" / "summary.yaml").read_text())
    n, used = summary["event_file"]["events"], summary["event_file"]["events_used"]
    assert abs(used - n / 4) < 4 * np.sqrt(n * 0.25 * 0.75)
    again = predict(trained, tmp_path / "again", "--ra", str(RA), "--dec", str(DEC), evt=evt)
    assert again.returncode == 0
    assert np.array_equal(fits.getdata(tmp_path / "out" / "stamp.fits"), fits.getdata(tmp_path / "again" / "stamp.fits"))


def test_a_config_other_than_the_runs_is_refused(trained, tmp_path):
    out = xraymass("predict", "--config", str(trained["config"]), "--set", "masking.method=detect", "--events",
                   str(trained["evt"]), "--redshift", "0.05", "--ra", str(RA), "--dec", str(DEC), "--out",
                   str(tmp_path / "out"))
    assert out.returncode == 2
    assert "masking.method: 'none' there, 'detect' here" in one_error_line(out)
    assert not (tmp_path / "out").exists()


def test_missing_arguments_and_an_existing_output_are_refused(trained, tmp_path):
    out = xraymass("predict", "--config", str(trained["config"]), "--events", str(trained["evt"]), "--redshift", "0.05",
                   "--out", str(tmp_path / "o"))
    assert out.returncode == 1 and "give --ra and --dec (deg), or --centre peak|centroid" in one_error_line(out)
    (tmp_path / "o").mkdir()
    out = predict(trained, tmp_path / "o", "--ra", str(RA), "--dec", str(DEC))
    assert out.returncode == 1 and "exists; remove it or choose another --out" in one_error_line(out)


def test_a_given_source_list_is_masked_with_a_warning_for_a_run_trained_unmasked(trained, tmp_path):
    region = tmp_path / "wavdetect.reg"
    region.write_text("# Region file format: CIAO version 1.0\nphysical\ncircle(4150.5,4000.25,6.0)\n")
    out = predict(trained, tmp_path / "out", "--ra", str(RA), "--dec", str(DEC), "--sources", str(region))
    assert out.returncode == 0, out.stderr
    assert f"point sources: warning: 1 masked (from {region}); the models were trained with masking.method: none" \
        in out.stderr
    rows = (tmp_path / "out" / "sources.csv").read_text().splitlines()
    assert rows == ["x_sky_pix,y_sky_pix,radius_pix", "4150.5000,4000.2500,6.0000"]
    peak = predict(trained, tmp_path / "peak", "--centre", "peak")
    assert peak.returncode == 0, peak.stderr
    centre = yaml.safe_load((tmp_path / "peak" / "summary.yaml").read_text())["centre"]
    assert centre["method"].startswith("peak of the 0.5-7 keV events within 2'")
    assert np.hypot(*(np.asarray(centre["sky_pix"]) - SKY_REFERENCE_PIX)) < 40


def test_reading_32_bit_sky_columns_and_an_exposure_from_the_gtis(trained, tmp_path):
    with fits.open(trained["evt"]) as hdul:
        events = hdul["EVENTS"]
        cols = [fits.Column(c.name, "1E", unit=c.unit, array=np.asarray(events.data[c.name], np.float32),
                            coord_type=c.coord_type, coord_unit=c.coord_unit, coord_ref_point=c.coord_ref_point,
                            coord_ref_value=c.coord_ref_value, coord_inc=c.coord_inc)
                if c.name in ("x", "y") else c for c in events.columns]
        new = fits.BinTableHDU.from_columns(cols, header=events.header, name="EVENTS")
        for key in ("EXPOSURE", "LIVETIME"):
            del new.header[key]
        fits.HDUList([hdul[0], new, hdul["GTI"]]).writeto(tmp_path / "evt32.fits")
    obs, ref = read_level2(tmp_path / "evt32.fits"), read_level2(trained["evt"])
    assert obs.x.dtype == np.float64 and np.allclose(obs.x, ref.x, atol=5e-4, rtol=0)
    assert (obs.exposure_s, obs.exposure_from) == (1e5, "GTI") and obs.gtis[0][0] == 3
    assert obs.sky_to_pix(RA, DEC) == pytest.approx((SKY_REFERENCE_PIX, SKY_REFERENCE_PIX), abs=1e-9)
