"""The per-cluster uncertainty (xraymass.analysis.uncertainty): calibration on constructed predictions whose
spread is known, the test fold kept out of calibration, scores, and `evaluate` reporting it."""
from __future__ import annotations

import numpy as np
import pytest

from xraymass.analysis import uncertainty as unc
from xraymass.errors import StoreError
from xraymass.store import open_store
from xraymass.train.data import FoldSplit
from xraymass.train.outputs import write_predictions_group

VIEWS = 24
S0, K = 0.04, 0.5  # the known predictive spread: sigma^2 = S0^2 + K u^2


def constructed(n_clusters: int, members: int, seed: int, first_id: int = 0) -> dict:
    """Image predictions of `members` members, and truths drawn so that the ensemble mean's error is exactly
    N(0, S0^2 + K u^2) given the members' and views' spread u^2 (the model the calibration fits)."""
    rng = np.random.default_rng(seed)
    centre = rng.uniform(13.6, 15.1, n_clusters)
    disagreement = rng.uniform(0.0, 0.08, n_clusters)  # clusters the members agree on, and ones they do not
    preds = []
    for _ in range(members):
        offset = rng.normal(0.0, disagreement)
        preds.append(np.repeat(centre + offset, VIEWS) + rng.normal(0.0, 0.01, n_clusters * VIEWS))
    halo_id = np.repeat(np.arange(first_id, first_id + n_clusters, dtype=np.int64), VIEWS)
    clusters = unc.per_cluster(halo_id, np.zeros(halo_id.size), preds)
    sigma = np.sqrt(S0**2 + K * clusters.raw_var)
    true = clusters.mean - rng.normal(0.0, sigma)
    return {"halo_id": halo_id, "true": np.repeat(true, VIEWS), "preds": preds, "sigma": sigma}


def clusters_of(data: dict) -> unc.Clusters:
    return unc.per_cluster(data["halo_id"], data["true"], data["preds"])


def test_per_cluster_means_and_spreads_are_the_stated_estimators():
    halo_id = np.repeat([7, 3], 4)
    a = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0])
    b = a + np.array([1.0] * 4 + [-2.0] * 4)
    c = unc.per_cluster(halo_id, np.full(8, 0.5), [a, b])
    assert c.halo_id.tolist() == [3, 7]  # sorted by halo id
    np.testing.assert_allclose(c.mean, [9.0, 3.0])
    np.testing.assert_allclose(c.member_var, [np.var([10.0, 8.0], ddof=1), np.var([2.5, 3.5], ddof=1)])
    np.testing.assert_allclose(c.view_var, [0.0, 1.25])  # ddof-0 variance of 1..4, the same for both members
    np.testing.assert_allclose(c.residual, [8.5, 2.5])


@pytest.mark.parametrize("members", [1, 4])
def test_calibration_recovers_the_nominal_coverage_of_a_known_spread(members):
    validation = clusters_of(constructed(3000, members, seed=1))
    test_data = constructed(3000, members, seed=2, first_id=10_000)
    test = clusters_of(test_data)
    cal = unc.calibrate(validation)
    assert cal.s0 == pytest.approx(S0, rel=0.15), cal
    if members > 1:  # with one member u^2 is the views' spread alone (~1e-4 dex^2): k barely matters, so is loose
        assert cal.k == pytest.approx(K, rel=0.2), cal
    out = unc.scores(test, cal.sigma(test.raw_var), n_bootstrap=200, seed=3)
    # 3000 test clusters: binomial sd 0.9 points at 68%, 0.4 at 95%; tolerance 3 and 2 points
    assert abs(out["coverage_68"] - 0.68) < 0.03, out
    assert abs(out["coverage_95"] - 0.95) < 0.02, out
    lo, hi = out["coverage_68_ci95"]
    assert lo < out["coverage_68"] < hi
    assert out["width_95_dex"] == pytest.approx(2 * 1.959964 * np.mean(cal.sigma(test.raw_var)))
    # the truth's own sigma scores no better than the calibrated one by more than noise
    true_nll = float(np.mean(unc.gaussian_nll(test.residual, test_data["sigma"])))
    assert out["nll"] == pytest.approx(true_nll, abs=0.02)


def test_the_raw_spread_alone_under_covers_and_the_scores_say_so():
    """Without calibration (sigma = u) the constructed clusters are badly under-covered: the check can fail."""
    test = clusters_of(constructed(2000, 4, seed=5))
    out = unc.scores(test, np.sqrt(test.raw_var), n_bootstrap=0, seed=0)
    assert out["coverage_68"] < 0.5 and out["coverage_95"] < 0.8
    assert "coverage_68_ci95" not in out


def test_crps_and_nll_match_their_closed_forms_numerically():
    from scipy.integrate import quad
    from scipy.stats import norm

    r, s = 0.03, 0.05
    numeric = quad(lambda y: (norm.cdf(y, loc=r, scale=s) - (y >= 0)) ** 2, -1, 1, points=[0.0], limit=200)[0]
    assert unc.gaussian_crps(np.array([r]), np.array([s]))[0] == pytest.approx(numeric, rel=1e-6)
    assert unc.gaussian_nll(np.array([r]), np.array([s]))[0] == pytest.approx(-norm.logpdf(r, scale=s))
    assert unc.z_of(0.68) == pytest.approx(0.99446, abs=1e-4) and unc.z_of(0.95) == pytest.approx(1.95996, abs=1e-4)


def test_calibration_needs_two_validation_clusters():
    from xraymass.errors import InputError

    one = unc.per_cluster(np.zeros(VIEWS, np.int64), np.full(VIEWS, 14.0), [np.full(VIEWS, 14.1)])
    with pytest.raises(InputError, match="at least 2 validation clusters"):
        unc.calibrate(one)


# --- through the store, as `train` writes it -----------------------------------------------------------------

N_FOLDS, MEMBERS, PER_FOLD = 3, 2, 40


def table(data: dict, member: int, rows: slice) -> dict:
    n = data["halo_id"][rows].size
    return {"halo_id": data["halo_id"][rows], "projection": np.tile(np.repeat(np.arange(3), 8), n // VIEWS).astype(np.int8),
            "augmentation": np.tile(np.arange(8), n // 8).astype(np.int8),
            "log_m500c_true": data["true"][rows].astype(np.float32),
            "log_m500c_pred": data["preds"][member][rows].astype(np.float32)}


def write_run(store_path, poison_test_labels: bool = False) -> None:
    """Folds 0-2 of a 3-fold run, 2 members each, through the production writer: fold k tests clusters of fold k
    and validates on fold (k+1) % 3. `poison_test_labels` replaces every test truth by nonsense."""
    open_store(store_path, "a")
    by_fold = [constructed(PER_FOLD, MEMBERS, seed=20 + f, first_id=1000 * f) for f in range(N_FOLDS)]
    for k in range(N_FOLDS):
        v = (k + 1) % N_FOLDS
        split = FoldSplit(k, v, ((k + 2) % N_FOLDS,), np.array([0]), np.array([1]), np.array([2]))
        for m in range(MEMBERS):
            test = table(by_fold[k], m, slice(None))
            if poison_test_labels:
                test["log_m500c_true"] = np.full_like(test["log_m500c_true"], 99.0)
            write_predictions_group(store_path, split, test, kept_epoch=3, converged=True, ranks=1, rule="patience",
                                    model_sha256="0" * 64, validation=table(by_fold[v], m, slice(None)), member=m, seed=m)


def test_the_test_folds_never_enter_the_calibration(tmp_path):
    """Poisoning every test label changes the test scores but not one calibration parameter."""
    write_run(tmp_path / "a.zarr")
    write_run(tmp_path / "b.zarr", poison_test_labels=True)
    a = unc.evaluate_uncertainty(tmp_path / "a.zarr", N_FOLDS, MEMBERS, n_bootstrap=50, seed=0)
    b = unc.evaluate_uncertainty(tmp_path / "b.zarr", N_FOLDS, MEMBERS, n_bootstrap=50, seed=0)
    assert a["calibration"] == b["calibration"]
    assert a["test"]["coverage_95"] > 0.7 and b["test"]["coverage_95"] == 0.0
    assert [a["calibration"][str(k)]["validation_fold"] for k in range(N_FOLDS)] == [1, 2, 0]
    assert a["test"]["n_clusters"] == N_FOLDS * PER_FOLD and a["members"] == MEMBERS


def test_a_validation_set_holding_a_test_cluster_is_refused(tmp_path):
    data = constructed(10, 1, seed=9)
    c = clusters_of(data)
    with pytest.raises(StoreError, match="in both the validation and the test predictions"):
        unc.check_disjoint(c, clusters_of(constructed(10, 1, seed=9, first_id=9)), "here")


def test_a_missing_member_is_named(tmp_path):
    from xraymass.errors import InputError

    write_run(tmp_path / "a.zarr")
    with pytest.raises(InputError, match=r"ensemble/fold_00_m02: missing or not complete; run `xraymass train --fold 0 --member 2`"):
        unc.evaluate_uncertainty(tmp_path / "a.zarr", N_FOLDS, 3, n_bootstrap=0, seed=0)
