#!/usr/bin/env bash
# Build a CPU-only Triton image for the docker-mode integration tests, laid out like NGC's.
#
#   scripts/build_cpu_image.sh [TAG]       # default tag: pytest-triton/tritonserver-cpu:local
#
# NGC images (nvcr.io/nvidia/tritonserver:*-py3) cannot be pulled here and need a GPU host, so
# CI builds a stand-in from Debian bookworm plus the tritonserver the nvidia-pytriton wheel ships.
# The layout is NGC's, which is the contract the docker launcher relies on:
#   /opt/tritonserver/bin/tritonserver              the server (its RPATH finds ../lib)
#   /opt/tritonserver/lib/                          the wheel's bundled libraries
#   /opt/tritonserver/backends/python/              python backend + the Python 3.11 stub
#   /opt/tritonserver/caches/local/                 response cache
# so tritonserver's compiled-in default backend and cache directories just work, exactly as in
# NGC. Bookworm's python3 is 3.11, matching the stub; numpy is there for the python backend.
#
# Idempotent: an image with this tag whose build-key label matches the inputs (this script and
# the wheel version) is reused; anything else is rebuilt. FORCE=1 rebuilds anyway.
#
# Environment:
#   PYTHON                  interpreter with nvidia-pytriton installed (default: .venv/bin/python,
#                           else python3); if it lacks the wheel, the wheel is downloaded
#   PYTRITON_VERSION        wheel version to download when not installed (default 0.7.0)
#   IMAGE_BUILD_DIR         scratch space for the rootfs and the apt cache
#                           (default /var/tmp/pytest-triton-image-build; never the repo)
#   DEBIAN_MIRROR           default http://deb.debian.org/debian
set -euo pipefail

TAG="${1:-pytest-triton/tritonserver-cpu:local}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE_BUILD_DIR="${IMAGE_BUILD_DIR:-/var/tmp/pytest-triton-image-build}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PYTRITON_VERSION="${PYTRITON_VERSION:-0.7.0}"
STUB_PY=3.11 # bookworm's python3

log() { printf 'build_cpu_image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ -z "${PYTHON:-}" ]; then
    if [ -x "$REPO_ROOT/.venv/bin/python" ]; then PYTHON="$REPO_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

command -v docker >/dev/null || die "docker CLI not found (run scripts/provision_docker.sh)"
docker version >/dev/null 2>&1 || die "no Docker engine answers (run scripts/provision_docker.sh)"

# --- locate the wheel's server ----------------------------------------------------------------
server_root="$("$PYTHON" - <<'EOF' 2>/dev/null || true
import importlib.util, pathlib
spec = importlib.util.find_spec("pytriton")
if spec and spec.submodule_search_locations:
    root = pathlib.Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
    if (root / "bin" / "tritonserver").exists():
        print(root)
EOF
)"
if [ -n "$server_root" ]; then
    wheel_version="$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("nvidia-pytriton"))')"
else
    wheel_version="$PYTRITON_VERSION"
fi

# The build key names every input that changes the image: rebuild when any of them moves.
build_key="$( { sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1; echo "nvidia-pytriton==$wheel_version"; } | sha256sum | cut -c1-16)"

if [ "${FORCE:-0}" != 1 ]; then
    have_key="$(docker image inspect --format '{{ index .Config.Labels "org.pytest-triton.build-key" }}' "$TAG" 2>/dev/null || true)"
    if [ "$have_key" = "$build_key" ]; then
        log "reusing $TAG (build key $build_key)"
        exit 0
    fi
    [ -n "$have_key" ] && log "$TAG exists with build key $have_key, want $build_key: rebuilding"
fi

[ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    # A fresh machine may have no package lists yet: update only when the install needs it.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
fi

mkdir -p "$IMAGE_BUILD_DIR/apt-cache"
rootfs="$(mktemp -d "$IMAGE_BUILD_DIR/rootfs.XXXXXX")"
cleanup() { rm -rf --one-file-system "$rootfs"; }
trap cleanup EXIT

if [ -z "$server_root" ]; then
    log "nvidia-pytriton not installed for $PYTHON: downloading the $PYTRITON_VERSION wheel"
    wheel_dir="$IMAGE_BUILD_DIR/wheel-$PYTRITON_VERSION"
    if [ ! -d "$wheel_dir/pytriton" ]; then
        "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$IMAGE_BUILD_DIR/dl" \
            "nvidia-pytriton==$PYTRITON_VERSION"
        mkdir -p "$wheel_dir"
        "$PYTHON" -m zipfile -e "$IMAGE_BUILD_DIR"/dl/nvidia_pytriton-"$PYTRITON_VERSION"-*.whl "$wheel_dir"
    fi
    server_root="$wheel_dir/pytriton/tritonserver"
fi
libs_dir="$(cd "$server_root/../.." && pwd)/nvidia_pytriton.libs"
[ -x "$server_root/bin/tritonserver" ] || chmod +x "$server_root/bin/tritonserver"
stub="$server_root/python_backend_stubs/$STUB_PY/triton_python_backend_stub"
[ -f "$stub" ] || die "the wheel has no python backend stub for Python $STUB_PY ($stub)"

# --- base system -----------------------------------------------------------------------------
log "debootstrap bookworm into $rootfs (packages cached in $IMAGE_BUILD_DIR/apt-cache)"
debootstrap --variant=minbase --cache-dir="$IMAGE_BUILD_DIR/apt-cache" \
    --include=python3,python3-numpy,libpython3.11 \
    bookworm "$rootfs" "$DEBIAN_MIRROR" >"$IMAGE_BUILD_DIR/debootstrap.log" 2>&1 \
    || { tail -n 30 "$IMAGE_BUILD_DIR/debootstrap.log" >&2; die "debootstrap failed"; }

# --- NGC layout ------------------------------------------------------------------------------
opt="$rootfs/opt/tritonserver"
mkdir -p "$opt/bin" "$opt/lib" "$opt/backends/python" "$opt/caches"
cp "$server_root/bin/tritonserver" "$opt/bin/"
cp "$libs_dir"/* "$opt/lib/"
cp "$server_root/backends/python/libtriton_python.so" \
   "$server_root/backends/python/triton_python_backend_utils.py" "$opt/backends/python/"
cp "$stub" "$opt/backends/python/triton_python_backend_stub"
cp -r "$server_root/caches/local" "$opt/caches/"
chmod 0755 "$opt/bin/tritonserver" "$opt/backends/python/triton_python_backend_stub"

# Every library the server, the backend, the stub and the cache need must resolve *inside* the
# image: the wheel assumes a manylinux host, and a missing one only shows up at model load.
missing="$(chroot "$rootfs" /usr/bin/env LD_LIBRARY_PATH=/opt/tritonserver/lib sh -c '
    for f in /opt/tritonserver/bin/tritonserver /opt/tritonserver/backends/python/libtriton_python.so \
             /opt/tritonserver/backends/python/triton_python_backend_stub \
             /opt/tritonserver/caches/local/libtritoncache_local.so; do
        ldd "$f" | sed -n "s|^\s*\(\S*\) => not found|$f: \1|p"
    done')"
[ -z "$missing" ] || die "libraries missing in the image:"$'\n'"$missing"
chroot "$rootfs" python3 -c 'import numpy' || die "numpy does not import in the image"

rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc \
       "$rootfs"/usr/share/man "$rootfs"/usr/share/locale

# --- import ----------------------------------------------------------------------------------
previous_id="$(docker image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)"
# No ENTRYPOINT/CMD: the launcher always runs /opt/tritonserver/bin/tritonserver with its own
# argv, as it does for NGC images.
log "importing as $TAG"
tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV LD_LIBRARY_PATH=/opt/tritonserver/lib' \
    --change 'ENV PATH=/opt/tritonserver/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /' \
    --change "LABEL org.pytest-triton.build-key=$build_key" \
    --change "LABEL org.pytest-triton.nvidia-pytriton=$wheel_version" \
    - "$TAG" >/dev/null
# The image this one replaces would linger untagged, 320 MB per rebuild on a CI cache.
if [ -n "$previous_id" ] && [ "$previous_id" != "$(docker image inspect --format '{{.Id}}' "$TAG")" ]; then
    docker image rm "$previous_id" >/dev/null 2>&1 || log "kept old image $previous_id (still in use)"
fi
log "built $TAG ($(docker image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'), build key $build_key)"
