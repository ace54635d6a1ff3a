"""baseline: the core-excised counts, the background, the power-law scatter and the R500c-error widening."""
from __future__ import annotations

import json

import numpy as np
import pytest

from analysis_stores import build_baseline_store, constructed_predictions, write_predictions
from conftest import xraymass
from test_analysis_evaluate import assert_every_sigma_names_its_estimator
from xraymass.analysis import baseline as bl
from xraymass.config import load_config
from xraymass.errors import InputError
from xraymass.store import open_store

SETTINGS = dict(r_inner_r500c=0.15, r_outer_r500c=1.0, emin_kev=0.5, emax_kev=7.0, n_realisations=12,
                bkg_r500c=[1.5, 2.5])


@pytest.fixture(scope="module")
def power_law_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("baseline") / "store.zarr"
    truth = build_baseline_store(path, n_clusters=60, a=11.5, b=0.6, sigma=0.02, background_per_arcmin2=30.0)
    return path, truth


def test_disk_area_in_field():
    npix = 100.0
    assert bl.disk_area_in_field(50, 50, np.array([10.0]), npix)[0] == pytest.approx(np.pi * 100, rel=1e-4)
    assert bl.disk_area_in_field(50, 50, np.array([200.0]), npix)[0] == pytest.approx(npix**2, rel=1e-6)
    assert bl.disk_area_in_field(0, 0, np.array([10.0]), npix)[0] == pytest.approx(np.pi * 100 / 4, rel=1e-4)


def test_counts_and_background_are_measured(power_law_store):
    path, truth = power_law_store
    halos = bl.read_halos(path)
    ap = bl.measure_apertures(path, halos, seed=1, r500c_errors=[0.0], **SETTINGS)
    background = bl.expected_background(ap, bkg_min_area_arcmin2=5.0)
    assert background["counts_per_arcmin2"] == pytest.approx(30.0, rel=0.05)
    assert background["method"].startswith("pooled background annulus of 180 observations")
    net = ap.gross[0][:, 0] - background["counts_per_arcmin2"] * ap.area[0][:, 0]
    expected = 10 ** np.repeat(truth["log_counts"], 3)  # out-of-band events and the cores are left out
    assert np.median(net / expected) == pytest.approx(1.0, abs=0.04)


def test_background_falls_back_to_the_field_corners(power_law_store):
    path, _ = power_law_store
    halos = bl.read_halos(path)
    settings = SETTINGS | {"bkg_r500c": [5.0, 6.0]}  # 15'-18' from the centre: outside the 20' field
    ap = bl.measure_apertures(path, halos, seed=1, r500c_errors=[0.0], **settings)
    assert np.all(ap.bkg_area == 0)
    background = bl.expected_background(ap, bkg_min_area_arcmin2=5.0)
    assert background["method"].startswith("faintest field corners")
    assert background["counts_per_arcmin2"] == pytest.approx(30.0, rel=0.15)


def test_power_law_scatter_is_recovered_and_aperture_error_widens_it(power_law_store):
    path, _ = power_law_store
    result = bl.core_excised_baseline(path, bl.read_halos(path), seed=1, fit_bin_width_dex=0.01,
                                      r500c_errors=[0.0, 0.05, 0.25], bkg_min_area_arcmin2=5.0, **SETTINGS)
    exact, five, wide = result["levels"]
    assert result["fit"]["b"] == pytest.approx(0.6, abs=0.05)
    assert exact["n_draws"] == 1 and five["n_draws"] == wide["n_draws"] == 12
    # 0.02 dex of constructed scatter plus ~0.006 dex of Poisson noise on >= 1,600 counts
    assert exact["estimator"] == "mle" and exact["sigma"] == pytest.approx(0.021, rel=0.2)
    assert exact["hist_status"] == "ok" and exact["hist_sigma"] == pytest.approx(0.021, rel=0.25)
    assert exact["sigma_percent"] == pytest.approx(100 * np.log(10) * exact["sigma"])
    assert wide["robust_sigma"] > 1.2 * exact["robust_sigma"]
    assert wide["sigma"] > 1.5 * exact["sigma"]
    assert five["sigma"] > exact["sigma"]
    lo, hi = wide["sigma_percent_16_84"]
    assert lo < hi


def test_draws_are_reproducible():
    a = bl._r500c_factors(5, 17, 1, 2, 0.03, 50)
    assert np.array_equal(a, bl._r500c_factors(5, 17, 1, 2, 0.03, 50))
    assert not np.array_equal(a, bl._r500c_factors(5, 18, 1, 2, 0.03, 50))
    assert a.std() == pytest.approx(0.03, rel=0.4)
    assert np.array_equal(bl._r500c_factors(5, 17, 1, 0, 0.0, 50), [1.0])


@pytest.mark.slow
def test_baseline_stage_reports_the_cnn_ratio(tmp_path, write_config):
    path = write_config({"baseline": {"n_realisations": 8}})
    cfg = load_config(path)
    truth = build_baseline_store(cfg.store_path, n_clusters=40, sigma=0.06)
    predictions = constructed_predictions(n_clusters=40, sigma=0.03, mu=0.0)
    predictions["halo_id"] = np.repeat(truth["halo_id"], 24)
    write_predictions(cfg.store_path, predictions, folds=range(5))  # half the folds: the ratio uses what exists
    out = xraymass("baseline", "--config", str(path), "--set", "baseline.r500c_errors=[0.0, 0.03, 0.05]")
    assert out.returncode == 0, out.stderr
    summary = json.loads((cfg.run_dir / "results" / "summary.json").read_text())["baseline"]
    cnn = summary["cnn_same_clusters"]
    assert cnn["n_clusters"] == 20 and cnn["sigma"] == pytest.approx(0.03, rel=0.2)
    head = summary["cnn_vs_lx"]  # the contract with the science benchmark
    assert set(head) == {"clusters", "estimator", "cnn_sigma_dex", "cnn_sigma_dex_ci95", "lx_sigma_dex",
                         "lx_sigma_dex_ci95", "ratio", "ratio_ci95"}
    assert head["clusters"] == 20 and "maximum-likelihood" in head["estimator"] and "3%" in head["estimator"]
    assert head["cnn_sigma_dex"] == pytest.approx(cnn["sigma"])
    assert head["ratio"] == pytest.approx(head["cnn_sigma_dex"] / head["lx_sigma_dex"])
    for key in ("cnn_sigma_dex", "lx_sigma_dex", "ratio"):
        lo, hi = head[f"{key}_ci95"]
        assert lo < head[key] < hi
    # L_X on the same 20 clusters, refitted: the 0.06 dex constructed scatter (plus Poisson noise)
    assert head["lx_sigma_dex"] == pytest.approx(0.06, rel=0.35)
    for level in summary["levels"]:
        assert level["cnn_to_lx_ratio"] == pytest.approx(cnn["sigma"] / level["lx_sigma_same_clusters"])
    assert summary["background"]["instrument"]["status"].startswith("unchecked")  # hand-made events: no spectrum
    rows = (cfg.run_dir / "results" / "baseline_observations.csv").read_text().splitlines()
    assert rows[0].split(",")[:9] == ["halo_id", "projection", "log_m500c_true", "r500c_arcmin", "aperture_area_arcmin2",
                                      "aperture_geometric_area_arcmin2", "counts", "background", "net"]
    assert len(rows) == 1 + 40 * 3
    first = dict(zip(rows[0].split(","), rows[1].split(",")))
    assert float(first["net"]) == pytest.approx(float(first["counts"]) - float(first["background"]), abs=0.01)
    assert float(first["r500c_arcmin"]) == pytest.approx(3.0)
    assert float(first["background"]) == pytest.approx(
        summary["background"]["counts_per_arcmin2"] * float(first["aperture_area_arcmin2"]), rel=1e-5)
    assert summary["provenance"]["physics_data"] == "test events"
    assert "physics_data: test events" in (cfg.run_dir / "baseline.config.yaml").read_text()
    report = (cfg.run_dir / "results" / "report.md").read_text()
    assert "| 3% |" in report and "| 14.6 |" in report and "| 22.2 |" in report
    assert f"slope b = {summary['fit']['b']:.3f}" in report and f"normalisation a = {summary['fit']['a']:.3f}" in report
    assert f"ratio {head['ratio']:.3f} [{head['ratio_ci95'][0]:.3f}, {head['ratio_ci95'][1]:.3f}]" in report
    assert_every_sigma_names_its_estimator(report)
    assert (cfg.run_dir / "results" / "baseline_lx_m.png").is_file()
    assert (cfg.run_dir / "baseline.config.yaml").is_file()


def test_missing_events_are_named(tmp_path):
    path = tmp_path / "store.zarr"
    build_baseline_store(path, n_clusters=4)
    root = open_store(path, "r+")
    del root["events/h00000004"]
    with pytest.raises(InputError, match=r"1 of 4 halos have no complete event list \(events/h00000004\)"):
        bl.measure_apertures(path, bl.read_halos(path), seed=1, r500c_errors=[0.0], **SETTINGS)
