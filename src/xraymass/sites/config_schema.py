"""Sections of a site config (site_configs/<site>/site.yaml): where and how the stages run.

A site config never names a physical constant; a science config never names a partition.
The sbatch options of each stage are checked further by `xraymass.sites.options` (allow-listed
names, strictly formed values) when the site is loaded with `xraymass.sites.site.load_site`.
"""
from ..schema import Key
from ..stages import CHAIN as STAGES  # one slurm_<stage> section per job of the chain (xraymass.stages)

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
        "export": Key(bool, True, "pass the job environment with sbatch --export=ALL,...; false: through the "
                                  "environment sbatch inherits (TACC advises against --export on Vista)"),
    },
    "software": {
        "mode": Key(str, "venv", "how the software is provided", choices=("venv", "modules", "container")),
        "venv": Key(str, ".venv", "virtual environment (mode venv), relative to the repository"),
        "modules": Key(list, [], "modules to load before running (mode modules or container)", item=str),
        "module_use": Key(list, [], "module folders to add first (module use), e.g. LUMI's AI container modules",
                          item=str),
        "runtime": Key(str, "apptainer", "container runtime (mode container): apptainer or singularity (a .sif "
                                         "file), podman-hpc or shifter (an OCI image name), container-engine "
                                         "(CSCS: srun --environment with an EDF file generated beside site.yaml)",
                       choices=("apptainer", "singularity", "podman-hpc", "shifter", "container-engine")),
        "container": Key(str, "", "the image (mode container): a .sif file (apptainer, singularity) relative to "
                                  "the repository unless absolute; an OCI image name (podman-hpc, shifter); a "
                                  "squashfs file (container-engine). $XRAYMASS_IMAGE overrides it at run time"),
        "runtime_flags": Key(list, [], "extra flags of the container command, e.g. podman-hpc's --openmpi-pmix; "
                                       "shifter's --module=gpu", item=str),
        "binds": Key(list, [], "host paths bound into the container", item=str),
        "gpu": Key(str, "none", "GPU runtime of the container: nvidia (apptainer --nv, podman-hpc --gpu), amd "
                                "(--rocm)", choices=("none", "nvidia", "amd")),
        "env": Key(dict, {}, "variables exported in every job (NAME: value; values without $ or spaces)"),
        "step_env": Key(dict, {}, "variables set for the job steps only (srun's tasks), not the batch shell"),
        "miopen_cache": Key(bool, False, "MIOpen's kernel cache in node-local /tmp per job (AMD GPUs: OLCF, LUMI)"),
    },
    "mpi": {
        "launcher": Key(str, "srun", "what starts the tasks of a step: srun, or TACC's ibrun", choices=("srun", "ibrun")),
        "srun_mpi": Key(str, "pmix", "srun --mpi= plugin",
                        choices=("pmix", "pmix_v3", "pmix_v4", "pmi2", "cray_shasta", "pspmix", "none")),
        "library": Key(str, "openmpi", "MPI library the ranks link against",
                       choices=("openmpi", "cray-mpich", "parastation")),
        "container_model": Key(str, "none", "MPI in a container: hybrid (the container's own MPI, "
                                            "started by the host's srun through PMI) or bind (host MPI "
                                            "bound in); none outside containers",
                               choices=("none", "hybrid", "bind")),
    },
    # sbatch long options per stage, e.g. {partition: gpu, gpus-per-node: 4, time: "02:00:00"}; srun options of
    # the stage's step (binding: cpu-bind, gpu-bind); gpu_select rocr_localid: each task sees the GPU
    # ROCR_VISIBLE_DEVICES=$SLURM_LOCALID (LUMI's select_gpu wrapper, jobs/select_gpu.sh)
    **{f"slurm_{stage}": {
        "options": Key(dict, {}, f"sbatch options of the {stage} stage"),
        "srun": Key(dict, {}, f"srun options of the {stage} step (cpu-bind, gpu-bind)"),
        "gpu_select": Key(str, "none", "per-task GPU selection", choices=("none", "rocr_localid")),
    } for stage in STAGES},
    "resources": {
        "scratch_dir": Key(str, "", "node-local folder for the mocks' per-halo files ('' = $TMPDIR, else the "
                                    "system temporary folder)"),
        "block_events": Key(int, 4_194_304, "events a stamps worker reads at a time (~32 bytes per event held)",
                            lo=65_536, hi=1 << 31),
    },
    "dask": {
        "cluster": Key(str, "local", "where Dask workers come from", choices=("local", "slurm")),
        "n_workers": Key(int, 2, "Dask workers", lo=1, hi=100_000),
        "threads_per_worker": Key(int, 1, "threads per worker", lo=1, hi=1024),
        "jobqueue": Key(str, "jobqueue.yaml", "dask-jobqueue config beside site.yaml (cluster slurm)"),
        "startup_timeout_s": Key(float, 1800.0, "give up when no worker has joined after this long "
                                 "(cluster slurm: worker jobs still queued or failed)", lo=1.0),
    },
}
