# Sourced by every job script of jobs/ after `set -euo pipefail`, with XRAYMASS_STAGE set: the defaults,
# stated here once, and the site's environment. Not a job itself.
# Science config: $XRAYMASS_CONFIG (default pipeline/demo.yaml); site: $XRAYMASS_SITE (default local), whose
# env.sh (written from its site.yaml) sets the launch line: each job then runs
#   $XRAYMASS_LAUNCH $XRAYMASS_EXEC <the stage's command> --config "$XRAYMASS_CONFIG" "$@"
# where the stage's command is the one its declaration gives (xraymass.stages: Stage.command; tests check it).
# A plain sbatch names what the site needs, e.g.
#   sbatch --account=$XRAYMASS_ACCOUNT --partition=P --time=HH:MM:SS jobs/make_halos.sh
: "${XRAYMASS_CONFIG:=pipeline/demo.yaml}"
: "${XRAYMASS_SITE:=local}"
export XRAYMASS_HOME=${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR} XRAYMASS_CONFIG XRAYMASS_SITE XRAYMASS_STAGE
source "$XRAYMASS_HOME/site_configs/$XRAYMASS_SITE/env.sh"
set -f  # the launch words are never file patterns
