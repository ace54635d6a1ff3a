#!/bin/bash
# The halo catalogue (synthetic population or TNG300 groups): the short first job of the chain.
#   sbatch jobs/make_halos.sh [--set SECTION.KEY=VALUE ...]
# Science config: $XRAYMASS_CONFIG (default pipeline/demo.yaml); site: $XRAYMASS_SITE (default local), whose
# env.sh (written from its site.yaml) sets the launch line. A plain sbatch names what the site needs, e.g.
#   sbatch --account=$XRAYMASS_ACCOUNT --partition=P --time=HH:MM:SS jobs/make_halos.sh
#SBATCH --job-name=xraymass-halos
#SBATCH --output=logs/%x-%j.out
#SBATCH --ntasks=1
#SBATCH --time=00:30:00
set -euo pipefail
export XRAYMASS_HOME=${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR} XRAYMASS_STAGE=halos
source "$XRAYMASS_HOME/site_configs/${XRAYMASS_SITE:-local}/env.sh"
set -f  # the launch words are never file patterns
$XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m xraymass halos --config "${XRAYMASS_CONFIG:-pipeline/demo.yaml}" "$@"
