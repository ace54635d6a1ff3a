#!/bin/bash
# Mock Chandra event lists per halo and projection, MPI ranks over the allocation taking halos from
# a dynamic queue. Resumable: after a kill, submit the same line again (complete halos are skipped).
#   sbatch [--ntasks=N] jobs/make_mocks.sh [--halos ID,ID,...] [--set SECTION.KEY=VALUE ...]
# Science config: $XRAYMASS_CONFIG (default pipeline/demo.yaml); site: $XRAYMASS_SITE (default local).
#SBATCH --job-name=xraymass-mocks
#SBATCH --output=logs/%x-%j.out
#SBATCH --ntasks=2
#SBATCH --time=01:00:00
set -euo pipefail
export XRAYMASS_HOME=${XRAYMASS_HOME:-$SLURM_SUBMIT_DIR}
source "$XRAYMASS_HOME/site_configs/${XRAYMASS_SITE:-local}/env.sh"
srun --mpi="$XRAYMASS_SRUN_MPI" $XRAYMASS_EXEC python -m mpi4py -m xraymass mocks --config "${XRAYMASS_CONFIG:-pipeline/demo.yaml}" "$@"
