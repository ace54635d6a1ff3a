"""The test-set predictions of the cross-validation folds, read from `predictions/fold_KK` (docs/store.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, StoreError
from ..layout import STAMPS, fold_name, group_complete, predictions_group
from ..store import array_of, open_store, read_verified

ARRAYS = ("halo_id", "projection", "augmentation", "log_m500c_true", "log_m500c_pred")


def fold_group_name(fold: int) -> str:
    """A fold's predictions in the store (xraymass.layout.predictions_group)."""
    return predictions_group(fold)


@dataclass
class Predictions:
    """Every image's prediction, all folds concatenated; `folds` holds each fold's store attributes."""

    halo_id: np.ndarray
    projection: np.ndarray
    augmentation: np.ndarray
    log_m500c_true: np.ndarray
    log_m500c_pred: np.ndarray
    fold: np.ndarray
    folds: dict[int, dict] = field(default_factory=dict)

    @property
    def delta(self) -> np.ndarray:
        """delta = log10(M_pred) - log10(M_true) per image, in dex."""
        return self.log_m500c_pred.astype(np.float64) - self.log_m500c_true.astype(np.float64)

    def select(self, mask: np.ndarray) -> "Predictions":
        return Predictions(*(getattr(self, name)[mask] for name in (*ARRAYS, "fold")), folds=self.folds)


def stored_n_folds(cfg, stage: str = "evaluate") -> int:
    """The number of folds the store's stamps were made with (their `n_folds`), after checking that the
    config's stamps settings are the store's; the config's stamps.n_folds when the store has no stamps."""
    from ..train.data import check_made_with

    check_made_with(cfg.store_path, cfg, stage)
    root = open_store(cfg.store_path)
    if STAMPS in root and "n_folds" in root[STAMPS].attrs:
        return int(root[STAMPS].attrs["n_folds"])
    return int(cfg.stamps["n_folds"])


def available_folds(store_path: Path, n_folds: int) -> list[int]:
    """The folds whose predictions group exists and is complete."""
    root = open_store(store_path)
    return [k for k in range(n_folds) if _complete_group(root, fold_group_name(k)) is not None]


def load_predictions(store_path: Path, n_folds: int, folds: list[int] | None = None) -> Predictions:
    """Read the predictions of `folds` (default: all n_folds). Every fold asked for must be complete.

    A fold that is absent or not complete raises InputError naming every such fold, and nothing is
    evaluated; a NaN or infinite value raises InputError naming the fold and the array.
    """
    root = open_store(store_path)
    wanted = list(range(n_folds)) if folds is None else list(folds)
    groups = {k: _complete_group(root, fold_group_name(k)) for k in wanted}
    missing = [k for k, g in groups.items() if g is None]
    if missing:
        names = ", ".join(fold_name(k) for k in missing)
        raise InputError(f"{store_path}/predictions: {len(missing)} of {len(wanted)} folds missing or not complete "
                         f"({names}); run `xraymass train` for them; nothing evaluated")
    parts: dict[str, list[np.ndarray]] = {name: [] for name in (*ARRAYS, "fold")}
    attrs: dict[int, dict] = {}
    for k, group in groups.items():
        arrays = _read_fold(store_path, k, group)
        for name in ARRAYS:
            parts[name].append(arrays[name])
        parts["fold"].append(np.full(len(arrays["halo_id"]), k, dtype=np.int16))
        attrs[k] = {key: group.attrs.get(key) for key in ("fold", "validation_fold", "kept_epoch", "converged")}
        attrs[k]["physics_data"] = (group.attrs.get("provenance") or {}).get("physics_data")
    return Predictions(*(np.concatenate(parts[name]) for name in (*ARRAYS, "fold")), folds=attrs)


def physics_data_of_predictions(predictions: Predictions):
    """The physics data the folds' predictions were made from (recorded by `train` from the stamps' provenance):
    the one record all folds share, or {'differ': [...]} listing each distinct record with its folds."""
    records: list[tuple[object, list[int]]] = []
    for k, attrs in sorted(predictions.folds.items()):
        record = attrs.get("physics_data")
        for known, folds in records:
            if known == record:
                folds.append(k)
                break
        else:
            records.append((record, [k]))
    if len(records) == 1:
        return records[0][0]
    return {"differ": [{"folds": folds, "physics_data": record} for record, folds in records]}


def _complete_group(root, name: str):
    return root[name] if group_complete(root, name) else None


def read_columns(group, names, where: str) -> dict[str, np.ndarray]:
    """The arrays `names` of a predictions group, each checked against its writer's record; StoreError naming
    `where` and the array when one is missing or damaged."""
    arrays = {}
    for name in names:
        if name not in group:
            raise StoreError(f"{where}: array '{name}' is missing (docs/store.md lists {', '.join(names)})")
        arrays[name] = read_verified(array_of(group, name, f"{where}/{name}"), f"{where}/{name}")
    return arrays


def _read_fold(store_path: Path, fold: int, group) -> dict[str, np.ndarray]:
    where = f"{store_path}/{fold_group_name(fold)}"
    arrays = read_columns(group, ARRAYS, where)
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) != 1:
        raise StoreError(f"{where}: arrays have different lengths {sorted(lengths)}")
    if lengths == {0}:
        raise InputError(f"{where}: the fold has no test predictions")
    for name in ("log_m500c_true", "log_m500c_pred"):
        bad = int(np.count_nonzero(~np.isfinite(arrays[name])))
        if bad:
            raise InputError(f"{where}/{name}: {bad} of {len(arrays[name])} values are NaN or infinite "
                             "(a diverged model?); retrain this fold; nothing evaluated")
    return arrays
