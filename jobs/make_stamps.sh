#!/bin/bash
# Bin the events into 128x128 stamps, augment them 8-fold, assign mass-ordered folds (Dask).
#   sbatch jobs/make_stamps.sh [--set SECTION.KEY=VALUE ...] [--site-set dask.n_workers=N ...]
# The Dask scheduler and client run in this job; the workers come from the site's `dask` section:
# a LocalCluster on this job's cores, or SLURM worker jobs (dask-jobqueue) - see docs/stamps.md.
# Science config, site and launch line: jobs/stage.sh (the defaults, stated once).
#SBATCH --job-name=xraymass-stamps
#SBATCH --output=logs/%x-%j.out
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --time=00:30:00
set -euo pipefail
export XRAYMASS_STAGE=stamps
source "${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR}/jobs/stage.sh"
set -x  # the log shows the exact launch
$XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass stamps --config "$XRAYMASS_CONFIG" "$@"
