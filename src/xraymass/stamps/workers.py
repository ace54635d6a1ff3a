"""Where the Dask workers come from: the site config's `dask` section.

- cluster: local -> a distributed.LocalCluster of `n_workers` processes in this job (or on this
  machine), `threads_per_worker` threads each.
- cluster: slurm -> a dask_jobqueue.SLURMCluster: the scheduler runs in this process, each worker
  is a SLURM job submitted with sbatch, described by the site's jobqueue YAML (standard
  dask-jobqueue format, `jobqueue: slurm: {...}`), scaled to `n_workers` workers. The jobs are
  cancelled when the stage ends; a worker whose scheduler has gone exits after `death-timeout`.

The site is `site_configs/<site>/site.yaml` (`xraymass.sites.site.load_site`),
<site> from --site, else $XRAYMASS_SITE, else `local`.
"""
from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator


from ..config import first_unset_variable, read_yaml
from ..errors import ConfigError, InputError
from ..sitevalues import check_jobqueue



def load_jobqueue(path: Path) -> dict:
    """Read a dask-jobqueue YAML (`jobqueue: slurm: {...}`) into Dask's config, as DASK_CONFIG would."""
    import dask.config

    if not path.is_file():
        raise ConfigError(f"{path}: dask-jobqueue config not found (site config 'dask.jobqueue')")
    data = read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("jobqueue"), dict) \
            or not isinstance(data["jobqueue"].get("slurm"), dict):
        raise ConfigError(f"{path}: expected the dask-jobqueue form 'jobqueue: slurm: {{...}}'")
    data = dask.config.expand_environment_variables(data)
    unset = first_unset_variable(data)
    if unset:
        raise ConfigError(f"{path}: uses {unset}, which is not set in the environment")
    check_jobqueue(data["jobqueue"]["slurm"], path)  # values are data, never code (xraymass.sitevalues)
    dask.config.update(dask.config.config, data, priority="new")
    return data["jobqueue"]["slurm"]


@contextlib.contextmanager
def dask_client(dask_cfg: dict, site_dir: Path) -> Iterator:
    """A distributed.Client on the workers the site's `dask` section describes; closed on exit."""
    from distributed import Client

    with _cluster(dask_cfg, site_dir) as cluster, Client(cluster) as client:
        _wait_for_first_worker(client, cluster, dask_cfg)
        yield client


@contextlib.contextmanager
def _cluster(dask_cfg: dict, site_dir: Path):
    # the stage prints its own progress; the scheduler's INFO lines would drown it in batch logs
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if dask_cfg["cluster"] == "local":
        from distributed import LocalCluster

        with LocalCluster(n_workers=dask_cfg["n_workers"], threads_per_worker=dask_cfg["threads_per_worker"],
                          processes=True, dashboard_address=None) as cluster:
            say(f"Dask LocalCluster: {dask_cfg['n_workers']} workers x {dask_cfg['threads_per_worker']} threads")
            yield cluster
        return
    from dask_jobqueue import SLURMCluster

    jobqueue_path = site_dir / dask_cfg["jobqueue"]
    options = load_jobqueue(jobqueue_path)
    if options.get("log-directory"):
        Path(options["log-directory"]).mkdir(parents=True, exist_ok=True)
    with SLURMCluster() as cluster:
        cluster.scale(n=dask_cfg["n_workers"])
        say(f"Dask SLURMCluster: {dask_cfg['n_workers']} workers as SLURM jobs ({jobqueue_path}), "
            f"scheduler {cluster.scheduler_address}")
        yield cluster


def _wait_for_first_worker(client, cluster, dask_cfg: dict) -> None:
    """Fail with one line when no worker joins in time (worker jobs queued for too long, or failing)."""
    timeout = dask_cfg["startup_timeout_s"]
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise InputError(f"no Dask worker joined within {timeout:g} s ({type(cluster).__name__}); "
                         f"check the worker jobs (squeue) and their logs, or raise dask.startup_timeout_s") from None
    jobs = sorted({str(job.job_id) for job in getattr(cluster, "workers", {}).values()
                   if getattr(job, "job_id", None)})
    if jobs:
        say(f"Dask worker jobs: {' '.join(jobs)}")


def say(line: str) -> None:
    print(f"[stamps] {line}", file=sys.stderr, flush=True)
