"""The layout of a run directory: every store group and file name, and every completion check.

The one place that spells a name of the run (docs/store.md describes what each holds)::

    <run_dir>/
      store.zarr/                 run.store
        halos/                    HALOS: the catalogue                          (halos)
        events/hNNNNNNNN/         EVENTS, events_group(halo_id): one halo       (mocks)
        events_chunks/hNNNNNNNN/  EVENT_CHUNKS: a split halo's photons, staged  (mocks; removed when done)
        stamps/                   STAMPS: images and labels                     (stamps)
        predictions/fold_KK/      PREDICTIONS, predictions_group(fold)          (train)
      train/fold_KK/model.keras   fold_dir(run_dir, fold), model_path(...)      (train)
      results/evaluate.json       EVALUATED: the evaluate stage's part          (evaluate)
      <stage>.config.yaml         effective_config(run_dir, stage)              (every stage)

A group is finished when it carries `complete = true` (store.COMPLETE), written as the last act on
it. The `*_complete` functions below are the only readers of that marker across groups; each stage
declares (xraymass.stages) which of them says that its outputs are complete, and `xraymass submit`
asks the stages, not the store.
"""
from __future__ import annotations

from pathlib import Path


HALOS = "halos"
EVENTS = "events"
EVENT_CHUNKS = "events_chunks"  # photon lists of a split halo's blocks until its detection (xraymass.mocks.chunks)
STAMPS = "stamps"
PREDICTIONS = "predictions"
ENSEMBLE = "ensemble"  # ensemble members 1.. of every fold (member 0 is predictions/; xraymass.train.members)
TRAIN_DIR = "train"
RESULTS_DIR = "results"
MODEL_FILE = "model.keras"
EVALUATED = Path(RESULTS_DIR) / "evaluate.json"  # the evaluate stage's part of results/summary.json
SUMMARY = Path(RESULTS_DIR) / "summary.json"


def halo_name(halo_id: int) -> str:
    """Name of one halo's group inside `events/`: h followed by the id in eight digits.

    Parameters
    ----------
    halo_id : int
        Catalogue id of the halo (`halos/halo_id`).

    Returns
    -------
    str
        e.g. ``h00000042``.
    """
    return f"h{int(halo_id):08d}"


def events_group(halo_id: int) -> str:
    """Path of one halo's event list in the store, e.g. ``events/h00000042``."""
    return f"{EVENTS}/{halo_name(halo_id)}"


def fold_name(fold: int) -> str:
    """Name of a cross-validation fold's group and folder, e.g. ``fold_03``."""
    return f"fold_{int(fold):02d}"


def predictions_group(fold: int) -> str:
    """Path of a fold's test predictions in the store, e.g. ``predictions/fold_03``."""
    return f"{PREDICTIONS}/{fold_name(fold)}"


def fold_dir(run_dir: str | Path, fold: int) -> Path:
    """The folder of a fold's training outputs: ``<run_dir>/train/fold_KK``."""
    return Path(run_dir) / TRAIN_DIR / fold_name(fold)


def model_path(run_dir: str | Path, fold: int) -> Path:
    """The kept model of a fold: ``<run_dir>/train/fold_KK/model.keras``."""
    return fold_dir(run_dir, fold) / MODEL_FILE


def effective_config(run_dir: str | Path, stage: str) -> Path:
    """The effective config a stage writes beside the store: ``<run_dir>/<stage>.config.yaml``."""
    return Path(run_dir) / f"{stage}.config.yaml"


# --- completion ---------------------------------------------------------------------------

def group_complete(root, name: str) -> bool:
    """Whether the group `name` (a path inside the store) exists and carries ``complete = true``."""
    from .store import is_complete  # the store imports this module

    try:
        return is_complete(root[name])
    except KeyError:
        return False


def catalogue_complete(root) -> bool:
    """Whether the halo catalogue `halos/` is complete (the halos stage's outputs)."""
    return group_complete(root, HALOS)


def events_complete(root) -> bool:
    """Whether every halo of a complete catalogue has a complete event list (the mocks stage's outputs)."""
    if not catalogue_complete(root):
        return False
    halos = root[HALOS]
    halo_ids = halos["halo_id"][:] if "halo_id" in halos else []
    return bool(len(halo_ids)) and all(group_complete(root, events_group(h)) for h in halo_ids)


def stamps_complete(root) -> bool:
    """Whether `stamps/` is complete (the stamps stage's outputs)."""
    return group_complete(root, STAMPS)


def missing_folds(root, n_folds: int) -> list[int]:
    """The folds among 0 .. n_folds-1 without complete predictions (what the train stage has left to do)."""
    return [k for k in range(n_folds) if not group_complete(root, predictions_group(k))]


def member_name(fold: int, member: int = 0) -> str:
    """A fold's name for member 0 (the paper's network), ``fold_KK_mMM`` for ensemble member MM >= 1."""
    return fold_name(fold) if int(member) == 0 else f"{fold_name(fold)}_m{int(member):02d}"


def member_group(fold: int, member: int = 0) -> str:
    """Path of a member's predictions: ``predictions/fold_KK`` (member 0), ``ensemble/fold_KK_mMM``."""
    return f"{PREDICTIONS if int(member) == 0 else ENSEMBLE}/{member_name(fold, member)}"


def missing_tasks(root, n_folds: int, members: int = 1) -> list[int]:
    """The train array's tasks (t = fold x members + member) without complete predictions."""
    return [k * members + m for k in range(n_folds) for m in range(members)
            if not group_complete(root, member_group(k, m))]


def evaluated(run_dir: str | Path) -> bool:
    """Whether the evaluate stage wrote its part, ``results/evaluate.json``."""
    return (Path(run_dir) / EVALUATED).is_file()


# --- what each stage declares as "its outputs are complete" (xraymass.stages: Stage.complete) --

def halos_done(root, cfg) -> bool:
    """The halos stage is done: `halos/` is complete."""
    return catalogue_complete(root)


def mocks_done(root, cfg) -> bool:
    """The mocks stage is done: every halo of the catalogue has a complete event list."""
    return events_complete(root)


def stamps_done(root, cfg) -> bool:
    """The stamps stage is done: `stamps/` is complete."""
    return stamps_complete(root)


def train_done(root, cfg) -> bool:
    """The train stage is done: every fold of stamps.n_folds, and every ensemble member, has complete predictions."""
    return not missing_tasks(root, cfg.stamps["n_folds"], cfg.train["members"])


def evaluate_done(root, cfg) -> bool:
    """The evaluate stage is done: results/evaluate.json is written."""
    return evaluated(cfg.run_dir)
