#!/bin/bash
# Per-task GPU selection (LUMI's select_gpu wrapper): each task of a step sees the one GCD numbered
# like its node-local rank. Used by sites whose slurm_<stage>.gpu_select is rocr_localid.
#   srun ... jobs/select_gpu.sh COMMAND ...
export ROCR_VISIBLE_DEVICES=$SLURM_LOCALID
exec "$@"
