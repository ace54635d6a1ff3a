"""Requeue from the host: the training step cannot reach SLURM (as inside a container), the batch script requeues.

On the local SLURM, a site like `local` whose job steps run with a slurm.conf that does not exist
(the step's view inside a container: neither the host's slurm.conf nor munge). SIGUSR1 goes to the
batch shell (`scancel --signal=USR1 --batch`, what `--signal=B:USR1@N` does before the time limit):
jobs/train_fold.sh hands it to the step, the ranks checkpoint and exit 75, and the batch script, on
the host, requeues the job. The fold resumes from its checkpoint and completes, and a job that
depends on the array with afterok (as evaluate does) runs.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
import yaml
import zarr

from conftest import REPO, science_config
from test_train_helpers import write_stamps_store
from xraymass.sites.launch import generated_files_of

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
EPOCHS = 6


def job_field(env: dict, job: str, field: str) -> str:
    out = subprocess.run(["scontrol", "show", "job", job], env=env, capture_output=True, text=True).stdout
    found = re.search(rf"\b{field}=(\S+)", out)
    return found.group(1) if found else ""


def wait_for(condition, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def contained_site(tmp_path):
    """A copy of the repository's jobs and sites with site `contained`: local, but the steps see no SLURM."""
    home = tmp_path / "home"
    shutil.copytree(REPO / "jobs", home / "jobs")
    shutil.copytree(REPO / "site_configs", home / "site_configs", ignore=shutil.ignore_patterns("slurm.sh"))
    (home / ".venv").symlink_to(REPO / ".venv")
    data = yaml.safe_load((home / "site_configs" / "local" / "site.yaml").read_text())
    data["site"] = {"name": "contained", "description": "local, with steps that cannot reach SLURM"}
    data["software"]["step_env"] = {"SLURM_CONF": "/nonexistent/slurm.conf"}
    (home / "site_configs" / "contained").mkdir()
    (home / "site_configs" / "contained" / "site.yaml").write_text(yaml.safe_dump(data))
    for path, text in generated_files_of("contained", home).items():
        path.write_text(text)
    return home


def test_the_batch_script_requeues_a_step_that_cannot_reach_slurm(slurm, tmp_path):
    home = contained_site(tmp_path)
    run_dir = tmp_path / "run"
    write_stamps_store(run_dir / "store.zarr")
    # never met: the last epoch
    config = science_config(tmp_path / "config.yaml", run_dir,
                            {"train": {"max_epochs": EPOCHS, "max_abs_delta": 0.0, "rule": "paper"}})
    env = {**slurm, "XRAYMASS_CONFIG": str(config), "XRAYMASS_HOME": str(home), "XRAYMASS_SITE": "contained"}

    # the step really cannot reach SLURM: scontrol inside the launch line fails, in the batch shell it works
    probe = tmp_path / "probe.sh"
    probe.write_text("#!/bin/bash\nset -euo pipefail\nexport XRAYMASS_STAGE=train\n"
                     f'source "{home}/site_configs/contained/env.sh"\n'
                     "scontrol ping >/dev/null && echo host-ok\n"
                     "$XRAYMASS_LAUNCH $XRAYMASS_EXEC scontrol ping >/dev/null 2>&1 || echo step-unreachable\n")
    out = subprocess.run(["sbatch", "--wait", "--ntasks=1", f"--output={tmp_path}/probe.out", str(probe)],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "probe.out").read_text().split() == ["host-ok", "step-unreachable"]

    submit = subprocess.run(["sbatch", "--parsable", "--array=0-1", f"--output={tmp_path}/%x-%A_%a.out",
                             str(home / "jobs" / "train_fold.sh")], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert submit.returncode == 0, submit.stderr
    job = submit.stdout.strip().split(";")[0]
    after = subprocess.run(["sbatch", "--parsable", f"--dependency=afterok:{job}", "--kill-on-invalid-dep=yes",
                            f"--output={tmp_path}/after-%j.out", "--wrap", "echo evaluated"], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert after.returncode == 0, after.stderr
    dependant = after.stdout.strip()
    try:
        fold0 = run_dir / "train" / "fold_00"
        wait_for(lambda: (fold0 / "checkpoints" / "epoch-1.index").exists(), "fold 0's first checkpoint")
        # what --signal=B:USR1@N sends before the time limit: to the batch shell only
        subprocess.run(["scancel", "--signal=USR1", "--batch", f"{job}_0"], env=env, check=True)
        wait_for(lambda: job_field(env, f"{job}_0", "Restarts") == "1"
                 and job_field(env, f"{job}_0", "JobState") == "PENDING", "the requeue")
        # SLURM holds a requeued job back for the credential lifetime (AuthInfo cred_expire, 30 s on the local
        # SLURM): forcing an earlier start makes slurmd kill it ("Job credential revoked")
        wait_for(lambda: job_field(env, dependant, "JobState") in ("COMPLETED", "FAILED", "CANCELLED"),
                 "the dependant job", timeout=600)
    finally:
        subprocess.run(["scancel", job, dependant], env=env)
    assert job_field(env, dependant, "JobState") == "COMPLETED", job_field(env, dependant, "Reason")

    logs = {k: (tmp_path / f"xraymass-train-{job}_{k}.out").read_text() for k in (0, 1)}
    for k in (0, 1):
        group = zarr.open_group(str(run_dir / "store.zarr"), path=f"predictions/fold_{k:02d}", mode="r",
                                use_consolidated=False)
        assert group.attrs["complete"] is True and group.attrs["kept_epoch"] == EPOCHS
    stopped = int(re.search(r"stopped after the checkpoint of epoch (\d+); requeueing job", logs[0]).group(1))
    assert "SIGUSR1: passed on to the training step" in logs[0]
    assert "the training step stopped at a checkpoint; requeueing job" in logs[0]
    assert f"resumed from the checkpoint of epoch {stopped}" in logs[0] and stopped < EPOCHS
    assert "requeueing job" not in logs[1] and "SIGUSR1" not in logs[1]
