"""Provenance: predictions and the analysis outputs record the physics data of the mock events they come from;
the store's metadata index (consolidated metadata) lists `predictions/`."""
from __future__ import annotations

import json

import numpy as np
import zarr

from analysis_stores import constructed_predictions, write_halos, write_stamps
from xraymass.store import consolidate, open_store
from xraymass.train import outputs
from xraymass.train.data import FoldSplit

PHYSICS = {"kind": "embedded", "emission": {"model": "test", "version": "1"}}


def _store_with_stamps(path):
    root = open_store(path, "a")
    halo_id, log_m = np.arange(4, dtype=np.int64) + 10, np.array([13.8, 14.0, 14.3, 14.6])
    write_halos(root, halo_id, log_m)
    write_stamps(root, halo_id, log_m, np.arange(4) % 2, npix=8)
    root["stamps"].attrs["provenance"] = {"stage": "stamps", "physics_data": PHYSICS}
    consolidate(path)  # as the stamps stage ends: the index then lists no predictions
    return halo_id, log_m


def test_predictions_record_the_physics_data_and_are_in_the_metadata_index(tmp_path):
    path = tmp_path / "store.zarr"
    halo_id, log_m = _store_with_stamps(path)
    assert "predictions" not in zarr.open_group(str(path), mode="r")  # the stamps stage's snapshot
    table = {"halo_id": np.repeat(halo_id[:2], 24), "projection": np.zeros(48, np.int8),
             "augmentation": np.zeros(48, np.int8), "log_m500c_true": np.repeat(log_m[:2], 24).astype(np.float32),
             "log_m500c_pred": np.repeat(log_m[:2], 24).astype(np.float32)}
    split = FoldSplit(0, 1, (), np.array([]), np.array([]), np.array([0, 1]))
    outputs.write_predictions_group(path, split, table, kept_epoch=3, converged=True, ranks=1)
    group = open_store(path)["predictions/fold_00"]
    assert group.attrs["provenance"]["physics_data"] == PHYSICS
    default = zarr.open_group(str(path), mode="r")  # through the consolidated metadata, zarr's default
    assert default.metadata.consolidated_metadata is not None
    assert "predictions/fold_00" in default and default["predictions/fold_00"].attrs["complete"] is True
    assert outputs.stamps_physics_data(path) == PHYSICS


def test_evaluate_indexes_every_fold_and_records_the_physics_data(tmp_path, write_config):
    from analysis_stores import write_predictions
    from xraymass.analysis import evaluate as ev
    from xraymass.config import load_config

    cfg = load_config(write_config())
    write_predictions(cfg.store_path, constructed_predictions(n_clusters=40))  # written after the index
    assert "predictions" not in zarr.open_group(str(cfg.store_path), mode="r")
    ev.run(cfg)
    default = zarr.open_group(str(cfg.store_path), mode="r")
    assert all(f"predictions/fold_{k:02d}" in default for k in range(10))
    part = json.loads((cfg.run_dir / "results" / "evaluate.json").read_text())
    assert part["provenance"]["physics_data"] == "test physics"


def test_differing_physics_data_of_folds_are_all_listed():
    from xraymass.analysis.predictions import Predictions, physics_data_of_predictions

    empty = np.zeros(0)
    folds = {0: {"physics_data": "a"}, 1: {"physics_data": "b"}, 2: {"physics_data": "a"}}
    found = physics_data_of_predictions(Predictions(empty, empty, empty, empty, empty, empty, folds))
    assert found == {"differ": [{"folds": [0, 2], "physics_data": "a"}, {"folds": [1], "physics_data": "b"}]}
