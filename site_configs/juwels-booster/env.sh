# GENERATED from site_configs/juwels-booster/site.yaml by `python -m xraymass.sites.launch juwels-booster`: do not edit;
# edit site.yaml and run that command. Sourced by every job script (jobs/*.sh) after
# `set -euo pipefail`, with XRAYMASS_STAGE set; the jobs run
#   $XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass <stage> ...
# JSC JUWELS - Booster A100 nodes for training, Cluster nodes for the CPU stages, Apptainer, ParaStation PMIx
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass.sif}
export XRAYMASS_SRUN_MPI=pspmix
stage_launch="" stage_exec=""
export XRAYMASS_LAUNCH="srun --mpi=pspmix --cpus-per-task=${SLURM_CPUS_PER_TASK:-1} $stage_launch"
export XRAYMASS_EXEC="${stage_exec}apptainer exec --nv --bind $XRAYMASS_HOME,/p/project1,/p/scratch $XRAYMASS_IMAGE"
unset stage_launch stage_exec
