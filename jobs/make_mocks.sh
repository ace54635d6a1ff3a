#!/bin/bash
# Mock Chandra event lists per halo and projection, MPI ranks over the allocation taking halos from
# a dynamic queue. Resumable: after a kill, submit the same line again (complete halos are skipped).
#   sbatch [--ntasks=N] jobs/make_mocks.sh [--halos ID,ID,...] [--set SECTION.KEY=VALUE ...]
# Science config: $XRAYMASS_CONFIG (default pipeline/demo.yaml); site: $XRAYMASS_SITE (default local), whose
# env.sh (written from its site.yaml) sets the launch line. A plain sbatch names what the site needs, e.g.
#   sbatch --account=$XRAYMASS_ACCOUNT --partition=P --time=HH:MM:SS jobs/make_mocks.sh
#SBATCH --job-name=xraymass-mocks
#SBATCH --output=logs/%x-%j.out
#SBATCH --ntasks=2
#SBATCH --time=00:30:00
set -euo pipefail
export XRAYMASS_HOME=${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR} XRAYMASS_STAGE=mocks
source "$XRAYMASS_HOME/site_configs/${XRAYMASS_SITE:-local}/env.sh"
set -f  # the launch words are never file patterns
$XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m mpi4py -m xraymass mocks --config "${XRAYMASS_CONFIG:-pipeline/demo.yaml}" "$@"
