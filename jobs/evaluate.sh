#!/bin/bash
# The results: gather the ten folds' predictions (scatter, bias, Figures 3 and 4), then the core-excised
# L_X baseline from the mock events and the DeepDream interpretation (Figures 5 and 6); one report.
#   sbatch jobs/evaluate.sh [--set SECTION.KEY=VALUE ...]
# Science config: $XRAYMASS_CONFIG (default pipeline/demo.yaml); site: $XRAYMASS_SITE (default local), whose
# env.sh (written from its site.yaml) sets the launch line. A plain sbatch names what the site needs, e.g.
#   sbatch --account=$XRAYMASS_ACCOUNT --partition=P --time=HH:MM:SS jobs/evaluate.sh
#SBATCH --job-name=xraymass-evaluate
#SBATCH --output=logs/%x-%j.out
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
set -euo pipefail
export XRAYMASS_HOME=${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR} XRAYMASS_STAGE=evaluate
source "$XRAYMASS_HOME/site_configs/${XRAYMASS_SITE:-local}/env.sh"
set -f  # the launch words are never file patterns
$XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass evaluate --with-baseline --with-interpret --config "${XRAYMASS_CONFIG:-pipeline/demo.yaml}" "$@"
