#!/usr/bin/env bash
# Boot the stm32f4 board's `qemu` build on QEMU's netduinoplus2 (STM32F405)
# and decode the defmt frames it writes to USART1. Used by
# scripts/firmware.sh (run --board stm32f4 --features qemu) and the tests.
#
#   qemu-run.sh ELF
#
# Exit status: the firmware's (0 = success, 1 = failure/panic, through a
# semihosting exit), 124 on timeout, other = QEMU or decoder error.
#
# Environment:
#   FIXPO_QEMU_TIMEOUT  seconds before QEMU is killed (default 60)
#   FIXPO_QEMU_EXTRA    extra QEMU options (word-split)
#   FIXPO_RAW_OUT       if set, also keep the raw USART1 bytes in this file
#   DEFMT_PRINT         decoder command (default: defmt-print on PATH or
#                       in ~/.cargo/bin)
set -uo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 ELF" >&2
    exit 2
fi
elf=$1

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

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
uart=${FIXPO_RAW_OUT:-$tmp/usart1.bin}
# shellcheck disable=SC2206 # word splitting of extra options is intended
extra=(${FIXPO_QEMU_EXTRA:-})
timeout "${FIXPO_QEMU_TIMEOUT:-60}" qemu-system-arm -machine netduinoplus2 \
    -nographic -monitor none \
    -chardev "file,id=usart1,path=$uart" -serial chardev:usart1 \
    -semihosting-config enable=on,target=native \
    -kernel "$elf" "${extra[@]}"
qemu_status=$?
if [[ $qemu_status -eq 124 ]]; then
    echo "qemu-run.sh: QEMU timed out after ${FIXPO_QEMU_TIMEOUT:-60}s" >&2
fi
"$decoder" -e "$elf" --show-skipped-frames <"$uart"
decoder_status=$?
if [[ $decoder_status -ne 0 && $qemu_status -eq 0 ]]; then
    echo "qemu-run.sh: defmt decoder failed ($decoder_status)" >&2
    exit "$decoder_status"
fi
exit "$qemu_status"
