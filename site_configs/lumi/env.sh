# LUMI: sourced by every job script (jobs/*.sh) after `set -euo pipefail`.
# The software runs in a ROCm image built on MPICH (docs/container.md) with LUMI's `singularity`
# command; the singularity-bindings module binds the host's Cray MPICH into it (bind model).
# $XRAYMASS_ACCOUNT (the LUMI project) names the project folders to bind.
module load singularity-bindings
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass-rocm.sif}
export XRAYMASS_SRUN_MPI=cray_shasta
export XRAYMASS_EXEC="singularity exec --rocm --bind $XRAYMASS_HOME,/scratch/$XRAYMASS_ACCOUNT,/project/$XRAYMASS_ACCOUNT,/flash/$XRAYMASS_ACCOUNT $XRAYMASS_IMAGE"
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
