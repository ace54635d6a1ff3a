# GENERATED from site_configs/local/site.yaml by `python -m xraymass.sites.launch local`: do not edit;
# edit site.yaml and run that command. Sourced by every job script (jobs/*.sh) after
# `set -euo pipefail`, with XRAYMASS_STAGE set; the jobs run
#   $XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass <stage> ...
# one-node SLURM on this machine (site_configs/local/slurm.sh)
source "$XRAYMASS_HOME/.venv/bin/activate"
export OMPI_ALLOW_RUN_AS_ROOT=1
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export XRAYMASS_SRUN_MPI=pmix
stage_launch="" stage_exec=""
export XRAYMASS_LAUNCH="srun --mpi=pmix --cpus-per-task=${SLURM_CPUS_PER_TASK:-1} $stage_launch"
export XRAYMASS_EXEC="${stage_exec}"
unset stage_launch stage_exec
