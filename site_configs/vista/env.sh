# GENERATED from site_configs/vista/site.yaml by `python -m xraymass.sites.launch vista`: do not edit;
# edit site.yaml and run that command. Sourced by every job script (jobs/*.sh) after
# `set -euo pipefail`, with XRAYMASS_STAGE set; the jobs run
#   $XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass <stage> ...
# TACC Vista - Grace-Grace nodes for the CPU stages, Grace-Hopper (1 H100 per node) for training
module load tacc-apptainer
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass-aarch64.sif}
export XRAYMASS_SRUN_MPI=pmix
stage_launch="" stage_exec=""
export XRAYMASS_LAUNCH="ibrun $stage_launch"
export XRAYMASS_EXEC="${stage_exec}apptainer exec --nv --bind $XRAYMASS_HOME,/scratch,/work $XRAYMASS_IMAGE"
unset stage_launch stage_exec
