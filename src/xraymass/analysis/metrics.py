"""Scatter and bias of mass residuals: the estimators, cluster bootstrap intervals, the dex-to-percent conversion.

The residual is delta = log10(M_pred) - log10(M_true) in dex. Every Fit names its estimator:

- **primary** (`sigma`, `mu`, estimator 'mle'): the unbinned maximum-likelihood Gaussian, mu = mean(delta)
  and sigma = the standard deviation with ddof 0 (sqrt of the mean squared deviation).
- **histogram** (`hist_sigma`, `hist_mu`, `hist_status`): the paper's fit for comparison, a least-squares fit
  (scipy `curve_fit`) of A exp(-(x - mu)^2 / 2 sigma^2) to the histogram of delta as a probability density,
  over its 0.1-99.9th percentile range. Its bin width, `hist_bin_width_dex`, is the width actually used for
  that sample: the configured width, widened to the Freedman-Diaconis width for small samples, at most half
  the robust width; `hist_n_bins` bins. A fit that is not attempted (fewer than MIN_FIT_SAMPLES residuals or
  4 filled bins) or fails (no convergence, or a centre outside the data or a width beyond their range: on a
  few clumps of residuals least squares runs off to a flat, far-away Gaussian) has `hist_sigma` = None and
  `hist_status` saying why; nothing replaces it.
- `robust_sigma`: half the 16-84th percentile range; `median`.

Bootstrap intervals (`bootstrap_over_clusters`) resample clusters with replacement, never images: the 24
images of a cluster are views of one object and their residuals are correlated.

Percent scatter is ln(10) * sigma * 100: the fractional scatter of M for a small log-normal width.
This is the conversion that matches the paper's pairs (0.051 dex: 11.6%, 0.041: 9.6%, 0.033: 7.7%,
0.025: 5.7%) once its three-decimal rounding of sigma is allowed for; 100 (10^sigma - 1) would
give 12.5% for 0.051 dex.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

LN10 = math.log(10.0)
MIN_FIT_SAMPLES = 8
ESTIMATOR = "mle"
ESTIMATOR_TEXT = "unbinned maximum-likelihood Gaussian (mean, standard deviation with ddof 0)"
HISTOGRAM_TEXT = "least-squares Gaussian fit to the histogram of delta (the paper's; for comparison)"


def dex_to_percent(sigma_dex: float) -> float:
    """Fractional scatter in percent of a log-normal width sigma in dex: 100 ln(10) sigma."""
    return 100.0 * LN10 * sigma_dex


def percent_to_dex(percent: float) -> float:
    """A scatter in percent (100 ln(10) sigma, the paper's conversion) as sigma in dex."""
    return percent / (100.0 * LN10)


@dataclass
class Fit:
    """Scatter of one set of residuals (dex unless named _percent). sigma, mu: the MLE (see the module docstring)."""

    n: int
    estimator: str
    sigma: float
    mu: float
    sigma_percent: float
    hist_status: str
    hist_sigma: float
    hist_mu: float
    hist_sigma_err: float
    hist_mu_err: float
    hist_sigma_percent: float
    hist_bin_width_dex: float
    hist_n_bins: int
    median: float
    robust_sigma: float
    robust_sigma_percent: float
    n_clusters: int | None = None
    sigma_ci95: list | None = None
    mu_ci95: list | None = None
    bootstrap: str | None = None

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def gaussian(x: np.ndarray, amplitude: float, mu: float, sigma: float) -> np.ndarray:
    """amplitude exp(-(x - mu)^2 / 2 sigma^2); x, mu and sigma in the same unit (dex for delta)."""
    return amplitude * np.exp(-0.5 * ((x - mu) / sigma) ** 2)


def robust_sigma(delta: np.ndarray) -> float:
    """Half the 16-84th percentile range: the Gaussian sigma for Gaussian residuals."""
    lo, hi = np.percentile(delta, [16.0, 84.0])
    return 0.5 * float(hi - lo)


def freedman_diaconis(delta: np.ndarray) -> float:
    """The Freedman-Diaconis bin width, 2 IQR / n^(1/3): wider bins where there are few residuals."""
    q25, q75 = np.percentile(delta, [25.0, 75.0])
    return 2.0 * float(q75 - q25) / len(delta) ** (1.0 / 3.0)


def histogram_bin_width(delta: np.ndarray, bin_width_dex: float) -> float:
    """The bin width the histogram fit uses for this sample (dex): see the module docstring."""
    return min(max(bin_width_dex, freedman_diaconis(delta)), robust_sigma(delta) / 2.0)


def histogram_density(delta: np.ndarray, bin_width_dex: float) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres and probability density of delta over its 0.1-99.9th percentile range."""
    lo, hi = np.percentile(delta, [0.1, 99.9])
    nbins = max(int(math.ceil((hi - lo) / bin_width_dex)), 1)
    edges = lo + bin_width_dex * np.arange(nbins + 1) - 0.5 * (nbins * bin_width_dex - (hi - lo))
    counts, edges = np.histogram(delta, bins=edges)
    density = counts / (len(delta) * bin_width_dex)
    return 0.5 * (edges[1:] + edges[:-1]), density


def mle_gaussian(delta: np.ndarray) -> tuple[float, float]:
    """(mu, sigma) of the maximum-likelihood Gaussian: the mean and the ddof-0 standard deviation (dex)."""
    delta = np.asarray(delta, dtype=np.float64)
    return float(delta.mean()), float(delta.std(ddof=0))


def fit_gaussian(delta: np.ndarray, bin_width_dex: float = 0.01) -> Fit:
    """The MLE Gaussian (primary), the paper's histogram fit beside it (or why it failed), the robust width."""
    delta = np.asarray(delta, dtype=np.float64)
    n = int(delta.size)
    nan = float("nan")
    if n == 0:
        return Fit(0, ESTIMATOR, nan, nan, nan, "not attempted: no residuals", nan, nan, nan, nan, nan, nan, 0,
                   nan, nan, nan)
    mu, sigma = mle_gaussian(delta)
    median, rsigma = float(np.median(delta)), robust_sigma(delta)
    hist = histogram_fit(delta, bin_width_dex)
    return Fit(n, ESTIMATOR, sigma, mu, dex_to_percent(sigma), hist["status"], hist["sigma"], hist["mu"],
               hist["sigma_err"], hist["mu_err"], dex_to_percent(hist["sigma"]), hist["bin_width_dex"],
               hist["n_bins"], median, rsigma, dex_to_percent(rsigma))


def histogram_fit(delta: np.ndarray, bin_width_dex: float) -> dict:
    """The paper's least-squares fit to the histogram of delta; status 'ok', 'not attempted: ...' or 'failed: ...'."""
    from scipy.optimize import curve_fit

    nan = float("nan")
    out = {"status": "", "sigma": nan, "mu": nan, "sigma_err": nan, "mu_err": nan, "bin_width_dex": nan, "n_bins": 0}
    rsigma = robust_sigma(delta)
    if delta.size < MIN_FIT_SAMPLES or rsigma <= 0:
        out["status"] = f"not attempted: {delta.size} residuals" + ("" if rsigma > 0 else " with zero robust width")
        return out
    width = histogram_bin_width(delta, bin_width_dex)
    x, y = histogram_density(delta, width)
    out.update(bin_width_dex=float(width), n_bins=int(x.size))
    if np.count_nonzero(y) < 4:
        out["status"] = f"not attempted: {np.count_nonzero(y)} filled bins"
        return out
    p0 = (1.0 / (math.sqrt(2 * math.pi) * rsigma), float(np.median(delta)), rsigma)
    try:
        popt, pcov = curve_fit(gaussian, x, y, p0=p0, maxfev=10000)
    except RuntimeError as err:
        out["status"] = f"failed: no convergence ({err})"
        return out
    implausible = _implausible(popt, delta)
    if implausible:
        out["status"] = f"failed: {implausible}"
        return out
    perr = np.sqrt(np.abs(np.diag(pcov))) if np.all(np.isfinite(pcov)) else [nan] * 3
    out.update(status="ok", mu=float(popt[1]), sigma=abs(float(popt[2])), mu_err=float(perr[1]),
               sigma_err=float(perr[2]))
    return out


def _implausible(popt: np.ndarray, delta: np.ndarray) -> str:
    """Why a histogram fit is not a description of the data ('' if it is): its centre must lie inside the data
    and its width within their range (on a few clumps least squares runs off to a flat, far-away Gaussian)."""
    _, mu, sigma = popt
    span = float(delta.max() - delta.min())
    if not np.all(np.isfinite(popt)):
        return "non-finite parameters"
    if not 0 < abs(sigma) <= span:
        return f"sigma {abs(sigma):.3g} dex outside (0, {span:.3g}], the range of the data"
    if not delta.min() <= mu <= delta.max():
        return f"mu {mu:.3g} dex outside the data [{delta.min():.3g}, {delta.max():.3g}]"
    return ""


def cluster_weights(n_clusters: int, n_bootstrap: int, seed) -> np.ndarray:
    """[n_bootstrap, n_clusters] multiplicities of each cluster in each resample (clusters drawn with replacement)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n_clusters, size=(n_bootstrap, n_clusters))
    weights = np.zeros((n_bootstrap, n_clusters))
    np.add.at(weights, (np.repeat(np.arange(n_bootstrap), n_clusters), picks.ravel()), 1.0)
    return weights


def cluster_sums(values: np.ndarray, cluster: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """Per cluster of `clusters` (sorted ids): [count, sum, sum of squares] of the values, shape [n_clusters, 3]."""
    index = np.searchsorted(clusters, cluster)
    values = np.asarray(values, dtype=np.float64)
    return np.stack([np.bincount(index, minlength=clusters.size).astype(np.float64),
                     np.bincount(index, values, clusters.size), np.bincount(index, values**2, clusters.size)], axis=1)


def resampled_mle(weights: np.ndarray, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """MLE (mu, sigma) of each resample from per-cluster sums: arrays [n_bootstrap]."""
    n, s1, s2 = (weights @ sums).T
    mu = s1 / n
    return mu, np.sqrt(np.clip(s2 / n - mu**2, 0.0, None))


def interval95(samples: np.ndarray) -> list[float]:
    """The 2.5-97.5th percentile range of bootstrap samples."""
    lo, hi = np.nanpercentile(samples, [2.5, 97.5])
    return [float(lo), float(hi)]


def bootstrap_text(n_bootstrap: int) -> str:
    return f"95% percentile interval of {n_bootstrap} bootstrap resamples of clusters (with replacement)"


def with_bootstrap(fit: Fit, delta: np.ndarray, cluster: np.ndarray, n_bootstrap: int, seed) -> Fit:
    """The fit with 95% intervals on its MLE sigma and mu from resampling clusters (not images)."""
    clusters = np.unique(cluster)
    fit.n_clusters = int(clusters.size)
    if clusters.size < 2 or n_bootstrap < 1:
        fit.bootstrap = "not done: fewer than 2 clusters" if clusters.size < 2 else "not done: n_bootstrap = 0"
        return fit
    mu, sigma = resampled_mle(cluster_weights(clusters.size, n_bootstrap, seed), cluster_sums(delta, cluster, clusters))
    fit.sigma_ci95, fit.mu_ci95, fit.bootstrap = interval95(sigma), interval95(mu), bootstrap_text(n_bootstrap)
    return fit


def paired_sigma_change(base: np.ndarray, other: np.ndarray, cluster: np.ndarray, n_bootstrap: int, seed) -> dict:
    """How the MLE sigma changes from `base` to `other`, two sets of residuals of the same images (dex).

    Each resample of clusters weighs both sets alike, so the interval on the difference other - base
    leaves out the spread that the choice of clusters gives both; each sigma's own interval (from the
    same resamples) is the one a single run reports. `within_base_interval`: other's sigma lies in
    base's 95% interval."""
    base, other = np.asarray(base, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if base.shape != other.shape or base.shape != np.shape(cluster):
        raise ValueError(f"paired residuals differ in shape: {base.shape}, {other.shape}, clusters {np.shape(cluster)}")
    clusters = np.unique(cluster)
    weights = cluster_weights(clusters.size, n_bootstrap, seed)
    _, s_base = resampled_mle(weights, cluster_sums(base, cluster, clusters))
    _, s_other = resampled_mle(weights, cluster_sums(other, cluster, clusters))
    sigma_base, sigma_other = mle_gaussian(base)[1], mle_gaussian(other)[1]
    base_ci = interval95(s_base)
    return {"n": int(base.size), "n_clusters": int(clusters.size), "estimator": ESTIMATOR,
            "sigma_base": sigma_base, "sigma_base_ci95": base_ci,
            "sigma_other": sigma_other, "sigma_other_ci95": interval95(s_other),
            "difference": sigma_other - sigma_base, "difference_ci95": interval95(s_other - s_base),
            "within_base_interval": bool(base_ci[0] <= sigma_other <= base_ci[1]),
            "bootstrap": f"{bootstrap_text(n_bootstrap)}, the same resamples for both (paired)"}


def nanmedian(values: np.ndarray, axis: int) -> np.ndarray:
    """numpy.nanmedian without the warning for all-NaN slices (they stay NaN: e.g. empty radial bins)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(values, axis=axis)


def in_mass_range(log_m_true: np.ndarray, mass_range: tuple[float, float]) -> np.ndarray:
    """Mask of lo < log10 M_true < hi (strict, as the paper's 14.0 < log M < 14.5)."""
    lo, hi = mass_range
    return (log_m_true > lo) & (log_m_true < hi)


BEST_FOLD_RULE = "the fold with the smallest MLE sigma (ddof 0) of its test images' delta"


def best_fold(fold_fits: dict[int, Fit]) -> int:
    """The fold whose MLE sigma is smallest (the paper's 'best-fit fold', by one stated estimator)."""
    finite = {k: f.sigma for k, f in fold_fits.items() if math.isfinite(f.sigma)}
    if not finite:
        raise ValueError("no fold has a finite Gaussian width")
    return min(finite, key=lambda k: (finite[k], k))
