"""What a finished fold leaves behind (rank 0 only), the store group written last.

<run_dir>/train/fold_KK/: model.keras (the kept model), history.csv, tb/, checkpoints/,
predictions.csv, train.config.yaml; store: predictions/fold_KK (docs/store.md), `complete` last.
Its `validation/` subgroup holds the kept model's predictions on the validation fold (what the
uncertainty calibration reads). Ensemble members m >= 1 (`train.members`, members.py) write the same
to train/fold_KK_mMM/ and ensemble/fold_KK_mMM.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from .. import layout
from ..errors import StoreError
from ..provenance import provenance
from ..store import atomic_path, consolidate, file_sha256, is_complete, mark_complete, open_store, write_array, write_text_atomic
from .data import FoldSplit, Stamps
from .members import PAPER_GROUP, member_group

PREDICTION_COLUMNS = ("halo_id", "projection", "augmentation", "log_m500c_true", "log_m500c_pred")


def fold_name(fold: int) -> str:
    """A fold's group and folder name (xraymass.layout.fold_name)."""
    return layout.fold_name(fold)


def predictions_group(store_path: Path, mode: str, parent: str = PAPER_GROUP) -> zarr.Group | None:
    """The store's `predictions/` (or `ensemble/`) group: None if absent (mode 'r'), created if absent (mode 'a')."""
    root = open_store(store_path, "r" if mode == "r" else "r+")
    if mode == "r":
        return root[parent] if parent in root else None
    return root.require_group(parent)


def stamps_physics_data(store_path: Path):
    """The physics data the stamps were made from (the mocks' record, carried in the stamps' provenance); None
    when the store has no stamps or they record none."""
    try:
        root = open_store(store_path)
    except Exception:  # no store yet: the stage that needs it reports that itself
        return None
    if layout.STAMPS not in root:
        return None
    return (root[layout.STAMPS].attrs.get("provenance") or {}).get("physics_data")


def fold_is_complete(store_path: Path, fold_dir: Path, fold: int, member: int = 0) -> bool:
    """True when the fold's (member's) predictions are complete and its model.keras is the one they were made
    with (StoreError when model.keras is there but differs: corrupt, or another fold's or run's)."""
    parent_name, name = member_group(fold, member)
    parent = predictions_group(store_path, "r", parent_name)
    if parent is None or name not in parent:
        return False
    group = parent[name]
    if not is_complete(group) or not (fold_dir / "model.keras").is_file():
        return False
    check_model(fold_dir / layout.MODEL_FILE, group, f"{store_path}/{layout.member_group(fold, member)}")
    return True


def check_model(path: Path, group, where: str) -> None:
    """StoreError unless the file's SHA-256 is the one the predictions group recorded for its model."""
    recorded = group.attrs.get("model_sha256")
    if recorded is None:
        raise StoreError(f"{where}: no record of its model's checksum (not written by this xraymass); "
                         f"remove {path.parent} to train the fold again")
    if file_sha256(path) != recorded:
        raise StoreError(f"{path}: not the model this fold's predictions were made with (its SHA-256 differs from "
                         f"the one recorded in {where}: corrupt or replaced); remove {path.parent} to train the fold again")


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
                            converged: bool, ranks: int, rule: str = "paper", model_sha256: str | None = None,
                            validation: dict[str, np.ndarray] | None = None, member: int = 0,
                            seed: int | None = None) -> None:
    """predictions/fold_KK (ensemble/fold_KK_mMM for member m >= 1): the test predictions and, in `validation/`,
    the validation fold's; rewritten whole (an unfinished one is replaced), `complete` written last; then the
    store's metadata index."""
    parent_name, _ = member_group(split.fold, member)
    write_fold_predictions(predictions_group(store_path, "a", parent_name), split, table, kept_epoch, converged,
                           provenance("train", ranks, stamps_physics_data(store_path)), rule, model_sha256,
                           validation=validation, member=member, seed=seed)
    index_predictions(store_path)


def write_fold_predictions(parent: zarr.Group, split: FoldSplit, table: dict[str, np.ndarray], kept_epoch: int,
                           converged: bool, provenance: dict, rule: str = "paper", model_sha256: str | None = None,
                           validation: dict[str, np.ndarray] | None = None, member: int = 0, seed: int | None = None):
    """The group fold_KK (fold_KK_mMM) of `parent` (the store's `predictions/` or `ensemble/`): replaced whole,
    `complete` written last."""
    _, name = member_group(split.fold, member)
    if name in parent:
        del parent[name]
    group = parent.create_group(name)
    for column in PREDICTION_COLUMNS:
        write_array(group, column, table[column], chunks=(max(1, len(table[column])),))
    if validation is not None:
        sub = group.create_group("validation")
        for column in PREDICTION_COLUMNS:
            write_array(sub, column, validation[column], chunks=(max(1, len(validation[column])),))
    group.attrs.update({"fold": split.fold, "validation_fold": split.validation_fold,
                        "training_folds": list(split.training_folds), "kept_epoch": int(kept_epoch),
                        "converged": bool(converged), "rule": rule, "model_sha256": model_sha256,
                        "member": int(member), "seed": None if seed is None else int(seed),
                        "provenance": provenance})
    mark_complete(group)
    return group


def index_predictions(store_path: Path) -> None:
    """Rewrite the store's consolidated metadata so that a default `zarr.open_group` lists this fold.

    Folds finish in parallel, so a snapshot taken here may miss a fold another job is still writing;
    `xraymass evaluate` consolidates again once every fold is in. The fold is complete whether or not this
    succeeds (xraymass itself never reads through the index), so a failure is reported, not raised.
    """
    import sys

    try:
        consolidate(store_path)
    except Exception as err:  # a concurrent writer removed a node while the index was being read
        print(f"[train] warning: {store_path}: metadata index not updated ({type(err).__name__}: {err}); "
              "`xraymass evaluate` rewrites it", file=sys.stderr, flush=True)


def check_outputs(root, store_path: Path, run_dir: Path) -> tuple[str, list[str]]:
    """For `xraymass check`: (summary, problems) of every `predictions/fold_KK` (and `ensemble/fold_KK_mMM`) and
    its fold directory."""
    from ..store import array_problems

    if layout.PREDICTIONS not in root:
        return "not run", []
    problems, n_complete = [], 0
    folds = [(layout.PREDICTIONS, name, group) for name, group in sorted(root[layout.PREDICTIONS].groups())]
    if layout.ENSEMBLE in root:
        folds += [(layout.ENSEMBLE, name, group) for name, group in sorted(root[layout.ENSEMBLE].groups())]
    for parent, name, group in folds:
        where = f"{store_path}/{parent}/{name}"
        if not is_complete(group):
            fold, _, member = name[len("fold_"):].partition("_m")
            again = f"--fold {int(fold)}" + (f" --member {int(member)}" if member else "")
            problems.append(f"{where}: not complete (run `xraymass train {again}` again)")
            continue
        n_complete += 1
        problems += array_problems(group, PREDICTION_COLUMNS, where)
        fold_dir = run_dir / layout.TRAIN_DIR / name
        for file in (layout.MODEL_FILE, "predictions.csv", "history.csv", "train.config.yaml"):
            if not (fold_dir / file).is_file():
                problems.append(f"{fold_dir / file}: missing")
        if (fold_dir / layout.MODEL_FILE).is_file():
            try:
                check_model(fold_dir / layout.MODEL_FILE, group, where)
            except StoreError as err:
                problems.append(str(err))
    n_members = sum(1 for parent, _, _ in folds if parent == layout.ENSEMBLE)
    extra = f" (with {n_members} ensemble members)" if n_members else ""
    return f"{n_complete} of {len(folds)} folds complete{extra}", problems
