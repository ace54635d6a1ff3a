# CSCS Alps (Daint): sourced by every job script (jobs/*.sh) after `set -euo pipefail`.
# The software runs in an aarch64 Apptainer image (docs/container.md); the host's srun starts the
# container's OpenMPI ranks through PMIx (hybrid model).
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass-aarch64.sif}
export XRAYMASS_SRUN_MPI=pmix
export XRAYMASS_EXEC="apptainer exec --nv --bind $XRAYMASS_HOME,/ritom,/capstor,/iopsstor $XRAYMASS_IMAGE"
# PMIx in the same security domain as Slurm (docs.cscs.ch/software/communication/openmpi/)
export PMIX_MCA_psec=native
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
