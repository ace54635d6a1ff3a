# TACC Vista: sourced by every job script (jobs/*.sh) after `set -euo pipefail`.
# Apptainer comes from the tacc-apptainer module; the host's srun starts the container's OpenMPI
# ranks through PMIx (hybrid model, docs/container.md).
module load tacc-apptainer
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass-aarch64.sif}
export XRAYMASS_SRUN_MPI=pmix
export XRAYMASS_EXEC="apptainer exec --nv --bind $XRAYMASS_HOME,/scratch,/work $XRAYMASS_IMAGE"
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
