#!/usr/bin/env bash
# Install what scripts/firmware.sh needs to cross-build the firmware for
# thumbv7em-none-eabihf, run it under QEMU (mps2-an386) and decode its defmt
# output. Idempotent: installs only what is missing. Run as root on Debian.
#
#   scripts/setup-firmware-toolchain.sh
#
# What it provides:
#   - a way to build for thumbv7em-none-eabihf: either an installed rustup
#     target, or Debian's rustc-web/cargo-web 1.96 + rust-web-src (library
#     sources for -Zbuild-std=core),
#   - ld.lld (Debian `lld`) as linker for the Debian route,
#   - qemu-system-arm (mps2-an386 machine),
#   - llvm-size (Debian `llvm`) for flash/RAM figures,
#   - defmt-print (cargo install --locked) to decode defmt frames.
set -euo pipefail

log() { printf 'setup-firmware-toolchain: %s\n' "$*" >&2; }

need_apt=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# Rust for the target: a rustup target makes the Debian toolchain unnecessary.
if command -v rustup >/dev/null 2>&1 \
    && rustup target list --installed 2>/dev/null | grep -qx thumbv7em-none-eabihf; then
    log "rustup target thumbv7em-none-eabihf installed; Debian rustc not needed"
else
    # Try the rustup target first; where rustup cannot download, it fails
    # quickly (or times out) and the Debian route is installed instead.
    if command -v rustup >/dev/null 2>&1 \
        && timeout 60 rustup target add thumbv7em-none-eabihf >/dev/null 2>&1; then
        log "added rustup target thumbv7em-none-eabihf"
    else
        for p in rustc-web cargo-web rust-web-src lld; do
            have_pkg "$p" || need_apt+=("$p")
        done
    fi
fi
# The rp2350 board's target (Cortex-M33F). Without rustup, the Debian route
# builds it from rust-web-src like thumbv7em.
if command -v rustup >/dev/null 2>&1 \
    && ! rustup target list --installed 2>/dev/null | grep -qx thumbv8m.main-none-eabihf; then
    if timeout 120 rustup target add thumbv8m.main-none-eabihf >/dev/null 2>&1; then
        log "added rustup target thumbv8m.main-none-eabihf"
    else
        log "cannot add thumbv8m.main-none-eabihf with rustup (the Debian route builds it)"
    fi
fi
for p in qemu-system-arm llvm; do
    have_pkg "$p" || need_apt+=("$p")
done

if ((${#need_apt[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        log "missing Debian packages: ${need_apt[*]} (re-run as root)"
        exit 1
    fi
    log "installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
else
    log "Debian packages present"
fi

# defmt-print decodes the frames QEMU writes to stdout.
if command -v defmt-print >/dev/null 2>&1 || [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/defmt-print" ]]; then
    log "defmt-print present"
else
    log "installing defmt-print (cargo install --locked)"
    if command -v cargo >/dev/null 2>&1; then
        cargo install defmt-print --locked
    else
        # Debian route without rustup: Debian's cargo and rustc.
        RUSTC=/usr/bin/rustc /usr/bin/cargo install defmt-print --locked
    fi
fi

log "done"
