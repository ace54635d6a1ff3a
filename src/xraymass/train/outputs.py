"""What a finished fold leaves behind (rank 0 only), the store group written last.

<run_dir>/train/fold_KK/: model.keras (the kept model), history.csv, tb/, checkpoints/,
predictions.csv, train.config.yaml; store: predictions/fold_KK (docs/store.md), `complete` last.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from ..provenance import provenance
from ..store import atomic_path, is_complete, mark_complete, open_store, write_text_atomic
from .data import FoldSplit, Stamps

PREDICTION_COLUMNS = ("halo_id", "projection", "augmentation", "log_m500c_true", "log_m500c_pred")


def fold_name(fold: int) -> str:
    return f"fold_{fold:02d}"


def predictions_group(store_path: Path, mode: str) -> zarr.Group | None:
    """The store's `predictions/` group: None if absent (mode 'r'), created if absent (mode 'a')."""
    root = open_store(store_path, "r" if mode == "r" else "r+")
    if mode == "r":
        return root["predictions"] if "predictions" in root else None
    return root.require_group("predictions")


def fold_is_complete(store_path: Path, fold_dir: Path, fold: int) -> bool:
    parent = predictions_group(store_path, "r")
    if parent is None or fold_name(fold) not in parent:
        return False
    return is_complete(parent[fold_name(fold)]) and (fold_dir / "model.keras").is_file()


def save_model(model, path: Path) -> None:
    """Save in the Keras format under a temporary name, then rename (never a half-written model.keras)."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def prediction_table(stamps: Stamps, rows: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    return {"halo_id": stamps.halo_id[rows].astype(np.int64), "projection": stamps.projection[rows].astype(np.int8),
            "augmentation": stamps.augmentation[rows].astype(np.int8),
            "log_m500c_true": stamps.log_m500c[rows].astype(np.float32),
            "log_m500c_pred": np.asarray(pred, dtype=np.float32)}


def write_predictions_csv(path: Path, table: dict[str, np.ndarray]) -> None:
    lines = [",".join(PREDICTION_COLUMNS)]
    for i in range(len(table["halo_id"])):
        lines.append(f"{table['halo_id'][i]},{table['projection'][i]},{table['augmentation'][i]},"
                     f"{table['log_m500c_true'][i]:.9g},{table['log_m500c_pred'][i]:.9g}")
    write_text_atomic(path, "\n".join(lines) + "\n")


def write_predictions_group(store_path: Path, split: FoldSplit, table: dict[str, np.ndarray], kept_epoch: int,
                            converged: bool, ranks: int, rule: str = "paper") -> None:
    """predictions/fold_KK: rewritten whole (an unfinished one is replaced), `complete` written last."""
    parent = predictions_group(store_path, "a")
    name = fold_name(split.fold)
    if name in parent:
        del parent[name]
    group = parent.create_group(name)
    for column in PREDICTION_COLUMNS:
        group.create_array(column, data=table[column], chunks=(max(1, len(table[column])),))
    group.attrs.update({"fold": split.fold, "validation_fold": split.validation_fold,
                        "training_folds": list(split.training_folds), "kept_epoch": int(kept_epoch),
                        "converged": bool(converged), "rule": rule, "provenance": provenance("train", ranks)})
    mark_complete(group)
