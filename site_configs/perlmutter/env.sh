# GENERATED from site_configs/perlmutter/site.yaml by `python -m xraymass.sites.launch perlmutter`: do not edit;
# edit site.yaml and run that command. Sourced by every job script (jobs/*.sh) after
# `set -euo pipefail`, with XRAYMASS_STAGE set; the jobs run
#   $XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass <stage> ...
# NERSC Perlmutter - CPU nodes for halos/mocks/stamps/evaluate, A100 GPU nodes for training (podman-hpc)
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-xraymass:cuda}
export XRAYMASS_SRUN_MPI=pmix
stage_launch="" stage_exec=""
case ${XRAYMASS_STAGE:-} in
  mocks) stage_launch="--cpu-bind=cores" stage_exec="" ;;
  train) stage_launch="--cpu-bind=cores" stage_exec="" ;;
esac
export XRAYMASS_LAUNCH="srun --mpi=pmix --cpus-per-task=${SLURM_CPUS_PER_TASK:-1} $stage_launch"
export XRAYMASS_EXEC="${stage_exec}podman-hpc run --rm --gpu --openmpi-pmix --env=XRAYMASS_CONFIG --env=XRAYMASS_SITE --env=XRAYMASS_HOME --env=XRAYMASS_STAGE --env=XRAYMASS_ACCOUNT --env=OMP_NUM_THREADS --env=SLURM_JOB_ID --env=SLURM_ARRAY_JOB_ID --env=SLURM_ARRAY_TASK_ID --env=SLURM_PROCID --env=SLURM_LOCALID --env=SLURM_NTASKS --env=SLURM_NODEID --env=SLURM_CPUS_PER_TASK --env=SLURM_SUBMIT_DIR --env=TMPDIR --volume=$XRAYMASS_HOME:$XRAYMASS_HOME --volume=/pscratch:/pscratch --volume=/global/cfs:/global/cfs --volume=$PWD:$PWD --workdir=$PWD $XRAYMASS_IMAGE"
unset stage_launch stage_exec
