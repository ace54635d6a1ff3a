#!/bin/bash
# Train cross-validation fold $SLURM_ARRAY_TASK_ID of the CNN, one Horovod rank per task (one task per GPU).
#   sbatch --array=0-9 jobs/train_fold.sh [--set SECTION.KEY=VALUE ...]
# With train.members = M networks per fold (an ensemble), task t trains fold t / M, member t % M:
#   sbatch --array=0-$((10 * M - 1)) jobs/train_fold.sh
# Resubmitting the same line resumes every unfinished fold from its last checkpoint; finished folds
# are skipped. Before the time limit SLURM sends SIGUSR1 (xraymass submit scales the warning with the
# stage's time limit: a tenth of it, 1 to 10 minutes); to the batch shell (B:) or to the step, it
# reaches the training ranks, which stop after the current epoch's checkpoint and exit with status
# 75. This script, on the host and outside any container, then requeues the job with scontrol; the
# requeued job resumes from that checkpoint. More ranks: sbatch --ntasks-per-node=N --gres=gpu:N ...
# Science config, site and launch line: jobs/stage.sh (the defaults, stated once).
#SBATCH --job-name=xraymass-train
#SBATCH --output=logs/%x-%A_%a.out
#SBATCH --ntasks=1
#SBATCH --time=00:30:00
#SBATCH --signal=B:USR1@180
#SBATCH --requeue
#SBATCH --open-mode=append
set -euo pipefail
export XRAYMASS_STAGE=train
source "${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR}/jobs/stage.sh"
# until the step runs, a SIGUSR1 (a retried scancel, say) is ignored: the shell's default would end the job
trap '' USR1
task=${SLURM_ARRAY_TASK_ID:?submit as an array job: sbatch --array=0-9 jobs/train_fold.sh}
REQUEUE=75  # the training step's exit status when it stopped to be requeued (xraymass.train.stage)

# the step runs in the background so that this shell can take SIGUSR1 and hand it on to the step (started
# from this shell, it ignores SIGUSR1 until the training stage has installed its handler)
set -x  # the log shows the exact launch
$XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m mpi4py -m xraymass train --task "$task" --config "$XRAYMASS_CONFIG" "$@" &
{ set +x; } 2>/dev/null
step=$!
trap 'echo "[train_fold.sh] SIGUSR1: passed on to the training step"; kill -USR1 "$step" 2>/dev/null || true' USR1
status=0
while :; do
  wait "$step" && status=0 || status=$?
  kill -0 "$step" 2>/dev/null || break  # wait returned for a trapped signal: the step still runs
done
trap - USR1
if ((status == REQUEUE)); then
  echo "[train_fold.sh] the training step stopped at a checkpoint; requeueing job $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
fi
exit "$status"
