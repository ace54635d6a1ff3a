# GENERATED from site_configs/frontier/site.yaml by `python -m xraymass.sites.launch frontier`: do not edit;
# edit site.yaml and run that command. Sourced by every job script (jobs/*.sh) after
# `set -euo pipefail`, with XRAYMASS_STAGE set; the jobs run
#   $XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass <stage> ...
# OLCF Frontier - every stage on batch nodes, training on 8 MI250X GCDs per node (ROCm image)
module load olcf-container-tools apptainer-enable-mpi apptainer-enable-gpu
# MIOpen kernel cache in node-local /tmp, one per job
export MIOPEN_USER_DB_PATH=/tmp/${USER:-xraymass}-miopen-${SLURM_JOB_ID:-0}
export MIOPEN_CUSTOM_CACHE_DIR=$MIOPEN_USER_DB_PATH
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass-rocm.sif}
export XRAYMASS_SRUN_MPI=cray_shasta
stage_launch="" stage_exec=""
case ${XRAYMASS_STAGE:-} in
  train) stage_launch="--gpu-bind=closest" stage_exec="" ;;
esac
export XRAYMASS_LAUNCH="srun --mpi=cray_shasta --cpus-per-task=${SLURM_CPUS_PER_TASK:-1} $stage_launch"
export XRAYMASS_EXEC="${stage_exec}apptainer exec --rocm --bind $XRAYMASS_HOME,/lustre/orion,/ccs/proj $XRAYMASS_IMAGE"
unset stage_launch stage_exec
