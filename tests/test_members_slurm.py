"""jobs/train_fold.sh as a fold x member array on the local SLURM: SIGUSR1 -> checkpoint -> requeue -> resume
of one member, every task complete once; the same sbatch line again skips them all."""
from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
import zarr

from conftest import REPO
from test_train_helpers import write_stamps_store
from test_train_slurm import job_field, wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.slow]
EPOCHS, MEMBERS = 6, 2
QUEUE_S = 3600  # the array may wait behind other work on a shared SLURM; a failed task ends the wait at once


def training_step(config: Path, task: int) -> int:
    """The pid of the `xraymass train` process of array task `task` run with `config` (the local SLURM runs
    its tasks on this machine)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [w.decode(errors="replace") for w in argv]
        if ("python" in Path(words[0]).name and "xraymass" in words and "train" in words and str(config) in words
                and "--task" in words and words[words.index("--task") + 1:][:1] == [str(task)]):
            return int(proc.name)
    raise AssertionError(f"no training process of task {task} found")


def test_fold_x_member_array_requeues_a_member_resumes_it_and_completes(slurm, tmp_path):
    run_dir = tmp_path / "run"
    write_stamps_store(run_dir / "store.zarr")
    data = yaml.safe_load((REPO / "pipeline" / "demo.yaml").read_text())
    data["run"]["directory"] = str(run_dir)
    data["train"].update({"max_epochs": EPOCHS, "max_abs_delta": 0.0, "rule": "paper", "members": MEMBERS})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    env = {**slurm, "XRAYMASS_CONFIG": str(config)}
    # tasks 0-3: fold 0 member 0, fold 0 member 1, fold 1 member 0, fold 1 member 1
    argv = ["sbatch", "--wait", "--array=0-3", f"--output={tmp_path}/%x-%A_%a.out", "jobs/train_fold.sh"]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        job = proc.stdout.readline().split()[-1]
        member = run_dir / "train" / "fold_00_m01"
        wait_for(lambda: (member / "checkpoints" / "epoch-1.index").exists(), "fold 0 member 1's first checkpoint", proc, QUEUE_S)
        # what SLURM sends once before the time limit, sent now to the training step of task 1. Not through
        # `scancel --signal`: on this SLURM it retries, and a retry can reach the requeued task as it starts
        os.kill(training_step(config, task=1), signal.SIGUSR1)
        wait_for(lambda: job_field(env, f"{job}_1", "Restarts") == "1", "the requeue", proc, 600)
        proc.wait(timeout=QUEUE_S)
    finally:
        if proc.poll() is None:
            subprocess.run(["scancel", job], env=env)
            proc.kill()
    assert proc.returncode == 0, proc.stderr.read()

    root = zarr.open_group(str(run_dir / "store.zarr"), mode="r", use_consolidated=False)
    seeds = set()
    for task, (fold, m) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        log = (tmp_path / f"xraymass-train-{job}_{task}.out").read_text()
        assert log.count("test predictions written") == 1, log
        group = root[f"predictions/fold_{fold:02d}" if m == 0 else f"ensemble/fold_{fold:02d}_m01"]
        assert group.attrs["complete"] is True and group.attrs["kept_epoch"] == EPOCHS and group.attrs["member"] == m
        assert group["validation/halo_id"].shape == (48,)
        seeds.add(group.attrs["seed"])
        history = (run_dir / "train" / (f"fold_{fold:02d}" + ("_m01" if m else "")) / "history.csv").read_text()
        assert [line.split(",")[0] for line in history.splitlines()[1:]] == [str(e) for e in range(1, EPOCHS + 1)]
    assert len(seeds) == 4
    log1 = (tmp_path / f"xraymass-train-{job}_1.out").read_text()
    stopped = int(re.search(r"stopped after the checkpoint of epoch (\d+); requeueing job", log1).group(1))
    assert f"resumed from the checkpoint of epoch {stopped}" in log1 and stopped < EPOCHS

    again = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=QUEUE_S)
    assert again.returncode == 0, again.stderr
    job2 = again.stdout.split()[-1]
    logs = [(tmp_path / f"xraymass-train-{job2}_{t}.out").read_text() for t in range(4)]
    assert all("complete, skipped" in log for log in logs), logs
