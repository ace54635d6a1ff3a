"""Per-cluster masses with a calibrated uncertainty: the views and the members of a fold, one predictive
Gaussian in log10(M500c) per cluster, calibrated on the fold's validation clusters only (docs/results.md).

For a cluster c and a fold's members m = 1..M (`train.members`), each with the cluster's V = 24 view
predictions x_{m,v} (dex):

- member mean    mu_m(c) = mean_v x_{m,v};  ensemble mean  mu(c) = mean_m mu_m(c) (the per-cluster mass);
- view variance  w(c)    = mean_m var_v x_{m,v} (ddof 0: the spread of the views);
- member variance b(c)   = var_m mu_m(c) (ddof 1; 0 with one member);
- raw spread     u^2(c)  = b(c) + w(c).

The predictive distribution is N(mu(c), s0^2 + k u^2(c)). (s0, k >= 0) are the maximum-likelihood values on
the fold's validation clusters (the fold the stopping rule watched; no test cluster enters), from the
kept models' validation predictions written by `train` (`predictions/fold_KK/validation`). Why this form:
the spread of a cluster's views is far below its error (averaging the 24 views hardly lowers the scatter),
so u alone, even rescaled (variance scaling, k only), under-covers clusters whose views agree; a constant
width (s0 only) ignores clusters the members disagree on; the two-parameter form nests both and the
likelihood chooses. Split-conformal quantiles would give intervals without a distribution (no NLL or CRPS)
and need ~20 validation clusters per fold for a finite 95% interval, more than the demo has.

Scores on the test clusters of every fold, pooled: coverage of the central 68% and 95% intervals (mu +/-
z sigma, z = 0.994 and 1.960), their mean widths (dex), the mean Gaussian negative log-likelihood and the mean
CRPS (dex), each with a 95% percentile interval from resampling clusters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, StoreError
from ..store import is_complete, open_store
from ..train.members import member_group
from .metrics import cluster_weights, fit_gaussian, interval95, with_bootstrap

LEVELS = (0.68, 0.95)
COLUMNS = ("halo_id", "projection", "augmentation", "log_m500c_true", "log_m500c_pred")
METHOD_TEXT = ("per cluster: ensemble mean of the view means; predictive N(mu, s0^2 + k (member variance + view "
               "variance)), (s0, k) by maximum likelihood on the fold's validation clusters")


def z_of(level: float) -> float:
    """The half-width in sigma of the central Gaussian interval of probability `level` (0.68 -> 0.994)."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2.0))


@dataclass
class Clusters:
    """One row per cluster (sorted by halo id): truth, per-cluster mean, spreads (dex)."""

    halo_id: np.ndarray
    true: np.ndarray
    mean: np.ndarray
    member_var: np.ndarray
    view_var: np.ndarray
    n_members: int

    @property
    def raw_var(self) -> np.ndarray:
        return self.member_var + self.view_var

    @property
    def residual(self) -> np.ndarray:
        """mu(c) - log M_true (dex)."""
        return self.mean - self.true


def per_cluster(halo_id: np.ndarray, true: np.ndarray, preds: list[np.ndarray]) -> Clusters:
    """Aggregate image predictions of one or more members (`preds`, each aligned with `halo_id`) per cluster.

    Parameters
    ----------
    halo_id : int array [n_images]
    true : float array [n_images], log10(M500c_true / Msun)
    preds : list of float arrays [n_images], log10(M500c_pred / Msun) of each member
    """
    halo_id = np.asarray(halo_id)
    ids, index = np.unique(halo_id, return_inverse=True)
    counts = np.bincount(index, minlength=ids.size).astype(np.float64)
    t = np.bincount(index, np.asarray(true, np.float64), ids.size) / counts
    means, view_vars = [], []
    for p in preds:
        p = np.asarray(p, np.float64)
        m = np.bincount(index, p, ids.size) / counts
        means.append(m)
        view_vars.append(np.clip(np.bincount(index, p**2, ids.size) / counts - m**2, 0.0, None))
    means = np.array(means)
    member_var = means.var(axis=0, ddof=1) if len(preds) > 1 else np.zeros(ids.size)
    return Clusters(ids, t, means.mean(axis=0), member_var, np.mean(view_vars, axis=0), len(preds))


@dataclass(frozen=True)
class Calibration:
    """sigma^2 = s0^2 + k u^2 (dex^2), fitted on `n` validation clusters."""

    s0: float
    k: float
    n: int

    def sigma(self, raw_var: np.ndarray) -> np.ndarray:
        return np.sqrt(self.s0**2 + self.k * np.asarray(raw_var, np.float64))

    def to_dict(self) -> dict:
        return {"s0_dex": self.s0, "k": self.k, "n_validation_clusters": self.n}


def gaussian_nll(residual: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Negative log-likelihood of each residual (dex) under N(0, sigma^2), per cluster (nats; sigma in dex)."""
    return 0.5 * np.log(2 * np.pi * sigma**2) + 0.5 * (residual / sigma) ** 2


def gaussian_crps(residual: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """CRPS of N(mu, sigma^2) at the truth, residual = mu - truth (dex), per cluster: closed form (dex)."""
    from scipy.stats import norm

    z = np.asarray(residual) / sigma
    return sigma * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))


def calibrate(validation: Clusters) -> Calibration:
    """Maximum-likelihood (s0, k >= 0) of N(0, s0^2 + k u^2) for the validation clusters' residuals.

    Only `validation` is read: the caller hands in the fold's validation clusters and nothing else.
    """
    from scipy.optimize import minimize

    r, u2 = validation.residual, validation.raw_var
    n = r.size
    if n < 2:
        raise InputError(f"calibration needs at least 2 validation clusters, got {n}")
    scale = max(float(np.sqrt(np.mean(r**2))), 1e-6)
    has_spread = bool(np.any(u2 > 0))

    def nll(params):
        s0, k = np.exp(params[0]), (np.exp(params[1]) if has_spread else 0.0)
        return float(np.sum(gaussian_nll(r, np.sqrt(s0**2 + k * u2))))

    # start from the constant width and from the pure variance scaling; keep the better optimum
    u_mean = float(np.mean(u2)) if has_spread else 1.0
    starts = [(math.log(scale), math.log(1e-3 * scale**2 / max(u_mean, 1e-12))),
              (math.log(1e-3 * scale), math.log(scale**2 / max(u_mean, 1e-12)))]
    best = min((minimize(nll, np.array(s), method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 4000})
                for s in starts), key=lambda res: res.fun)
    s0, k = float(np.exp(best.x[0])), float(np.exp(best.x[1])) if has_spread else 0.0
    return Calibration(s0, k, int(n))


def scores(test: Clusters, sigma: np.ndarray, n_bootstrap: int, seed) -> dict:
    """Coverage of the 68%/95% intervals, mean widths, mean NLL and CRPS of the test clusters, each with a 95%
    interval from `n_bootstrap` resamples of clusters."""
    r = test.residual
    per = {}
    for level in LEVELS:
        z = z_of(level)
        tag = f"{round(level * 100)}"
        per[f"coverage_{tag}"] = (np.abs(r) <= z * sigma).astype(np.float64)
        per[f"width_{tag}_dex"] = 2 * z * sigma
    per["nll"] = gaussian_nll(r, sigma)
    per["crps_dex"] = gaussian_crps(r, sigma)
    out = {"n_clusters": int(r.size)}
    weights = cluster_weights(r.size, n_bootstrap, seed) if n_bootstrap > 0 and r.size > 1 else None
    for key, values in per.items():
        out[key] = float(np.mean(values))
        if weights is not None:
            out[f"{key}_ci95"] = interval95(weights @ values / r.size)
    out["mean_sigma_dex"] = float(np.mean(sigma))
    return out


# --- reading a run's members -----------------------------------------------------------------------------

@dataclass
class MemberTables:
    """One fold member's test predictions and (None for runs trained before they were written) validation ones."""

    fold: int
    member: int
    test: dict
    validation: dict | None
    attrs: dict


def read_member(store_path: Path, fold: int, member: int) -> MemberTables:
    """The complete predictions group of (fold, member); InputError when absent or incomplete."""
    root = open_store(store_path)
    parent, name = member_group(fold, member)
    where = f"{store_path}/{parent}/{name}"
    try:
        group = root[f"{parent}/{name}"]
    except KeyError:
        group = None
    if group is None or not is_complete(group):
        again = f"--fold {fold}" + (f" --member {member}" if member else "")
        raise InputError(f"{where}: missing or not complete; run `xraymass train {again}`")
    test = _read_columns(group, where)
    validation = _read_columns(group["validation"], f"{where}/validation") if "validation" in group else None
    return MemberTables(fold, member, test, validation, dict(group.attrs))


def _read_columns(group, where: str) -> dict:
    from .predictions import read_columns

    return read_columns(group, COLUMNS, where)


def fold_clusters(tables: list[MemberTables], which: str) -> Clusters:
    """The members' `which` ('test' or 'validation') predictions of one fold, per cluster."""
    first = getattr(tables[0], which)
    for t in tables[1:]:
        other = getattr(t, which)
        if not np.array_equal(other["halo_id"], first["halo_id"]) or not np.array_equal(other["projection"], first["projection"]):
            raise StoreError(f"fold {t.fold}: member {t.member}'s {which} predictions are not the same images as "
                             f"member 0's; retrain that member")
    return per_cluster(first["halo_id"], first["log_m500c_true"], [getattr(t, which)["log_m500c_pred"] for t in tables])


def evaluate_uncertainty(store_path: Path, n_folds: int, members: int, n_bootstrap: int, seed) -> dict:
    """Per fold: calibrate on its validation clusters, predict its test clusters; scores pooled over folds."""
    folds = {}
    test_parts = []
    for k in range(n_folds):
        tables = [read_member(store_path, k, m) for m in range(members)]
        if any(t.validation is None for t in tables):
            raise InputError(f"{store_path}/predictions/fold_{k:02d}: no validation predictions (trained by an older "
                             "xraymass); retrain the fold, or set evaluate.uncertainty=false")
        validation, test = fold_clusters(tables, "validation"), fold_clusters(tables, "test")
        check_disjoint(validation, test, f"{store_path}/predictions/fold_{k:02d}")
        cal = calibrate(validation)
        folds[str(k)] = {**cal.to_dict(), "validation_fold": tables[0].attrs.get("validation_fold"),
                         "n_test_clusters": int(test.halo_id.size)}
        test_parts.append((test, cal.sigma(test.raw_var)))
    pooled = concat_clusters([t for t, _ in test_parts])
    sigma = np.concatenate([s for _, s in test_parts])
    return {"method": METHOD_TEXT, "members": int(members), "levels": list(LEVELS),
            "z": [z_of(level) for level in LEVELS],
            "test": scores(pooled, sigma, n_bootstrap, seed), "calibration": folds,
            "mean_member_sd_dex": float(np.mean(np.sqrt(pooled.member_var))),
            "mean_view_sd_dex": float(np.mean(np.sqrt(pooled.view_var)))}


def check_disjoint(validation: Clusters, test: Clusters, where: str) -> None:
    """StoreError when a test cluster is among the validation clusters a calibration would use."""
    shared = np.intersect1d(validation.halo_id, test.halo_id)
    if shared.size:
        raise StoreError(f"{where}: {shared.size} clusters are in both the validation and the test predictions "
                         f"(first: halo {int(shared[0])}); the calibration would see the test fold")


def concat_clusters(parts: list[Clusters]) -> Clusters:
    return Clusters(*(np.concatenate([getattr(p, name) for p in parts])
                      for name in ("halo_id", "true", "mean", "member_var", "view_var")), parts[0].n_members)


def per_cluster_fit(halo_id: np.ndarray, true: np.ndarray, pred: np.ndarray, bin_width_dex: float,
                    n_bootstrap: int, seed) -> dict:
    """The paper's scatter and bias for per-cluster masses (mean of the views' log M): MLE fit, cluster
    bootstrap, and the mean standard deviation of a cluster's views (dex)."""
    c = per_cluster(halo_id, true, [pred])
    fit = with_bootstrap(fit_gaussian(c.residual, bin_width_dex), c.residual, c.halo_id, n_bootstrap, seed)
    return {"estimate": "mean of the views' log10 M per cluster", "fit": fit.to_dict(),
            "mean_view_sd_dex": float(np.mean(np.sqrt(c.view_var)))}
