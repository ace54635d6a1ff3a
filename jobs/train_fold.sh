#!/bin/bash
# Train cross-validation fold $SLURM_ARRAY_TASK_ID of the CNN, one Horovod rank per task (one task per GPU).
#   sbatch --array=0-9 jobs/train_fold.sh [--set SECTION.KEY=VALUE ...]
# Resubmitting the same line resumes every unfinished fold from its last checkpoint; finished folds
# are skipped. SIGUSR1, 10 minutes before the time limit, makes the run stop after the current
# epoch's checkpoint and requeue itself. More ranks: sbatch --ntasks-per-node=N --gres=gpu:N ...
# Science config: $XRAYMASS_CONFIG (default pipeline/demo.yaml); site: $XRAYMASS_SITE (default local).
#SBATCH --job-name=xraymass-train
#SBATCH --output=logs/%x-%A_%a.out
#SBATCH --ntasks=1
#SBATCH --time=04:00:00
#SBATCH --signal=USR1@600
#SBATCH --requeue
#SBATCH --open-mode=append
set -euo pipefail
export XRAYMASS_HOME=${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR}
source "$XRAYMASS_HOME/site_configs/${XRAYMASS_SITE:-local}/env.sh"
fold=${SLURM_ARRAY_TASK_ID:?submit as an array job: sbatch --array=0-9 jobs/train_fold.sh}
srun --mpi="$XRAYMASS_SRUN_MPI" $XRAYMASS_EXEC python -m mpi4py -m xraymass train --fold "$fold" --config "${XRAYMASS_CONFIG:-pipeline/demo.yaml}" "$@"
