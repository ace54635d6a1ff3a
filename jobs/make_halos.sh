#!/bin/bash
# The halo catalogue (synthetic population or TNG300 groups): the short first job of the chain.
#   sbatch jobs/make_halos.sh [--set SECTION.KEY=VALUE ...]
# Science config, site and launch line: jobs/stage.sh (the defaults, stated once).
#SBATCH --job-name=xraymass-halos
#SBATCH --output=logs/%x-%j.out
#SBATCH --ntasks=1
#SBATCH --time=00:30:00
set -euo pipefail
export XRAYMASS_STAGE=halos
source "${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR}/jobs/stage.sh"
set -x  # the log shows the exact launch
$XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass halos --config "$XRAYMASS_CONFIG" "$@"
