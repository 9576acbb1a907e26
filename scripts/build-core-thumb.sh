#!/usr/bin/env bash
# Builds fixpo-core for thumbv7em-none-eabihf (Cortex-M4F) with each feature
# set, no std and no alloc, fixpo-store and fixpo-proto with and without
# defmt, then a size probe (one Gaussian 3→32×32→1 policy plus its FixPO
# update in a staticlib) and prints its section sizes.
#
# Toolchain: the rustup target when installed; otherwise Debian's rustc-web
# with library sources (RUSTC_BOOTSTRAP=1, -Zbuild-std=core), which
# scripts/setup-firmware-toolchain.sh installs. FIXPO_THUMB_ROUTE=rustup|debian
# forces one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=thumbv7em-none-eabihf

# FIXPO_THUMB_ROUTE=rustup|debian forces a route (default: auto).
route=${FIXPO_THUMB_ROUTE:-auto}
if [ "$route" = auto ]; then
  if rustup target list --installed 2>/dev/null | grep -qx "$target"; then route=rustup; else route=debian; fi
fi
if [ "$route" = rustup ]; then
  cargo=(cargo)
  extra=()
  echo "== toolchain: rustup target $target"
else
  if [ ! -x /usr/bin/cargo ] || [ ! -x /usr/bin/rustc ]; then
    echo "error: no rustup $target target and no Debian rustc-web; run scripts/setup-firmware-toolchain.sh" >&2
    exit 2
  fi
  export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
  cargo=(/usr/bin/cargo)
  extra=(-Zbuild-std=core)
  echo "== toolchain: Debian $(/usr/bin/rustc --version) with -Zbuild-std=core"
fi
export CARGO_TARGET_DIR="$root/target/thumb-$route"

for features in "" "defmt" "serde" "defmt,serde"; do
  echo "== fixpo-core --no-default-features ${features:+--features $features}"
  (cd "$root/fixpo-core" && "${cargo[@]}" build --quiet --release --target "$target" "${extra[@]}" \
      --no-default-features ${features:+--features "$features"})
done

for crate in fixpo-store fixpo-proto; do
  for features in "" "defmt"; do
    echo "== $crate ${features:+--features $features}"
    (cd "$root/$crate" && "${cargo[@]}" build --quiet --release --target "$target" "${extra[@]}" \
        ${features:+--features "$features"})
  done
done

echo "== size probe: Gaussian 3→32×32→1 policy + FixPO update (opt-level s, LTO)"
(cd "$root/fixpo-core/size-probe" && "${cargo[@]}" build --quiet --release --target "$target" "${extra[@]}")
lib="$CARGO_TARGET_DIR/$target/release/libfixpo_size_probe.a"
size_tool=$(command -v llvm-size || command -v rust-size || true)
ar_tool=$(command -v llvm-ar || command -v ar || true)
if [ -z "$size_tool" ] || [ -z "$ar_tool" ]; then
  echo "error: llvm-size/llvm-ar not found (apt-get install llvm)" >&2
  exit 2
fi
# The archive also carries all of compiler_builtins; measure the probe's own
# (LTO-merged) object, which holds fixpo-core's code and statics.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && "$ar_tool" x "$lib")
obj=$(ls "$tmp"/fixpo_size_probe*.o | head -n 1)
"$size_tool" -A "$obj" | awk '
  $1 ~ /^\.(text|rodata|data|bss)/ { split($1, p, "."); tot[p[2]] += $2 }
  END { printf ".text   %7d bytes (code)\n.rodata %7d bytes\n.data   %7d bytes\n.bss    %7d bytes (trainer + 256-transition batch)\n", tot["text"], tot["rodata"], tot["data"], tot["bss"] }'
