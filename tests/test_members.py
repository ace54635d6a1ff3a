"""Ensemble members: the array-task mapping, member seeds and names, and `xraymass submit` planning fold x member."""
from __future__ import annotations

import shlex

import pytest

from conftest import xraymass
from test_sites import make_store

from xraymass.errors import InputError
from xraymass.train.members import array_task, member_group, member_name, member_seed, task_to_fold_member
from xraymass.train.stage import fold_to_train


def test_array_task_t_is_fold_t_div_members_and_member_t_mod_members():
    assert [task_to_fold_member(t, 3) for t in range(7)] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)]
    assert all(array_task(*task_to_fold_member(t, 4), 4) == t for t in range(40))
    assert [task_to_fold_member(t, 1) for t in range(10)] == [(k, 0) for k in range(10)]  # one member: task = fold
    with pytest.raises(InputError, match=r"array task 20 is out of range: 10 folds x 2 members are tasks 0-19"):
        task_to_fold_member(20, 2, n_folds=10)


def test_member_0_keeps_the_papers_names_and_seed():
    assert member_name(3) == "fold_03" and member_group(3, 0) == ("predictions", "fold_03")
    assert member_name(3, 2) == "fold_03_m02" and member_group(3, 2) == ("ensemble", "fold_03_m02")
    assert member_seed(12345, 0) == 12345
    seeds = {member_seed(12345, m) for m in range(1, 8)} | {12345}
    assert len(seeds) == 8 and all(0 <= s < 2**31 for s in seeds)


def test_the_stage_reads_the_task_from_slurm_or_its_arguments(monkeypatch):
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    assert fold_to_train(None, members=2) == (2, 1)
    assert fold_to_train(None, members=2, task=2) == (1, 0)
    assert fold_to_train(4, members=2) == (4, 0) and fold_to_train(4, members=2, member=1) == (4, 1)
    with pytest.raises(InputError, match=r"--member 2 is out of range: train.members = 2"):
        fold_to_train(4, members=2, member=2)
    with pytest.raises(InputError, match=r"--member 1 needs --fold K"):
        fold_to_train(None, members=2, member=1)
    with pytest.raises(InputError, match=r"array task 6 is out of range: 3 folds x 2 members are tasks 0-5"):
        fold_to_train(None, members=2, task=6, n_folds=3)


def dry_run_train(config) -> list[str]:
    out = xraymass("submit", "--site", "local", "--config", str(config), "--dry-run")
    assert out.returncode == 0, out.stderr
    lines = [shlex.split(line) for line in out.stdout.splitlines() if not line.startswith("#")]
    return next(argv for argv in lines if any(a.endswith("train_fold.sh") for a in argv))


def test_submit_plans_every_fold_x_member_and_only_the_unfinished_ones(write_config):
    config = write_config({"train": {"members": 2}})
    make_store(config, folds=[])
    assert "--array=0-19" in dry_run_train(config)
    # member 0 of every fold done (predictions/fold_KK), members 1 not: the odd tasks
    make_store(config, folds=range(10))
    assert "--array=" + ",".join(str(2 * k + 1) for k in range(10)) in dry_run_train(config)


def test_check_lists_the_ensemble_members_and_names_the_command_for_an_unfinished_one(tmp_path):
    from test_uncertainty import write_run

    from xraymass.store import open_store
    from xraymass.train import outputs

    store = tmp_path / "run" / "store.zarr"
    write_run(store)
    del open_store(store, "r+")["ensemble/fold_01_m01"].attrs["complete"]
    summary, problems = outputs.check_outputs(open_store(store), store, tmp_path / "run")
    assert summary == "5 of 6 folds complete (with 3 ensemble members)"
    assert f"{store}/ensemble/fold_01_m01: not complete (run `xraymass train --fold 1 --member 1` again)" in problems
    assert f"{tmp_path / 'run' / 'train' / 'fold_02_m01' / 'model.keras'}: missing" in problems
