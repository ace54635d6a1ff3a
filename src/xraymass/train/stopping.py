"""The paper's stopping rule, evaluated on the validation fold after every epoch (pure functions).

delta = log10(M_pred) - log10(M_true), one value per validation image. An epoch meets the rule when
  max |delta| < max_abs_delta (0.3), |median delta| < max_abs_median (0.02), and
  the slope of the least-squares line of log10 M_true against log10 M_pred (M_true on the y axis,
  M_pred on the x axis: "M_true vs M_pred") > min_slope (0.9).
With slope_fit "pred_on_true" the line is log10 M_pred against log10 M_true instead. The paper's
words admit predictions shrunk towards the mean (their slope of M_true on M_pred is above 1): on
the demo, fold 0 met the rule at epoch 2 with a slope of 6.3. The other fit fails such predictions.
The first epoch that meets all three is the model kept; if none does by max_epochs (400 in the
paper), the last epoch's model is kept.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Criteria:
    max_abs_delta: float
    median_delta: float
    slope: float
    delta_ok: bool
    median_ok: bool
    slope_ok: bool

    @property
    def met(self) -> bool:
        return self.delta_ok and self.median_ok and self.slope_ok


def residuals(log_true: np.ndarray, log_pred: np.ndarray) -> np.ndarray:
    return np.asarray(log_pred, dtype=np.float64) - np.asarray(log_true, dtype=np.float64)


def slope_true_vs_pred(log_true: np.ndarray, log_pred: np.ndarray, slope_fit: str = "true_on_pred") -> float:
    """Slope of the least-squares line log M_true = a + b log M_pred ("true_on_pred"), or of
    log M_pred = a + b log M_true ("pred_on_true"); NaN when the x values do not vary."""
    x = np.asarray(log_pred, dtype=np.float64)
    y = np.asarray(log_true, dtype=np.float64)
    if slope_fit == "pred_on_true":
        x, y = y, x
    if x.size < 2 or np.all(x == x[0]):
        return float("nan")
    dx = x - x.mean()
    return float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))


def evaluate(log_true: np.ndarray, log_pred: np.ndarray, max_abs_delta: float, max_abs_median: float,
             min_slope: float, slope_fit: str = "true_on_pred") -> Criteria:
    """The three criteria on one set of predictions (NaN predictions fail every criterion)."""
    delta = residuals(log_true, log_pred)
    if delta.size == 0:
        raise ValueError("the stopping rule needs at least one validation image")
    worst = float(np.max(np.abs(delta)))
    median = float(np.median(delta))
    slope = slope_true_vs_pred(log_true, log_pred, slope_fit)
    return Criteria(worst, median, slope,
                    delta_ok=bool(worst < max_abs_delta),
                    median_ok=bool(abs(median) < max_abs_median),
                    slope_ok=bool(slope > min_slope))


def kept_epoch(met_per_epoch: list[bool], max_epochs: int) -> tuple[int, bool] | None:
    """(epoch kept, converged) from the per-epoch outcomes so far (epochs count from 1).

    The first epoch that met the rule, converged; else, once max_epochs epochs are done, the last
    one, not converged; None while training must go on.
    """
    for epoch, met in enumerate(met_per_epoch, start=1):
        if met:
            return epoch, True
    if len(met_per_epoch) >= max_epochs:
        return max_epochs, False
    return None
