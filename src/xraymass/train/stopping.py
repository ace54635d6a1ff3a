"""The stopping rules, evaluated on the validation fold after every epoch (pure functions).

delta = log10(M_pred) - log10(M_true), one value per validation image. An epoch meets the paper's
criteria when
  max |delta| < max_abs_delta (0.3), |median delta| < max_abs_median (0.02), and
  the slope of the least-squares line > min_slope (0.9).
The line (`slope_fit`): "pred_on_true" (default) fits log10 M_pred against log10 M_true; predictions
shrunk towards the mean have a slope below 1 and fail. "true_on_pred" fits log10 M_true against
log10 M_pred, the paper's words read literally ("M_true vs M_pred", M_true on the y axis); it passes
shrunk predictions (their slope is above 1): on the demo, folds were kept at slopes of 1.45-6.3 with
predictions spanning 11-67% of the true range.

The span ratio of an epoch is (max - min of the predicted log10 M over the validation images) /
(max - min of the true log10 M over the same images); NaN when the true values do not vary.

Two rules choose the epoch whose model is kept (epochs count from 1):
- "paper": the first epoch that meets the paper's three criteria; if none does by max_epochs, the
  last epoch (not converged).
- "patience": an epoch is eligible when it meets the paper's three criteria and its span ratio is
  at least min_span. From the first eligible epoch f, training goes on to epoch f + patience (or
  max_epochs, whichever is first) and the eligible epoch of lowest validation loss (MSE) in f..f+patience
  is kept (converged; the earliest on a tie). If no epoch is eligible by max_epochs, the fallback
  (not converged) is the epoch of lowest validation loss among those with span ratio >= min_span, or,
  if no epoch reaches min_span, the epoch of largest span ratio.
The patience rule's kept epoch never precedes the paper rule's: the paper rule's choice can be read
from the same trajectory (`decide(history, "paper", ...)`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

RULES = ("paper", "patience")
SLOPE_FITS = ("pred_on_true", "true_on_pred")


@dataclass(frozen=True)
class Criteria:
    max_abs_delta: float
    median_delta: float
    slope: float
    span_ratio: float
    delta_ok: bool
    median_ok: bool
    slope_ok: bool
    span_ok: bool

    @property
    def met(self) -> bool:
        """The paper's three criteria (the span is not one of them)."""
        return self.delta_ok and self.median_ok and self.slope_ok

    @property
    def eligible(self) -> bool:
        """The patience rule's criteria: the paper's three and the span."""
        return self.met and self.span_ok


@dataclass(frozen=True)
class Decision:
    epoch: int          # the epoch whose model is kept
    converged: bool     # the rule's criteria were met (False: the fallback after max_epochs)
    reason: str         # one phrase for the log


def residuals(log_true: np.ndarray, log_pred: np.ndarray) -> np.ndarray:
    return np.asarray(log_pred, dtype=np.float64) - np.asarray(log_true, dtype=np.float64)


def slope_true_vs_pred(log_true: np.ndarray, log_pred: np.ndarray, slope_fit: str = "pred_on_true") -> float:
    """Slope of the least-squares line log M_pred = a + b log M_true ("pred_on_true"), or of
    log M_true = a + b log M_pred ("true_on_pred"); NaN when the x values do not vary."""
    if slope_fit not in SLOPE_FITS:
        raise ValueError(f"slope_fit must be one of {SLOPE_FITS}, not {slope_fit!r}")
    x = np.asarray(log_true, dtype=np.float64)
    y = np.asarray(log_pred, dtype=np.float64)
    if slope_fit == "true_on_pred":
        x, y = y, x
    if x.size < 2 or np.all(x == x[0]):
        return float("nan")
    dx = x - x.mean()
    return float(np.dot(dx, y - y.mean()) / np.dot(dx, dx))


def span_ratio(log_true: np.ndarray, log_pred: np.ndarray) -> float:
    """(max - min of log10 M_pred) / (max - min of log10 M_true) over the same images, in dex / dex;
    NaN when the true masses do not vary."""
    true = np.asarray(log_true, dtype=np.float64)
    pred = np.asarray(log_pred, dtype=np.float64)
    true_range = float(np.max(true) - np.min(true))
    if true_range == 0.0 or not np.all(np.isfinite(pred)):
        return float("nan")
    return float(np.max(pred) - np.min(pred)) / true_range


def evaluate(log_true: np.ndarray, log_pred: np.ndarray, max_abs_delta: float, max_abs_median: float,
             min_slope: float, slope_fit: str = "pred_on_true", min_span: float = 0.0) -> Criteria:
    """The criteria on one set of predictions (log10 M in dex); NaN predictions fail every criterion."""
    delta = residuals(log_true, log_pred)
    if delta.size == 0:
        raise ValueError("the stopping rule needs at least one validation image")
    worst = float(np.max(np.abs(delta)))
    median = float(np.median(delta))
    slope = slope_true_vs_pred(log_true, log_pred, slope_fit)
    span = span_ratio(log_true, log_pred)
    return Criteria(worst, median, slope, span,
                    delta_ok=bool(worst < max_abs_delta),
                    median_ok=bool(abs(median) < max_abs_median),
                    slope_ok=bool(slope > min_slope),
                    span_ok=bool(span >= min_span))


def kept_epoch(met_per_epoch: list[bool], max_epochs: int) -> tuple[int, bool] | None:
    """The paper's rule: (epoch kept, converged) from the per-epoch outcomes so far, or None while
    training must go on. The first epoch that met the rule, converged; else, once max_epochs epochs
    are done, the last one, not converged."""
    for epoch, met in enumerate(met_per_epoch, start=1):
        if met:
            return epoch, True
    if len(met_per_epoch) >= max_epochs:
        return max_epochs, False
    return None


def decide(history: list[dict], rule: str, max_epochs: int, patience: int = 0) -> Decision | None:
    """The epoch kept by `rule` from the history so far (rows with epoch, val_loss, span_ratio, met,
    span_ok, in epoch order from 1), or None while training must go on (see the module docstring)."""
    if rule == "paper":
        found = kept_epoch([bool(row["met"]) for row in history], max_epochs)
        if found is None:
            return None
        epoch, converged = found
        return Decision(epoch, converged, "stopping rule met" if converged
                        else "stopping rule never met: last epoch")
    if rule != "patience":
        raise ValueError(f"rule must be one of {RULES}, not {rule!r}")
    eligible = [row["epoch"] for row in history if row["met"] and row["span_ok"]]
    if eligible:
        first = eligible[0]
        last = min(first + patience, max_epochs)
        if len(history) < last:
            return None
        window = [row for row in history[first - 1:last] if row["met"] and row["span_ok"]]
        best = min(window, key=lambda row: (_loss(row), row["epoch"]))
        return Decision(best["epoch"], True, f"criteria first met at epoch {first}; lowest validation loss "
                                             f"of the eligible epochs {first}-{last}")
    if len(history) < max_epochs:
        return None
    wide = [row for row in history[:max_epochs] if row["span_ok"]]
    if wide:
        best = min(wide, key=lambda row: (_loss(row), row["epoch"]))
        return Decision(best["epoch"], False, "criteria never met: lowest validation loss of the epochs "
                                              "with span ratio >= min_span")
    best = max(history[:max_epochs], key=lambda row: (_span(row), -row["epoch"]))
    return Decision(best["epoch"], False, "criteria never met and no epoch reached min_span: largest span ratio")


def pinned_epochs(history: list[dict], rule: str, max_epochs: int, patience: int = 0) -> set[int]:
    """The epochs whose checkpoints must outlive pruning: the epoch each rule would keep if
    training ended now (the paper rule's first met epoch and the patience rule's current choice)."""
    pins = set()
    met = [row["epoch"] for row in history if row["met"]]
    if met:
        pins.add(met[0])
    if rule == "patience" and history:
        pins.add(provisional(history, patience).epoch)
    return pins


def provisional(history: list[dict], patience: int) -> Decision:
    """The patience rule's choice if training ended after the last epoch of `history`."""
    return decide(history, "patience", max_epochs=len(history), patience=min(patience, len(history)))


def _loss(row: dict) -> float:
    value = float(row["val_loss"])
    return value if math.isfinite(value) else math.inf


def _span(row: dict) -> float:
    value = float(row["span_ratio"])
    return value if math.isfinite(value) else -math.inf
