# GENERATED from site_configs/generic/site.yaml by `python -m xraymass.sites.launch generic`: do not edit;
# edit site.yaml and run that command. Sourced by every job script (jobs/*.sh) after
# `set -euo pipefail`, with XRAYMASS_STAGE set; the jobs run
#   $XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass <stage> ...
# template - a SLURM cluster with Apptainer, NVIDIA GPUs and OpenMPI-capable PMIx
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass.sif}
export XRAYMASS_SRUN_MPI=pmix
stage_launch="" stage_exec=""
export XRAYMASS_LAUNCH="srun --mpi=pmix --cpus-per-task=${SLURM_CPUS_PER_TASK:-1} $stage_launch"
export XRAYMASS_EXEC="${stage_exec}apptainer exec --nv --bind $XRAYMASS_HOME $XRAYMASS_IMAGE"
unset stage_launch stage_exec
