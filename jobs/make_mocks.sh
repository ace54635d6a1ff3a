#!/bin/bash
# Mock Chandra event lists per halo and projection, MPI ranks over the allocation taking halos from
# a dynamic queue. Resumable: after a kill, submit the same line again (complete halos are skipped).
#   sbatch [--ntasks=N] jobs/make_mocks.sh [--halos ID,ID,...] [--set SECTION.KEY=VALUE ...]
# Science config, site and launch line: jobs/stage.sh (the defaults, stated once).
#SBATCH --job-name=xraymass-mocks
#SBATCH --output=logs/%x-%j.out
#SBATCH --ntasks=2
#SBATCH --time=00:30:00
set -euo pipefail
export XRAYMASS_STAGE=mocks
source "${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR}/jobs/stage.sh"
set -x  # the log shows the exact launch
$XRAYMASS_LAUNCH $XRAYMASS_EXEC python -m mpi4py -m xraymass mocks --config "$XRAYMASS_CONFIG" "$@"
