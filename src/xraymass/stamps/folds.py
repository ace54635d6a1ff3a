"""Cross-validation folds: clusters ordered by mass and dealt out cyclically, as in the paper.

The lightest cluster goes to fold 0, the next to fold 1, ..., the n-th to fold n-1, the
(n+1)-th to fold 0 again, so every fold has about the same mass function. Clusters of equal
mass keep their catalogue order. All images of a cluster carry its fold.

Run k of the cross-validation tests on fold k, validates on fold (k + 1) mod n and trains on
the other n - 2 folds; runs 0..n-1 predict every cluster once.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError


def assign_folds(log_m500c: np.ndarray, n_folds: int) -> np.ndarray:
    """Fold (int8) of each cluster, in the order given: mass rank modulo n_folds."""
    masses = np.asarray(log_m500c, dtype=np.float64)
    if masses.ndim != 1:
        raise InputError(f"masses must be one value per cluster, got shape {masses.shape}")
    if not np.all(np.isfinite(masses)):
        raise InputError("cluster masses contain NaN or infinity; cannot order clusters into folds")
    if not 2 <= n_folds <= 127:
        raise InputError(f"n_folds must be 2-127, got {n_folds}")
    folds = np.empty(len(masses), np.int8)
    folds[np.argsort(masses, kind="stable")] = np.arange(len(masses)) % n_folds
    return folds


def split(k: int, n_folds: int) -> tuple[int, int, list[int]]:
    """(test fold, validation fold, training folds) of cross-validation run k."""
    if not 0 <= k < n_folds:
        raise InputError(f"fold {k} does not exist: folds are 0-{n_folds - 1}")
    if n_folds < 3:
        raise InputError(f"cross-validation needs at least 3 folds (test, validation, training), got {n_folds}")
    validation = (k + 1) % n_folds
    return k, validation, [f for f in range(n_folds) if f not in (k, validation)]
