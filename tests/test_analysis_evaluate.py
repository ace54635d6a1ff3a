"""evaluate: metrics recover known sigma and mu, subset and best-fold selection, figures, bad input."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analysis_stores import build_full_store, constructed_predictions, write_predictions
from conftest import REPO, sbatch_wait, xraymass
from xraymass.analysis import evaluate as ev
from xraymass.analysis import figures
from xraymass.analysis.metrics import (best_fold, dex_to_percent, fit_gaussian, histogram_bin_width, in_mass_range,
                                      paired_sigma_change, with_bootstrap)
from xraymass.analysis.predictions import load_predictions
from xraymass.config import load_config
from xraymass.errors import InputError


def _png_variance(path) -> float:
    import matplotlib.image as mpimg

    return float(np.asarray(mpimg.imread(path), dtype=np.float64)[..., :3].var())


def _panels(fig) -> int:
    """Axes holding data (not colour bars, not switched off)."""
    return sum(1 for ax in fig.axes if ax.axison and ax.get_label() != "<colorbar>")


def test_gaussian_fit_recovers_known_sigma_and_mu():
    rng = np.random.default_rng(0)
    for sigma, mu in ((0.05, -0.022), (0.03, 0.01), (0.1, 0.0)):
        delta = rng.normal(mu, sigma, 8000)
        fit = fit_gaussian(delta)
        assert fit.estimator == "mle" and fit.hist_status == "ok"
        assert fit.sigma == pytest.approx(delta.std(ddof=0), rel=1e-12) and fit.mu == pytest.approx(delta.mean())
        assert fit.sigma == pytest.approx(sigma, rel=0.05)
        assert fit.hist_sigma == pytest.approx(sigma, rel=0.05)
        assert fit.hist_mu == pytest.approx(mu, abs=0.1 * sigma)
        assert fit.hist_bin_width_dex == pytest.approx(histogram_bin_width(delta, 0.01))
        assert fit.robust_sigma == pytest.approx(sigma, rel=0.05)
        assert fit.sigma_percent == pytest.approx(100 * math.log(10) * fit.sigma)


def test_fit_follows_the_core_not_outliers():
    rng = np.random.default_rng(1)
    delta = np.concatenate([rng.normal(0.0, 0.04, 5000), rng.uniform(-1, 1, 100)])
    fit = fit_gaussian(delta)
    assert fit.hist_sigma == pytest.approx(0.04, rel=0.08)
    assert fit.sigma > 0.07  # the MLE width is blown up by the 2% outliers; the histogram fit is not


def test_percent_conversion_matches_the_papers_pairs():
    # the paper's sigma is rounded to 3 decimals: its percent must lie within that rounding of ln(10) sigma
    for dex, percent in ((0.051, 11.6), (0.041, 9.6), (0.033, 7.7), (0.025, 5.7)):
        lo, hi = dex_to_percent(dex - 0.0005), dex_to_percent(dex + 0.0005)
        assert lo - 0.05 <= percent <= hi + 0.05
    assert 100 * (10 ** 0.051 - 1) > 12.4  # the other conversion would not give 11.6%


def test_the_mle_has_ddof_0_and_few_samples_are_not_histogram_fitted():
    fit = fit_gaussian(np.array([0.0, 0.1, -0.1]))
    assert fit.estimator == "mle" and fit.sigma == pytest.approx(np.sqrt(0.02 / 3))  # not 0.1 (ddof 1)
    assert fit.hist_status == "not attempted: 3 residuals" and math.isnan(fit.hist_sigma)
    assert fit.to_dict()["hist_sigma"] is None
    assert math.isnan(fit_gaussian(np.array([])).sigma)


def test_small_samples_state_the_wider_bins_they_used():
    delta = np.random.default_rng(4).normal(0.0, 0.05, 150)
    fit = fit_gaussian(delta, 0.01)
    assert fit.hist_status == "ok"
    assert fit.hist_bin_width_dex == pytest.approx(histogram_bin_width(delta, 0.01)) and fit.hist_bin_width_dex > 0.015
    assert fit.hist_n_bins >= 4


# residuals of one demo fold (6 clusters x 24 views, rounded): the least-squares histogram fit ran
# off to sigma = 5.1 dex, mu = 14.3 dex on them
CLUMPED_FOLD = np.array(
    [-0.057, -0.05, -0.045, -0.045, -0.044, -0.044, -0.042, -0.042, -0.042, -0.041, -0.041, -0.041, -0.04, -0.038,
     -0.037, -0.035, -0.035, -0.034, -0.034, -0.033, -0.033, -0.029, -0.028, -0.028, -0.028, -0.027, -0.025, -0.025,
     -0.023, -0.02, -0.019, -0.019, -0.017, -0.015, -0.014, -0.011, -0.011, -0.01, -0.009, -0.009, -0.008, -0.008,
     -0.007, -0.006, -0.006, -0.004, -0.003, -0.002, 0.009, 0.013, 0.013, 0.013, 0.013, 0.013, 0.014, 0.014, 0.015,
     0.016, 0.016, 0.016, 0.016, 0.016, 0.016, 0.017, 0.017, 0.017, 0.017, 0.017, 0.019, 0.019, 0.02, 0.02, 0.048,
     0.048, 0.048, 0.049, 0.049, 0.049, 0.05, 0.051, 0.052, 0.052, 0.053, 0.053, 0.053, 0.054, 0.054, 0.054, 0.055,
     0.057, 0.058, 0.059, 0.059, 0.06, 0.061, 0.061, 0.064, 0.065, 0.068, 0.07, 0.07, 0.07, 0.073, 0.076, 0.077,
     0.079, 0.079, 0.08, 0.08, 0.081, 0.081, 0.082, 0.084, 0.085, 0.086, 0.087, 0.087, 0.09, 0.094, 0.095, 0.096,
     0.096, 0.097, 0.097, 0.098, 0.098, 0.1, 0.101, 0.101, 0.103, 0.103, 0.104, 0.104, 0.105, 0.106, 0.106, 0.108,
     0.111, 0.111, 0.113, 0.114, 0.115, 0.115, 0.115])


def test_a_histogram_fit_that_runs_off_the_data_is_reported_failed_beside_the_mle():
    fit = fit_gaussian(CLUMPED_FOLD)
    assert fit.hist_status.startswith("failed: ") and math.isnan(fit.hist_sigma) and math.isnan(fit.hist_mu)
    assert fit.estimator == "mle"
    assert fit.sigma == pytest.approx(CLUMPED_FOLD.std(ddof=0)) and fit.mu == pytest.approx(CLUMPED_FOLD.mean())


def test_predictions_whose_histogram_fit_fails_are_reported_with_the_mle_and_say_so(tmp_path, write_config):
    """Acceptance: a constructed set where fold 0's histogram fit fails; the report gives its MLE and says so."""
    cfg = load_config(write_config())
    data = constructed_predictions(n_clusters=60, sigma=0.05, mu=-0.02)
    fold0 = np.flatnonzero(data["fold"] == 0)
    assert fold0.size == CLUMPED_FOLD.size  # 6 clusters x 24 images
    data["log_m500c_pred"][fold0] = (data["log_m500c_true"][fold0].astype(np.float64) + CLUMPED_FOLD).astype(np.float32)
    write_predictions(cfg.store_path, data)
    assert ev.run(cfg) == 0
    results = cfg.run_dir / "results"
    fold = json.loads((results / "summary.json").read_text())["evaluate"]["fits"]["folds"]["0"]
    delta0 = (data["log_m500c_pred"][fold0].astype(np.float64) - data["log_m500c_true"][fold0])
    assert fold["estimator"] == "mle" and fold["sigma"] == pytest.approx(delta0.std(ddof=0), rel=1e-5)
    assert fold["hist_status"].startswith("failed") and fold["hist_sigma"] is None
    row = next(line for line in (results / "report.md").read_text().splitlines() if line.startswith("| 0 |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2].startswith(f"{fold['sigma']:.3f} [")            # the MLE sigma with its interval
    assert cells[5].startswith("FAILED: ") and "MLE beside it" in cells[5]
    assert "fold 0" in next(line for line in (results / "report.md").read_text().splitlines()
                            if line.startswith("The histogram fit gave no number"))


def test_bootstrap_resamples_clusters_not_images():
    """24 identical views per cluster: the interval is as wide as 40 clusters allow, not 960 images."""
    rng = np.random.default_rng(5)
    per_cluster = rng.normal(0.0, 0.05, 40)
    delta, cluster = np.repeat(per_cluster, 24), np.repeat(np.arange(40) * 3 + 1, 24)
    fit = with_bootstrap(fit_gaussian(delta), delta, cluster, 2000, 7)
    lo, hi = fit.sigma_ci95
    assert lo < fit.sigma < hi and fit.n_clusters == 40
    # sigma / sqrt(2 n) per side for n = 40 clusters: a full width of ~0.44 sigma (images would give ~0.09 sigma)
    assert 0.3 * fit.sigma < hi - lo < 0.6 * fit.sigma
    mlo, mhi = fit.mu_ci95
    assert 0.4 * 2 * 1.96 * 0.05 / np.sqrt(40) < mhi - mlo < 1.6 * 2 * 1.96 * 0.05 / np.sqrt(40)


def test_a_paired_bootstrap_sees_a_change_smaller_than_either_runs_interval():
    """Two runs' residuals on the same 60 clusters: the second's sigma is 4% larger. Each run's interval
    (the one a single run reports, from the same resamples) is far wider than 4%, so the second sigma lies
    inside the first's interval; the paired interval on the difference is narrow and excludes zero."""
    rng = np.random.default_rng(3)
    cluster = np.repeat(np.arange(60) * 7 + 2, 24)
    base = np.repeat(rng.normal(0.0, 0.05, 60), 24) + rng.normal(0.0, 0.01, cluster.size)
    other = 1.04 * base
    change = paired_sigma_change(base, other, cluster, 2000, 9)
    assert change["sigma_base_ci95"] == with_bootstrap(fit_gaussian(base), base, cluster, 2000, 9).sigma_ci95
    assert change["sigma_other_ci95"] == with_bootstrap(fit_gaussian(other), other, cluster, 2000, 9).sigma_ci95
    assert change["difference"] == pytest.approx(0.04 * change["sigma_base"])
    lo, hi = change["difference_ci95"]
    assert 0 < lo < change["difference"] < hi and hi - lo < 0.2 * np.diff(change["sigma_base_ci95"])[0]
    assert change["within_base_interval"] and change["n_clusters"] == 60
    same = paired_sigma_change(base, base, cluster, 500, 9)
    assert same["difference"] == 0 and same["difference_ci95"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="differ in shape"):
        paired_sigma_change(base, other[:-1], cluster, 10, 9)


def test_best_fold_selection(tmp_path):
    data = constructed_predictions(n_clusters=120, sigma=0.05, mu=-0.02, fold_sigma={3: 0.02})
    store = tmp_path / "store.zarr"
    write_predictions(store, data)
    summary = ev.evaluate(load_predictions(store, 10), mass_subset=[14.0, 14.5], fit_bin_width_dex=0.01)
    assert summary["best_fold"] == 3
    fits = summary["fits"]
    assert fits["best_fold"]["sigma"] == pytest.approx(0.02, rel=0.2)
    assert fits["best_fold"]["n"] == int((data["fold"] == 3).sum())
    assert set(fits["folds"]) == {str(k) for k in range(10)}
    subset = in_mass_range(data["log_m500c_true"], (14.0, 14.5))
    assert fits["best_fold_subset"]["n"] == int((subset & (data["fold"] == 3)).sum())


def test_mass_subset_selection(tmp_path):
    data = constructed_predictions(n_clusters=120, sigma=0.03, mu=-0.05, subset_mu=0.1)
    store = tmp_path / "store.zarr"
    write_predictions(store, data)
    summary = ev.evaluate(load_predictions(store, 10), mass_subset=[14.0, 14.5], fit_bin_width_dex=0.01)
    fits, best = summary["fits"], summary["best_fold"]
    subset = in_mass_range(data["log_m500c_true"], (14.0, 14.5))
    assert 0 < subset.sum() < subset.size
    assert fits["all_folds_subset"]["n"] == int(subset.sum())
    assert fits["all_folds_subset"]["mu"] == pytest.approx(0.1, abs=0.01)
    assert fits["all_folds_subset"]["sigma"] == pytest.approx(0.03, rel=0.2)
    assert fits["best_fold_subset"]["n"] == int((subset & (data["fold"] == best)).sum())
    assert fits["best_fold_subset"]["mu"] == pytest.approx(0.1, abs=0.02)
    delta = data["log_m500c_pred"].astype(np.float64) - data["log_m500c_true"]
    assert fits["all_folds"]["mu"] == pytest.approx(delta.mean(), abs=1e-6)  # the MLE mixes subset and the rest
    assert fits["all_folds"]["hist_mu"] == pytest.approx(-0.05, abs=0.01)  # the histogram fit follows the bulk


def test_best_fold_is_the_narrowest():
    rng = np.random.default_rng(2)
    fold_fits = {k: fit_gaussian(rng.normal(0, 0.05 if k != 7 else 0.03, 500)) for k in range(10)}
    assert best_fold(fold_fits) == 7


def test_figures_have_their_panels_and_are_not_blank(tmp_path):
    data = constructed_predictions(n_clusters=60)
    delta = data["log_m500c_pred"] - data["log_m500c_true"]
    fit = fit_gaussian(delta).to_dict()
    fig3 = figures.draw_figure3(data["log_m500c_true"], data["log_m500c_pred"], data["halo_id"], 11.0, -0.02)
    fig4 = figures.draw_figure4(delta, fit, delta[data["fold"] == 0], fit, 0, 0.01)
    assert _panels(fig3) == 1 and _panels(fig4) == 1
    ax = fig4.axes[0]
    assert len(ax.patches) == 2 and len(ax.collections) == 2  # the 2 histograms; the L_X and Y_X bands
    assert len(ax.lines) == 2 + 1  # the 2 Gaussian fits and delta = 0
    names = figures.save(fig3, tmp_path, "f3") + figures.save(fig4, tmp_path, "f4")
    assert names == ["f3.png", "f3.pdf", "f4.png", "f4.pdf"]
    for name in names:
        assert (tmp_path / name).stat().st_size > 1000
    assert _png_variance(tmp_path / "f3.png") > 1e-3 and _png_variance(tmp_path / "f4.png") > 1e-3


def test_evaluate_stage_writes_summary_report_and_figures(tmp_path, write_config):
    cfg = load_config(write_config())
    write_predictions(cfg.store_path, constructed_predictions(n_clusters=60, sigma=0.05, mu=-0.02))
    assert ev.run(cfg) == 0
    results = cfg.run_dir / "results"
    summary = json.loads((results / "summary.json").read_text())
    assert summary["evaluate"]["fits"]["all_folds"]["sigma"] == pytest.approx(0.05, rel=0.1)
    report = (results / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| all folds |"))
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    fit = summary["evaluate"]["fits"]["all_folds"]
    assert cells[1] == "1440 (60)"
    assert cells[2].split()[0] == f"{fit['sigma']:.3f}" and cells[4] == f"{fit['sigma_percent']:.1f}"  # ours
    assert cells[6].split()[0] == f"{fit['mu']:.3f}" and float(cells[6].split()[0]) == pytest.approx(-0.02, abs=0.01)
    assert (cells[3], cells[5], cells[7]) == ("0.051", "11.6", "-0.022")  # the paper's, beside them
    assert_every_sigma_names_its_estimator(report)
    ev_part = summary["evaluate"]
    assert ev_part["provenance"]["stage"] == "evaluate" and ev_part["provenance"]["physics_data"] == "test physics"
    config = (cfg.run_dir / "evaluate.config.yaml").read_text()
    assert "physics_data: test physics" in config
    for stem in ("figure3_pred_vs_true", "figure4_delta_pdf"):
        assert (results / f"{stem}.png").is_file() and (results / f"{stem}.pdf").is_file()
    assert (cfg.run_dir / "evaluate.config.yaml").is_file()


ESTIMATOR_WORDS = {"MLE", "hist", "robust", "paper", "paper's", "Every"}


def assert_every_sigma_names_its_estimator(report: str) -> None:
    """Each 'sigma' in the report follows an estimator's name (MLE, hist, robust) or is the paper's."""
    import re

    for line in report.splitlines():
        for word in re.findall(r"(\S+) sigma\b", line):
            assert word.strip("*(") in ESTIMATOR_WORDS, f"a sigma without its estimator ({word!r}) in: {line}"
        assert not re.search(r"(^|\| )sigma", line), f"a sigma without its estimator in: {line}"


def test_missing_folds_are_named_and_nothing_is_evaluated(tmp_path, write_config):
    path = write_config()
    cfg = load_config(path)
    data = constructed_predictions(n_clusters=40)
    write_predictions(cfg.store_path, data, folds=[0, 1, 2, 4, 5, 6, 8, 9])
    write_predictions(cfg.store_path, data, folds=[7], complete=False)
    with pytest.raises(InputError, match=r"2 of 10 folds missing or not complete \(fold_03, fold_07\)"):
        load_predictions(cfg.store_path, 10)
    out = xraymass("evaluate", "--config", str(path))
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "fold_03, fold_07" in lines[0] and "nothing evaluated" in lines[0]
    assert not (cfg.run_dir / "results" / "summary.json").exists()


def test_nan_predictions_are_refused_in_one_line(tmp_path, write_config):
    path = write_config()
    cfg = load_config(path)
    data = constructed_predictions(n_clusters=40)
    rows = np.flatnonzero(data["fold"] == 4)[:3]
    data["log_m500c_pred"][rows] = np.nan
    write_predictions(cfg.store_path, data)
    out = xraymass("evaluate", "--config", str(path))
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "predictions/fold_04/log_m500c_pred: 3 of 96 values are NaN" in lines[0]


@pytest.mark.slurm
@pytest.mark.slow
def test_evaluate_job_runs_all_three_stages(slurm, tmp_path, write_config):
    path = write_config({"baseline": {"n_realisations": 5}, "interpret": {"n_clusters": 3}})
    cfg = load_config(path)
    build_full_store(cfg.store_path, cfg.run_dir, n_clusters=20)
    env = dict(slurm, XRAYMASS_CONFIG=str(path))
    out = sbatch_wait(env, f"--chdir={tmp_path}", f"--output={tmp_path}/evaluate-%j.out",
                      str(REPO / "jobs" / "evaluate.sh"))
    log = "".join(p.read_text() for p in tmp_path.glob("evaluate-*.out"))
    assert out.returncode == 0, out.stderr + log
    summary = json.loads((cfg.run_dir / "results" / "summary.json").read_text())
    assert set(summary) == {"evaluate", "baseline", "interpret"}
    assert summary["baseline"]["cnn_same_clusters"]["n_clusters"] == 20
    report = (cfg.run_dir / "results" / "report.md").read_text()
    for heading in ("## CNN mass residuals", "## Core-excised L_X baseline", "## DeepDream interpretation"):
        assert heading in report
    for stage in ("evaluate", "baseline", "interpret"):
        assert (cfg.run_dir / f"{stage}.config.yaml").is_file()
