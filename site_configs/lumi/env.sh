# GENERATED from site_configs/lumi/site.yaml by `python -m xraymass.sites.launch lumi`: do not edit;
# edit site.yaml and run that command. Sourced by every job script (jobs/*.sh) after
# `set -euo pipefail`, with XRAYMASS_STAGE set; the jobs run
#   $XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass <stage> ...
# LUMI - LUMI-C for halos/mocks/stamps/evaluate, LUMI-G (MI250X, ROCm image) for training
module use /appl/local/containers/ai-modules
module load singularity-AI-bindings
# MIOpen kernel cache in node-local /tmp, one per job
export MIOPEN_USER_DB_PATH=/tmp/${USER:-xraymass}-miopen-${SLURM_JOB_ID:-0}
export MIOPEN_CUSTOM_CACHE_DIR=$MIOPEN_USER_DB_PATH
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass-rocm.sif}
export XRAYMASS_SRUN_MPI=cray_shasta
stage_launch="" stage_exec=""
case ${XRAYMASS_STAGE:-} in
  train) stage_launch="--cpu-bind=mask_cpu:0xfe000000000000,0xfe00000000000000,0xfe0000,0xfe000000,0xfe,0xfe00,0xfe00000000,0xfe0000000000" stage_exec="$XRAYMASS_HOME/jobs/select_gpu.sh " ;;
esac
export XRAYMASS_LAUNCH="srun --mpi=cray_shasta --cpus-per-task=${SLURM_CPUS_PER_TASK:-1} $stage_launch"
export XRAYMASS_EXEC="${stage_exec}singularity exec --rocm --bind $XRAYMASS_HOME,/scratch/${XRAYMASS_ACCOUNT},/project/${XRAYMASS_ACCOUNT},/flash/${XRAYMASS_ACCOUNT} $XRAYMASS_IMAGE"
unset stage_launch stage_exec
