#!/usr/bin/env bash
# The one install path of xraymass: Debian packages, then the Python stack at the known-good
# versions of containers/constraints.txt, then Horovod built from source, into a virtual
# environment. The Makefile, .ci/run and containers/xraymass.def all call this script.
#
#   containers/install.sh VENV [--gpu]
#
# --gpu installs the CUDA build of TensorFlow and Horovod with NCCL (GPU sites, in the container).
# A second run with nothing changed returns in seconds. The Horovod wheel is built once per
# machine and TensorFlow version and kept in $XRAYMASS_WHEEL_CACHE (default ~/.cache/xraymass).
set -euo pipefail

usage() { echo "usage: $0 VENV [--gpu]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
venv=$1; shift
gpu=0
for arg in "$@"; do
  case $arg in
    --gpu) gpu=1 ;;
    *) usage ;;
  esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
constraints=$here/constraints.txt
tf_version=$(sed -n 's/^tensorflow-cpu==//p' "$constraints")
tfkeras_version=$(sed -n 's/^tf-keras==//p' "$constraints")
horovod_version=0.28.1
wheel_cache=${XRAYMASS_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xraymass/wheels}/tf-$tf_version-gpu$gpu

log() { printf '[install] %s\n' "$*"; }

# --- Debian packages: MPI to build mpi4py and Horovod against, SLURM for the local cluster,
# the system cmake (PyPI's cmake 4 breaks Horovod's gloo build).
debs=(libopenmpi-dev openmpi-bin slurm-wlm munge cmake make g++ git)
python=${PYTHON:-python3}
# a bare Debian/Ubuntu python3 (as in the container's base image) has no venv module or headers
"$python" -c "import venv, ensurepip, sysconfig, os; assert os.path.exists(sysconfig.get_paths()['include'] + '/Python.h')" \
  2>/dev/null || debs+=(python3-venv python3-dev)
missing=()
for d in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "ok installed" || missing+=("$d")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install.sh: missing Debian packages (${missing[*]}); install them as root or load the site's modules" >&2
    exit 1
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Skip everything below when this exact recipe is already installed in VENV.
stamp_value=$(cat "$constraints" "$repo/setup.cfg" "$0" | sha256sum | cut -c1-16)-gpu$gpu
stamp=$venv/.xraymass-install
if [[ -f $stamp && $(cat "$stamp") == "$stamp_value" ]] && "$venv/bin/python" -c "import horovod.tensorflow, xraymass" 2>/dev/null; then
  log "up to date: $venv"
  exit 0
fi

[[ -x $venv/bin/python ]] || { log "creating $venv"; "$python" -m venv "$venv"; }
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip setuptools wheel

# --- TensorFlow: the CPU build here, the CUDA build on GPU sites. tf-keras names the full
# 'tensorflow' distribution as its requirement, so it goes in without dependencies.
if ((gpu)); then
  "${pip[@]}" install "tensorflow[and-cuda]==$tf_version"
else
  "${pip[@]}" install -c "$constraints" "tensorflow-cpu==$tf_version"
fi
"${pip[@]}" install --no-deps "tf-keras==$tfkeras_version"

# --- The package and every other dependency, pinned by constraints.txt.
log "installing xraymass and its stack"
"${pip[@]}" install -c "$constraints" -e "$repo[all]"

# --- Horovod from source against this TensorFlow and Debian's OpenMPI; the wheel is reused.
if ! "$venv/bin/python" -c "import horovod.tensorflow" 2>/dev/null; then
  wheel=$(ls "$wheel_cache"/horovod-$horovod_version-*.whl 2>/dev/null | head -n1 || true)
  if [[ -z $wheel ]]; then
    log "building horovod $horovod_version (about 8 minutes on 2 cores)"
    mkdir -p "$wheel_cache"
    export HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_MPI=1 HOROVOD_WITH_GLOO=1
    export HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1
    ((gpu)) && export HOROVOD_GPU_OPERATIONS=NCCL
    export MAKEFLAGS=-j$(nproc)
    # the system cmake, never a PyPI one that may sit in the venv
    PATH=/usr/bin:$PATH "${pip[@]}" wheel --no-build-isolation --no-deps \
      -w "$wheel_cache" "horovod==$horovod_version"
    wheel=$(ls "$wheel_cache"/horovod-$horovod_version-*.whl | head -n1)
  else
    log "reusing $wheel"
  fi
  "${pip[@]}" install --no-deps "$wheel"
fi

"$venv/bin/python" -c "import horovod.tensorflow.keras, tf_keras, pyxsim, soxs, yt, zarr, mpi4py, dask_jobqueue, xraymass"
echo "$stamp_value" > "$stamp"
log "done: $venv"
