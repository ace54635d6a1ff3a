# OLCF Frontier: sourced by every job script (jobs/*.sh) after `set -euo pipefail`.
# The software runs in a ROCm image built on MPICH (docs/container.md); OLCF's container modules bind
# the host's Cray MPICH and ROCm libraries into it (bind model), --rocm exposes the GCDs.
module load olcf-container-tools apptainer-enable-mpi apptainer-enable-gpu
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass-rocm.sif}
export XRAYMASS_SRUN_MPI=cray_shasta
export XRAYMASS_EXEC="apptainer exec --rocm --bind $XRAYMASS_HOME,/lustre/orion,/ccs/proj $XRAYMASS_IMAGE"
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
