# Environment of the local site, sourced by every job script (jobs/*.sh).
# Sets what the job scripts use: XRAYMASS_SRUN_MPI (srun --mpi=) and XRAYMASS_EXEC (a prefix
# for commands: empty here; `apptainer exec ...` at container sites).
export SLURM_CONF=${SLURM_CONF:-${XRAYMASS_SLURM_DIR:-/tmp/xraymass-slurm}/slurm.conf}
source "$XRAYMASS_HOME/.venv/bin/activate"
export XRAYMASS_SRUN_MPI=pmix
export XRAYMASS_EXEC=""
# OpenMPI as root on a one-node cluster
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
