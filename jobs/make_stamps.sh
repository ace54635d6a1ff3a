#!/bin/bash
# Bin the events into 128x128 stamps, augment them 8-fold, assign mass-ordered folds (Dask).
#   sbatch jobs/make_stamps.sh [--set SECTION.KEY=VALUE ...] [--site-set dask.n_workers=N ...]
# The Dask scheduler and client run in this job; the workers come from the site's `dask` section:
# a LocalCluster on this job's cores, or SLURM worker jobs (dask-jobqueue) - see docs/stamps.md.
# Science config: $XRAYMASS_CONFIG (default pipeline/demo.yaml); site: $XRAYMASS_SITE (default local), whose
# env.sh (written from its site.yaml) sets the launch line. A plain sbatch names what the site needs, e.g.
#   sbatch --account=$XRAYMASS_ACCOUNT --partition=P --time=HH:MM:SS jobs/make_stamps.sh
#SBATCH --job-name=xraymass-stamps
#SBATCH --output=logs/%x-%j.out
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=2
#SBATCH --time=00:30:00
set -euo pipefail
export XRAYMASS_HOME=${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR} XRAYMASS_STAGE=stamps
source "$XRAYMASS_HOME/site_configs/${XRAYMASS_SITE:-local}/env.sh"
set -f  # the launch words are never file patterns
$XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass stamps --config "${XRAYMASS_CONFIG:-pipeline/demo.yaml}" "$@"
