#!/bin/bash
# The results: gather the ten folds' predictions (scatter, bias, Figures 3 and 4), then the core-excised
# L_X baseline from the mock events and the DeepDream interpretation (Figures 5 and 6); one report.
#   sbatch jobs/evaluate.sh [--set SECTION.KEY=VALUE ...]
# Science config, site and launch line: jobs/stage.sh (the defaults, stated once).
#SBATCH --job-name=xraymass-evaluate
#SBATCH --output=logs/%x-%j.out
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
set -euo pipefail
export XRAYMASS_STAGE=evaluate
source "${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR}/jobs/stage.sh"
set -x  # the log shows the exact launch
$XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass evaluate --with-baseline --with-interpret --config "$XRAYMASS_CONFIG" "$@"
