# JSC JUWELS Booster: sourced by every job script (jobs/*.sh) after `set -euo pipefail`.
# The software runs in the Apptainer image of containers/xraymass.def; psslurm's PMIx starts the
# container's OpenMPI ranks (hybrid model, docs/container.md).
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass.sif}
export XRAYMASS_SRUN_MPI=pspmix
export XRAYMASS_EXEC="apptainer exec --nv --bind $XRAYMASS_HOME,/p/project,/p/scratch $XRAYMASS_IMAGE"
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
