"""The stamps stage end to end: a LocalCluster run and resume, a SLURMCluster run through sbatch,
and bad input. The event store is hand-made (tests/stamps_events.py)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr
from conftest import REPO, job_id, sbatch_wait, xraymass
from stamps_events import NPIX_DET, build_event_store

from xraymass.errors import ConfigError
from xraymass.stamps.workers import load_jobqueue
from xraymass.store import open_store


def expected_stamps(info: dict) -> np.ndarray:
    """Every cluster's 24 stamps, computed independently: histogram2d, then numpy's own flips and turns."""
    x0, y0 = (c - NPIX_DET / 2 for c in info["centre"])
    edges_x = np.linspace(x0, x0 + NPIX_DET, 129)
    edges_y = np.linspace(y0, y0 + NPIX_DET, 129)
    out = []
    for hid in info["halo_id"]:
        for x, y, energy in info["events"][int(hid)]:
            band = (energy >= 0.5) & (energy <= 7.0)
            image = np.histogram2d(x[band], y[band], bins=[edges_x, edges_y])[0].T
            for flipped in (image, np.fliplr(image)):
                out.extend(np.rot90(flipped, k) for k in range(4))
    return np.array(out, np.int64)


def check_stamps(store_path, info: dict) -> zarr.Group:
    stamps = open_store(store_path)["stamps"]
    n = len(info["halo_id"])
    assert stamps.attrs["complete"] is True and stamps["cluster_done"][:].all()
    assert stamps["images"].shape == (24 * n, 128, 128) and stamps["images"].chunks == (24, 128, 128)
    assert np.array_equal(stamps["images"][:], expected_stamps(info))
    assert np.array_equal(stamps["halo_id"][:], np.repeat(info["halo_id"], 24))
    assert np.allclose(stamps["log_m500c"][:], np.repeat(info["log_m500c"], 24).astype(np.float32))
    assert stamps["projection"][:].tolist() == [p for _ in range(n) for p in range(3) for _ in range(8)]
    assert stamps["augmentation"][:].tolist() == list(range(8)) * 3 * n
    folds = stamps["fold"][:].reshape(n, 24)
    assert (folds == folds[:, :1]).all(), "a cluster's images are in more than one fold"
    order = np.argsort(info["log_m500c"], kind="stable")
    assert folds[order, 0].tolist() == [k % 10 for k in range(n)]
    assert stamps.attrs["provenance"]["stage"] == "stamps"
    return stamps


@pytest.fixture
def event_store(tmp_path):
    return tmp_path / "run" / "store.zarr"


@pytest.mark.slow
def test_local_cluster_stamps_resumes_and_skips(event_store, write_config):
    info = build_event_store(event_store)
    config = write_config()
    first = xraymass("stamps", "--config", str(config), "--site", "local", "--site-set", "dask.n_workers=2")
    assert first.returncode == 0, first.stderr
    assert "Dask LocalCluster: 2 workers" in first.stderr and "[stamps] 6/6 clusters" in first.stderr
    check_stamps(event_store, info)
    assert (event_store.parent / "stamps.config.yaml").is_file()
    assert "consolidated_metadata" in (event_store / "zarr.json").read_text()

    again = xraymass("stamps", "--config", str(config))
    assert again.returncode == 0 and "nothing to do" in again.stderr, again.stderr

    stamps = zarr.open_group(str(event_store / "stamps"), mode="r+")  # a run killed after cluster 2's write
    del stamps.attrs["complete"]
    stamps["cluster_done"][2] = False
    stamps["images"][48:72] = -1
    resumed = xraymass("stamps", "--config", str(config), "--site-set", "dask.n_workers=1")
    assert resumed.returncode == 0, resumed.stderr
    assert "1 to stamp, 5 done before" in resumed.stderr
    check_stamps(event_store, info)


def one_line_error(out: subprocess.CompletedProcess) -> str:
    lines = out.stderr.strip().splitlines()
    assert out.returncode != 0 and len(lines) == 1, out.stderr
    return lines[0]


def test_events_missing_for_a_halo(event_store, write_config):
    build_event_store(event_store, skip_events=(24,))
    line = one_line_error(xraymass("stamps", "--config", str(write_config())))
    assert "events/h00000024: events missing for halo 24" in line
    assert "stamps" not in open_store(event_store)


def test_store_of_another_schema_version(event_store, write_config):
    build_event_store(event_store, n_halos=1)
    zarr.open_group(str(event_store), mode="r+").attrs["schema_version"] = 99
    line = one_line_error(xraymass("stamps", "--config", str(write_config())))
    assert "store schema version 99" in line and str(event_store) in line


def test_unknown_site(event_store, write_config):
    build_event_store(event_store, n_halos=1)
    line = one_line_error(xraymass("stamps", "--config", str(write_config()), "--site", "nowhere"))
    assert "--site nowhere: no " in line and "sites here: " in line


def test_local_jobqueue_yaml_is_standard_dask_config():
    """DASK_CONFIG pointing at the site's file is enough for dask-jobqueue to write the worker job."""
    script = (
        "import dask\n"
        "from dask_jobqueue.slurm import SLURMJob\n"
        "assert dask.config.get('jobqueue.slurm.name') == 'xraymass-dask-worker'\n"
        "print(SLURMJob(scheduler='tcp://127.0.0.1:8786', name='w').job_script())\n")
    env = dict(os.environ, DASK_CONFIG=str(REPO / "site_configs" / "local" / "jobqueue.yaml"))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for line in ("#SBATCH -J xraymass-dask-worker", "#SBATCH --cpus-per-task=1", "#SBATCH -t 00:30:00",
                 "--death-timeout 60"):
        assert line in out.stdout, out.stdout


@pytest.mark.parametrize("text, message", [
    ("jobqueue:\n  slurm:\n    account: $XRAYMASS_TEST_UNSET_ACCOUNT\n", "uses $XRAYMASS_TEST_UNSET_ACCOUNT"),
    ("jobqueue:\n  pbs: {cores: 1}\n", "expected the dask-jobqueue form"),
    ("jobqueue: [1, 2\n", "not valid YAML"),
])
def test_bad_jobqueue_yaml_is_one_line(tmp_path, monkeypatch, text, message):
    monkeypatch.delenv("XRAYMASS_TEST_UNSET_ACCOUNT", raising=False)
    path = tmp_path / "jobqueue.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_jobqueue(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slurm
@pytest.mark.slow
def test_slurm_cluster_worker_job_through_sbatch(slurm, tmp_path, event_store, write_config):
    """jobs/make_stamps.sh in a 1-core batch job: the scheduler there, one worker as its own SLURM job."""
    info = build_event_store(event_store, n_halos=3, events_per_projection=2000)
    (tmp_path / "logs").mkdir()
    env = dict(slurm, XRAYMASS_CONFIG=str(write_config()), XRAYMASS_SITE="local")
    # the worker job may queue behind other jobs on the shared 2-core node: wait up to 15 minutes
    out = sbatch_wait(env, "--cpus-per-task=1", "--mem=2G", "--time=00:25:00", str(REPO / "jobs" / "make_stamps.sh"),
                      "--site-set", "dask.cluster=slurm", "--site-set", "dask.n_workers=1",
                      "--site-set", "dask.startup_timeout_s=900", cwd=tmp_path, timeout=1500)
    log = (tmp_path / "logs" / f"xraymass-stamps-{job_id(out)}.out").read_text()
    assert out.returncode == 0, log
    assert "Dask SLURMCluster: 1 workers as SLURM jobs" in log and "[stamps] 3/3 clusters" in log, log
    worker_job = log.split("Dask worker jobs: ")[1].split()[0]
    worker_log = tmp_path / "logs" / f"xraymass-dask-worker-{worker_job}.err"
    assert "Registered to:" in worker_log.read_text()  # the worker in that SLURM job joined the scheduler
    check_stamps(event_store, info)
    for _ in range(60):  # the stage cancels its worker jobs when it ends
        queued = subprocess.run(["squeue", "-h", "-j", worker_job, "-o", "%T"], env=slurm, capture_output=True,
                                text=True).stdout.strip()
        if queued in ("", "COMPLETING"):
            break
        time.sleep(1)
    else:
        subprocess.run(["scancel", worker_job], env=slurm)
        pytest.fail(f"worker job {worker_job} still {queued} after the stage ended")
