"""jobs/train_fold.sh on the local SLURM: an array of two folds; SIGUSR1 -> checkpoint -> requeue -> resume."""
from __future__ import annotations

import re
import subprocess
import time

import pytest
import zarr

from conftest import REPO, science_config
from test_train_helpers import write_stamps_store

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
EPOCHS = 8


def wait_for(condition, what: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the array job ended before {what}: {proc.stderr.read()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def job_field(env: dict, job: str, field: str) -> str:
    out = subprocess.run(["scontrol", "show", "job", job], env=env, capture_output=True, text=True).stdout
    found = re.search(rf"\b{field}=(\S+)", out)
    return found.group(1) if found else ""


def test_array_of_two_folds_requeues_on_usr1_resumes_and_completes(slurm, tmp_path):
    run_dir = tmp_path / "run"
    write_stamps_store(run_dir / "store.zarr")
    # never met: EPOCHS epochs, and the paper rule keeps the last
    config = science_config(tmp_path / "config.yaml", run_dir,
                            {"train": {"max_epochs": EPOCHS, "max_abs_delta": 0.0, "rule": "paper"}})
    env = {**slurm, "XRAYMASS_CONFIG": str(config)}
    proc = subprocess.Popen(["sbatch", "--wait", "--array=0-1", f"--output={tmp_path}/%x-%A_%a.out",
                             "jobs/train_fold.sh"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        job = proc.stdout.readline().split()[-1]
        fold0 = run_dir / "train" / "fold_00"
        wait_for(lambda: (fold0 / "checkpoints" / "epoch-1.index").exists(), "fold 0's first checkpoint", proc)
        # what SLURM sends before the time limit (--signal=USR1@600), sent now
        subprocess.run(["scancel", "--signal=USR1", f"{job}_0"], env=env, check=True)
        wait_for(lambda: job_field(env, f"{job}_0", "Restarts") == "1"
                 and job_field(env, f"{job}_0", "JobState") == "PENDING", "the requeue", proc)
        # SLURM holds a requeued job back for the credential lifetime (AuthInfo cred_expire, 30 s on the local
        # SLURM): forcing an earlier start makes slurmd kill it ("Job credential revoked"), so it is waited for
        proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            subprocess.run(["scancel", job], env=env)
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()

    logs = {k: (tmp_path / f"xraymass-train-{job}_{k}.out").read_text() for k in (0, 1)}
    for k, log in logs.items():
        assert log.count("test predictions written") == 1, log
        group = zarr.open_group(str(run_dir / "store.zarr"), path=f"predictions/fold_{k:02d}", mode="r",
                                use_consolidated=False)
        assert group.attrs["complete"] is True and group.attrs["kept_epoch"] == EPOCHS
        assert group.attrs["provenance"]["ranks"] == 1 and group["halo_id"].shape == (48,)
        history = (run_dir / "train" / f"fold_{k:02d}" / "history.csv").read_text().splitlines()
        assert [line.split(",")[0] for line in history[1:]] == [str(e) for e in range(1, EPOCHS + 1)]
    stopped = int(re.search(r"stopped after the checkpoint of epoch (\d+); requeueing job", logs[0]).group(1))
    assert f"resumed from the checkpoint of epoch {stopped}" in logs[0] and stopped < EPOCHS
    assert "requeue" not in logs[1] and "resumed" not in logs[1]
