"""Sections of a site config (site_configs/<site>/site.yaml): where and how the stages run.

A site config never names a physical constant; a science config never names a partition.
The sbatch options of each stage are checked further by `xraymass.sites.options` (allow-listed
names, strictly formed values) when the site is loaded with `xraymass.sites.site.load_site`.
"""
from ..schema import Key

# The chain, in order: `xraymass submit` runs one SLURM job per stage (train: an array of folds).
STAGES = ("halos", "mocks", "stamps", "train", "evaluate")

SECTIONS = {
    "site": {
        "name": Key(str, "generic", "short name of the site"),
        "description": Key(str, "", "machine and where its values come from"),
    },
    "slurm": {
        "account": Key(str, "", "project/allocation charged (sbatch --account); '' means none. "
                                "Personal: write \"${XRAYMASS_ACCOUNT}\", expanded at load time"),
        "unsupported": Key(list, [], "sbatch options this site refuses (TACC: mem); no stage may use them",
                           item=str),
    },
    "software": {
        "mode": Key(str, "venv", "how the software is provided", choices=("venv", "modules", "container")),
        "venv": Key(str, ".venv", "virtual environment (mode venv), relative to the repository"),
        "modules": Key(list, [], "modules to load before running (mode modules or container)", item=str),
        "runtime": Key(str, "apptainer", "container command (mode container); LUMI's is singularity",
                       choices=("apptainer", "singularity")),
        "container": Key(str, "", "Apptainer image (mode container), relative to the repository "
                                  "unless absolute; $XRAYMASS_IMAGE overrides it at run time"),
        "binds": Key(list, [], "host paths bound into the container (apptainer --bind)", item=str),
        "gpu": Key(str, "none", "GPU runtime of the container: nvidia (apptainer --nv), amd (--rocm)",
                   choices=("none", "nvidia", "amd")),
    },
    "mpi": {
        "srun_mpi": Key(str, "pmix", "srun --mpi= plugin",
                        choices=("pmix", "pmix_v3", "pmix_v4", "pmi2", "cray_shasta", "pspmix", "none")),
        "library": Key(str, "openmpi", "MPI library the ranks link against",
                       choices=("openmpi", "cray-mpich", "parastation")),
        "container_model": Key(str, "none", "MPI in a container: hybrid (the container's own MPI, "
                                            "started by the host's srun through PMI) or bind (host MPI "
                                            "bound in); none outside containers",
                               choices=("none", "hybrid", "bind")),
    },
    # sbatch long options per stage, e.g. {partition: gpu, gpus-per-node: 4, time: "02:00:00"}
    **{f"slurm_{stage}": {"options": Key(dict, {}, f"sbatch options of the {stage} stage")} for stage in STAGES},
    "dask": {
        "cluster": Key(str, "local", "where Dask workers come from", choices=("local", "slurm")),
        "n_workers": Key(int, 2, "Dask workers", lo=1, hi=100_000),
        "threads_per_worker": Key(int, 1, "threads per worker", lo=1, hi=1024),
        "jobqueue": Key(str, "jobqueue.yaml", "dask-jobqueue config beside site.yaml (cluster slurm)"),
        "startup_timeout_s": Key(float, 1800.0, "give up when no worker has joined after this long "
                                 "(cluster slurm: worker jobs still queued or failed)", lo=1.0),
    },
}
