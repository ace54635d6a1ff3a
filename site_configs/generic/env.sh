# A generic SLURM site (template): sourced by every job script (jobs/*.sh) after `set -euo pipefail`.
# The software runs in the Apptainer image of containers/xraymass.def; the host's srun starts the
# container's OpenMPI ranks through PMIx (hybrid model, docs/container.md). Add the site's modules
# (e.g. `module load apptainer`) and the file systems to bind.
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass.sif}
export XRAYMASS_SRUN_MPI=pmix
export XRAYMASS_EXEC="apptainer exec --nv --bind $XRAYMASS_HOME $XRAYMASS_IMAGE"
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
