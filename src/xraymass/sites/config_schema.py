"""Sections of a site config (site_configs/<site>/site.yaml): where and how the stages run.

A site config never names a physical constant; a science config never names a partition.
"""
from ..schema import Key

STAGES = ("mocks", "stamps", "train", "evaluate")

SECTIONS = {
    "site": {
        "name": Key(str, "generic", "short name of the site"),
        "description": Key(str, "", "machine and where its values come from"),
    },
    "software": {
        "mode": Key(str, "venv", "how the software is provided", choices=("venv", "modules", "container")),
        "venv": Key(str, ".venv", "virtual environment (mode venv), relative to the repository"),
        "modules": Key(list, [], "modules to load before running (mode modules or container)", item=str),
        "container": Key(str, "", "Apptainer image (mode container)"),
        "binds": Key(list, [], "bind paths for the container", item=str),
    },
    "mpi": {
        "srun_mpi": Key(str, "pmix", "srun --mpi= plugin", choices=("pmix", "pmi2", "cray_shasta", "none")),
    },
    # sbatch long options per stage, e.g. {partition: gpu, gres: "gpu:4", time: "02:00:00"}
    **{f"slurm_{stage}": {"options": Key(dict, {}, f"sbatch options of the {stage} stage")} for stage in STAGES},
    "dask": {
        "cluster": Key(str, "local", "where Dask workers come from", choices=("local", "slurm")),
        "n_workers": Key(int, 2, "Dask workers", lo=1, hi=100_000),
        "threads_per_worker": Key(int, 1, "threads per worker", lo=1, hi=1024),
        "jobqueue": Key(str, "jobqueue.yaml", "dask-jobqueue config beside site.yaml (cluster slurm)"),
    },
}
