#!/usr/bin/env bash
# Fetch the MuJoCo 3.17.0 runtime and the Gymnasium 1.4.0 MJCF models into a
# cache outside git, for building fixpo with the `mujoco` feature
# (crate mujoco-rs =7.0.0, which binds exactly MuJoCo 3.17.0).
#
# Idempotent: files already present (and matching their pinned sha256) are kept.
#
# Cache dir: $FIXPO_CACHE, default <repo>/.cache/mujoco (.cache is gitignored).
# Layout:
#   wheels/                         the two downloaded wheels
#   mujoco-3.17.0/lib/              libmujoco.so.3.17.0 + libmujoco.so symlink
#   mujoco-3.17.0/include/mujoco/   C headers
#   mjcf/                           gymnasium/envs/mujoco/assets/* (hopper.xml, ...)
#   env.sh                          the exports below; `source` it
#
# Usage:  scripts/setup-mujoco.sh            # sets up, prints exports
#         eval "$(scripts/setup-mujoco.sh --print-env)"   # quiet, exports only
#
# Debian packages: none beyond the base machine (gcc as linker, python3+pip).
# mujoco-rs ships pre-generated FFI bindings, so no bindgen/libclang is needed
# with default features; the `pkg-config` crate it builds with is pure Rust and
# is bypassed when MUJOCO_DYNAMIC_LINK_DIR is set. libmujoco.so only needs
# glibc (libc, libm, libdl, libpthread, librt).
set -euo pipefail

MUJOCO_VERSION=3.17.0
GYMNASIUM_VERSION=1.4.0
MUJOCO_WHEEL="mujoco-${MUJOCO_VERSION}-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
MUJOCO_SHA256=d66928d86a2d1b601bbaa4dc11db50214d17d5301bb8afd84721313b67ff0874
GYMNASIUM_WHEEL="gymnasium-${GYMNASIUM_VERSION}-py3-none-any.whl"
GYMNASIUM_SHA256=1cb947c59e7c72d8eabb2c2274c00cd20948e69f8452a9ef4092223be24fdf0e

QUIET=0
if [[ "${1:-}" == "--print-env" ]]; then QUIET=1; fi
log() { if [[ $QUIET -eq 0 ]]; then echo "setup-mujoco: $*" >&2; fi; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) echo "setup-mujoco: only Linux x86_64 is supported (got $(uname -s)-$(uname -m))" >&2; exit 1 ;;
esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${FIXPO_CACHE:-$REPO/.cache/mujoco}"
mkdir -p "$CACHE"
CACHE="$(cd "$CACHE" && pwd)"   # absolute: mujoco-rs requires an absolute link dir
WHEELS="$CACHE/wheels"
MJ_DIR="$CACHE/mujoco-$MUJOCO_VERSION"
LIB_DIR="$MJ_DIR/lib"
INC_DIR="$MJ_DIR/include"
MJCF_DIR="$CACHE/mjcf"
PY="${PYTHON:-python3}"

sha_ok() { # file expected_sha
  [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]
}

fetch_wheel() { # spec wheel_name sha
  local spec="$1" name="$2" sha="$3"
  if sha_ok "$WHEELS/$name" "$sha"; then
    log "have $name"
    return
  fi
  rm -f "$WHEELS/$name"
  log "downloading $spec"
  # Pin platform/interpreter so the result does not depend on the local python.
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform any \
    -d "$WHEELS" "$spec" >&2
  if ! sha_ok "$WHEELS/$name" "$sha"; then
    echo "setup-mujoco: $WHEELS/$name missing or sha256 mismatch (expected $sha)" >&2
    ls -l "$WHEELS" >&2 || true
    exit 1
  fi
}

mkdir -p "$WHEELS"
fetch_wheel "mujoco==$MUJOCO_VERSION" "$MUJOCO_WHEEL" "$MUJOCO_SHA256"
fetch_wheel "gymnasium==$GYMNASIUM_VERSION" "$GYMNASIUM_WHEEL" "$GYMNASIUM_SHA256"

# Extract with python's zipfile (no dependency on the `unzip` package).
# A stamp file records which wheel hash a directory was extracted from.
extract() { # wheel sha dest_dir member_prefix strip_prefix
  local wheel="$1" sha="$2" dest="$3" prefix="$4" strip="$5"
  local stamp="$dest/.extracted-from"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$sha" ]]; then
    log "have $dest"
    return
  fi
  log "extracting $prefix -> $dest"
  rm -rf "$dest"
  mkdir -p "$dest"
  "$PY" - "$wheel" "$dest" "$prefix" "$strip" <<'EOF'
import os, shutil, sys, zipfile
wheel, dest, prefix, strip = sys.argv[1:5]
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        name = info.filename
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        rel = name[len(strip):]
        if rel.startswith("/") or ".." in rel.split("/"):
            raise SystemExit(f"unsafe member {name}")
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        n += 1
if n == 0:
    raise SystemExit(f"no members under {prefix} in {wheel}")
EOF
  echo "$sha" > "$stamp"
}

extract "$WHEELS/$MUJOCO_WHEEL" "$MUJOCO_SHA256" "$LIB_DIR" \
  "mujoco/libmujoco.so.$MUJOCO_VERSION" "mujoco/"
# mujoco-rs' build script looks for exactly `libmujoco.so` in the link dir;
# the library's SONAME is libmujoco.so.3.17.0, which the loader resolves at run time.
ln -sfn "libmujoco.so.$MUJOCO_VERSION" "$LIB_DIR/libmujoco.so"
extract "$WHEELS/$MUJOCO_WHEEL" "$MUJOCO_SHA256" "$INC_DIR" "mujoco/include/" "mujoco/include/"
extract "$WHEELS/$GYMNASIUM_WHEEL" "$GYMNASIUM_SHA256" "$MJCF_DIR" \
  "gymnasium/envs/mujoco/assets/" "gymnasium/envs/mujoco/assets/"

for f in "$LIB_DIR/libmujoco.so.$MUJOCO_VERSION" "$INC_DIR/mujoco/mujoco.h" "$MJCF_DIR/hopper.xml"; do
  [[ -f "$f" ]] || { echo "setup-mujoco: missing $f after extraction" >&2; exit 1; }
done

ENV_SH="$CACHE/env.sh"
cat > "$ENV_SH" <<EOF
# generated by scripts/setup-mujoco.sh
export MUJOCO_DYNAMIC_LINK_DIR="$LIB_DIR"
export LD_LIBRARY_PATH="$LIB_DIR\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export FIXPO_MJCF_DIR="$MJCF_DIR"
EOF

if [[ $QUIET -eq 0 ]]; then
  log "done. Set these (or: source $ENV_SH):"
fi
cat <<EOF
export MUJOCO_DYNAMIC_LINK_DIR="$LIB_DIR"
export LD_LIBRARY_PATH="$LIB_DIR\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export FIXPO_MJCF_DIR="$MJCF_DIR"
EOF
