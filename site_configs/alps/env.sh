# GENERATED from site_configs/alps/site.yaml by `python -m xraymass.sites.launch alps`: do not edit;
# edit site.yaml and run that command. Sourced by every job script (jobs/*.sh) after
# `set -euo pipefail`, with XRAYMASS_STAGE set; the jobs run
#   $XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass <stage> ...
# CSCS Alps (Daint) - GH200 nodes, aarch64 OCI image through the Container Engine
export PMIX_MCA_psec=native
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export XRAYMASS_IMAGE=${XRAYMASS_IMAGE:-$XRAYMASS_HOME/xraymass-aarch64.sqsh}
export XRAYMASS_SRUN_MPI=pmix
stage_launch="" stage_exec=""
export XRAYMASS_LAUNCH="srun --mpi=pmix --cpus-per-task=${SLURM_CPUS_PER_TASK:-1} --environment=$XRAYMASS_HOME/site_configs/alps/xraymass.toml $stage_launch"
export XRAYMASS_EXEC="${stage_exec}"
unset stage_launch stage_exec
