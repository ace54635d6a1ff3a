"""Ensemble members of a fold: which (fold, member) an array task trains, its seed, its names.

`train.members` networks are trained per fold (default 1: the paper's single network), each from
its own seed, on the same training and validation folds. Array task t of `jobs/train_fold.sh`
trains fold t // members, member t % members (with one member, task t is fold t as before).
Member 0 keeps the paper's names (`train/fold_KK`, `predictions/fold_KK`) and seed; member m >= 1
is `train/fold_KK_mMM` and `ensemble/fold_KK_mMM` (docs/store.md).
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError

from .. import layout

ENSEMBLE_GROUP = layout.ENSEMBLE  # the store group of members 1.. of every fold
PAPER_GROUP = layout.PREDICTIONS  # member 0 of every fold (the paper's predictions)


def task_to_fold_member(task: int, members: int, n_folds: int | None = None) -> tuple[int, int]:
    """(fold, member) trained by array task `task`: fold = task // members, member = task % members."""
    if task < 0:
        raise InputError(f"array task {task}: must be >= 0")
    fold, member = divmod(int(task), int(members))
    if n_folds is not None and fold >= n_folds:
        raise InputError(f"array task {task} is out of range: {n_folds} folds x {members} members are tasks "
                         f"0-{n_folds * members - 1}")
    return fold, member


def array_task(fold: int, member: int, members: int) -> int:
    """The array task that trains (fold, member): fold * members + member."""
    return int(fold) * int(members) + int(member)


def member_name(fold: int, member: int = 0) -> str:
    """fold_KK for member 0 (the paper's name), fold_KK_mMM for member MM >= 1 (xraymass.layout)."""
    return layout.member_name(fold, member)


def member_group(fold: int, member: int = 0) -> tuple[str, str]:
    """(parent group, group name) of a member's predictions in the store."""
    parent, name = layout.member_group(fold, member).split("/")
    return parent, name


def member_seed(fold_seed: int, member: int) -> int:
    """The seed of member `member` of a fold whose paper seed is `fold_seed` (member 0: that seed itself)."""
    if member == 0:
        return int(fold_seed)
    return int(np.random.SeedSequence([int(fold_seed), int(member)]).generate_state(1)[0] >> 1)
