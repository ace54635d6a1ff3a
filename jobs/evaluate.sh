#!/bin/bash
# The results: gather the ten folds' predictions (scatter, bias, Figures 3 and 4), then the core-excised
# L_X baseline from the mock events and the DeepDream interpretation (Figures 5 and 6); one report.
#   sbatch jobs/evaluate.sh [--set SECTION.KEY=VALUE ...]
# Science config: $XRAYMASS_CONFIG (default pipeline/demo.yaml); site: $XRAYMASS_SITE (default local).
#SBATCH --job-name=xraymass-evaluate
#SBATCH --output=logs/%x-%j.out
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --time=01:00:00
set -euo pipefail
export XRAYMASS_HOME=${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR}
source "$XRAYMASS_HOME/site_configs/${XRAYMASS_SITE:-local}/env.sh"
srun $XRAYMASS_EXEC python -m xraymass evaluate --with-baseline --with-interpret --config "${XRAYMASS_CONFIG:-pipeline/demo.yaml}" "$@"
