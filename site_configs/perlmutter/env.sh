# NERSC Perlmutter: sourced by every job script (jobs/*.sh) after `set -euo pipefail`.
# The software runs in the Apptainer image of containers/xraymass.def; the host's srun starts the
# container's OpenMPI ranks through PMIx (hybrid model, docs/container.md).
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass.sif}
export XRAYMASS_SRUN_MPI=pmix
export XRAYMASS_EXEC="apptainer exec --nv --bind $XRAYMASS_HOME,/pscratch,/global/cfs $XRAYMASS_IMAGE"
# one CPU thread pool per rank; the image's own OpenMPI must not pick up the host's Cray MPICH settings
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
