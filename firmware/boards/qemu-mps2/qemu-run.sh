#!/usr/bin/env bash
# Boot a firmware ELF on QEMU's mps2-an386 (Cortex-M4F) and decode its defmt
# output. Used as the cargo runner (.cargo/config.toml) and by
# scripts/firmware.sh.
#
#   qemu-run.sh ELF [ARG...]
#
# ARGs reach the firmware as its semihosting command line (after "fixpo"),
# e.g. `policy=/abs/path.fxp` (load a policy from the host instead of the
# flashed one) or `bench=1000`. Exit status: the firmware's (0 = success,
# 1 = failure/panic via semihosting), 124 on timeout, other = QEMU error.
#
# Environment:
#   FIXPO_QEMU_TIMEOUT  seconds before QEMU is killed (default 60)
#   FIXPO_QEMU_EXTRA    extra QEMU options (word-split), e.g. tracing flags
#   FIXPO_QEMU_SERIAL   the -serial backend of UART0, the host link
#                       (default none), e.g. unix:/tmp/link,server=on,wait=off
#   FIXPO_RAW_OUT       if set, also save the raw defmt stream to this file
#   DEFMT_PRINT         decoder command (default: defmt-print on PATH or
#                       in ~/.cargo/bin)
set -uo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 ELF [ARG...]" >&2
    exit 2
fi
elf=$1
shift

qemu_args=(-machine mps2-an386 -cpu cortex-m4 -nographic -monitor none -serial "${FIXPO_QEMU_SERIAL:-none}")
sh_cfg="enable=on,target=native,arg=fixpo"
for a in "$@"; do
    # QEMU option values escape commas by doubling them.
    sh_cfg+=",arg=${a//,/,,}"
done
qemu_args+=(-semihosting-config "$sh_cfg" -kernel "$elf")
# shellcheck disable=SC2206 # word splitting of extra options is intended
extra=(${FIXPO_QEMU_EXTRA:-})

decoder=${DEFMT_PRINT:-}
if [[ -z $decoder ]]; then
    if command -v defmt-print >/dev/null 2>&1; then
        decoder=defmt-print
    elif [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/defmt-print ]]; then
        decoder=${CARGO_HOME:-$HOME/.cargo}/bin/defmt-print
    else
        echo "qemu-run.sh: defmt-print not found; run scripts/setup-firmware-toolchain.sh" >&2
        exit 127
    fi
fi

if [[ -n ${FIXPO_RAW_OUT:-} ]]; then
    timeout "${FIXPO_QEMU_TIMEOUT:-60}" qemu-system-arm "${qemu_args[@]}" "${extra[@]}" \
        | tee "$FIXPO_RAW_OUT" | "$decoder" -e "$elf" --show-skipped-frames
else
    timeout "${FIXPO_QEMU_TIMEOUT:-60}" qemu-system-arm "${qemu_args[@]}" "${extra[@]}" \
        | "$decoder" -e "$elf" --show-skipped-frames
fi
status=("${PIPESTATUS[@]}")
qemu_status=${status[0]}
if [[ $qemu_status -eq 124 ]]; then
    echo "qemu-run.sh: QEMU timed out after ${FIXPO_QEMU_TIMEOUT:-60}s" >&2
fi
decoder_status=${status[-1]}
if [[ $decoder_status -ne 0 && $qemu_status -eq 0 ]]; then
    echo "qemu-run.sh: defmt decoder failed ($decoder_status)" >&2
    exit "$decoder_status"
fi
exit "$qemu_status"
