#!/usr/bin/env bash
# Build a fixpo firmware board (firmware/boards/BOARD), report its flash/RAM
# use, run it under QEMU (qemu-mps2 on mps2-an386, stm32f4 with its `qemu`
# feature on netduinoplus2) and decode its defmt output.
#
#   scripts/firmware.sh [run|build|size|count|profile|kernels|test|clippy|footprint] [OPTIONS] [-- FIRMWARE_ARG...]
#
# Commands:
#   run      (default) build, print sizes, boot in QEMU, decode defmt; exits
#            with the firmware's status (0 ok, 1 failure/panic, 124 timeout)
#   build    build and print sizes (and the ELF's path: `elf: PATH`)
#   size     print sizes of the last build
#   test     host checks of the firmware library workspace: cargo test,
#            clippy, fmt
#   clippy   clippy -D warnings and fmt --check of every board (each on its
#            target, each feature set CI builds)
#   footprint  build every board (release) and print its flash, static RAM
#            and, with --policy, the stack high-water mark measured under
#            QEMU (qemu-mps2: `infer adapt=2`; stm32f4: its `qemu` build)
#   count    instructions executed: runs `bench=0` and `bench=N` under QEMU's
#            one-instruction-per-TB exec trace; prints totals and
#            (total_N - total_0) / N per control step
#   profile  like count for one run, plus executed instructions per function
#            (exclusive of callees, after inlining)
#   kernels  qemu-mps2: instructions per inference, per update, per primary
#            step, per primary-step sample and per fixup-check state (runs
#            `bench=0/N`, `upd=0` and `upd=1` with the bench configs e1, e2,
#            e2x, nofix and e2nofix, each a whole deterministic update;
#            firmware/README.md, "Counting instructions"); with --policy
#
# Options:
#   --board B           qemu-mps2 (default) | stm32f4 | rp2350
#   --policy FILE       build FILE into the .policy flash region (FIXPO_POLICY)
#   --host-policy FILE  let the firmware read FILE from the host at run time
#                       (semihosting; no rebuild)
#   --flash-policy FILE write FILE into the policy region at boot, as a
#                       flasher would (QEMU loader device; no rebuild; not
#                       with --policy, whose bytes occupy the region)
#   --psram FILE        qemu-mps2: back the board's PSRAM (the policy store's
#                       flash with the firmware word `store`) with FILE, so
#                       what the device learns survives the run
#   --link SOCKET       qemu-mps2: connect UART0, the host link, to a unix
#                       socket (QEMU listens): with the firmware word
#                       `serve`, `fixpo device --port SOCKET ...` talks to
#                       it (docs/device.md); the QEMU timeout is then off
#                       unless --timeout is given
#   --debug             dev profile (default: release)
#   --route R           toolchain: auto (default) | rustup | debian
#   --timeout S         QEMU timeout in seconds (default 60)
#   --bench N           steps for `count`/`profile` (default 1000)
#   --bench-arg NAME    firmware word `count` varies (default bench, i.e.
#                       control steps; `upd` = whole updates, see README)
#   --features F        cargo features; --no-default-features likewise
#   --env KEY=VALUE     extra environment for build and run (repeatable),
#                       e.g. --env DEFMT_LOG=debug
#   -- ARG...           words for the firmware's semihosting command line
#
# Build outputs go to $FIXPO_FW_TARGET_DIR (default firmware/target), shared
# by all boards so boards on one target reuse fixpo-core's build.
#
# Toolchain routes: `rustup` when `rustup target list --installed` has the
# board's target (plain cargo, rust-lld). Otherwise `debian`: Debian's
# /usr/bin/cargo + /usr/bin/rustc 1.96 with RUSTC_BOOTSTRAP=1 and
# -Zbuild-std=core (library sources from rust-web-src), linked by ld.lld.
# scripts/setup-firmware-toolchain.sh installs either.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fw=$here/firmware

die() { printf 'firmware.sh: %s\n' "$*" >&2; exit 2; }
note() { printf 'firmware.sh: %s\n' "$*" >&2; }

cmd=run
case ${1:-} in
    run | build | size | count | profile | kernels | test | clippy | footprint) cmd=$1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
esac

board=qemu-mps2
policy=""
host_policy=""
flash_policy=""
profile=release
route=${FIXPO_FW_ROUTE:-auto}
timeout_s=60
bench=1000
bench_arg=bench
cargo_flags=()
fw_args=()
psram=""
link=""
timeout_set=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --board) board=${2:?}; shift 2 ;;
        --policy)
            [[ -f ${2:-} ]] || die "--policy: no such file '${2:-}'"
            policy=$(realpath "$2"); shift 2 ;;
        --host-policy)
            [[ -f ${2:-} ]] || die "--host-policy: no such file '${2:-}'"
            host_policy=$(realpath "$2"); shift 2 ;;
        --flash-policy)
            [[ -f ${2:-} ]] || die "--flash-policy: no such file '${2:-}'"
            flash_policy=$(realpath "$2"); shift 2 ;;
        --psram)
            [[ -n ${2:-} ]] || die "--psram needs a file"
            psram=$(realpath -m "$2"); shift 2 ;;
        --link)
            [[ -n ${2:-} ]] || die "--link needs a socket path"
            link=$(realpath -m "$2"); shift 2 ;;
        --debug) profile=dev; shift ;;
        --release) profile=release; shift ;;
        --route) route=${2:?}; shift 2 ;;
        --timeout) timeout_s=${2:?}; timeout_set=1; shift 2 ;;
        --bench) bench=${2:?}; shift 2 ;;
        --bench-arg) bench_arg=${2:?}; shift 2 ;;
        --features) cargo_flags+=(--features "${2:?}"); shift 2 ;;
        --no-default-features) cargo_flags+=(--no-default-features); shift ;;
        --env) [[ ${2:-} == *=* ]] || die "--env needs KEY=VALUE"; export "${2?}"; shift 2 ;;
        --) shift; fw_args+=("$@"); break ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ -n $host_policy ]] && fw_args+=("policy=$host_policy")
[[ -n $policy && -n $flash_policy ]] && die "--policy and --flash-policy both fill the region: pick one"

tdir=${FIXPO_FW_TARGET_DIR:-$fw/target}
export CARGO_TARGET_DIR=$tdir
profile_dir=$([[ $profile == dev ]] && echo debug || echo release)

# Per board: target, QEMU runner and policy region (keep in step with the
# board's memory.x).
set_board() {
    board=$1
    bdir=$fw/boards/$board
    [[ -d $bdir ]] || die "no board '$board' (firmware/boards/: $(ls "$fw/boards" | tr '\n' ' '))"
    runner=""
    case $board in
        qemu-mps2)
            target=thumbv7em-none-eabihf
            runner=$bdir/qemu-run.sh
            policy_region_addr=0x003F0000 policy_region_bytes=65536 ;;
        stm32f4)
            target=thumbv7em-none-eabihf
            # Another chip than the default, or the qemu build: no defaults.
            if [[ " ${cargo_flags[*]} " == *stm32f405* || " ${cargo_flags[*]} " == *qemu* ]] \
                && [[ " ${cargo_flags[*]} " != *--no-default-features* ]]; then
                cargo_flags+=(--no-default-features)
            fi
            # Only the `qemu` build (STM32F405 map) boots under QEMU.
            [[ " ${cargo_flags[*]} " == *qemu* ]] && runner=$bdir/qemu-run.sh
            if [[ " ${cargo_flags[*]} " == *stm32f405* || " ${cargo_flags[*]} " == *qemu* ]]; then
                policy_region_addr=0x080E0000
            else
                policy_region_addr=0x08060000
            fi
            policy_region_bytes=131072 ;;
        rp2350)
            target=thumbv8m.main-none-eabihf
            policy_region_addr=0x103F0000 policy_region_bytes=65536 ;;
        *) die "board '$board' has no entry in scripts/firmware.sh (set_board)" ;;
    esac
    elf=$tdir/$target/$profile_dir/fixpo-$board
}

pick_route() {
    if [[ $route == auto ]]; then
        if command -v rustup >/dev/null 2>&1 \
            && rustup target list --installed 2>/dev/null | grep -qx "$target"; then
            route=rustup
        elif [[ -x /usr/bin/cargo && -x /usr/bin/rustc && -d /usr/lib/rustlib/src/rust/library ]]; then
            route=debian
        else
            die "no toolchain for $target: run scripts/setup-firmware-toolchain.sh"
        fi
    fi
}

build() {
    pick_route
    export FIXPO_POLICY=$policy
    export DEFMT_LOG=${DEFMT_LOG:-info}
    local flags=(--target "$target" --profile "$profile" "${cargo_flags[@]}")
    note "building $board ($route route, $profile, ${cargo_flags[*]:-default features}, DEFMT_LOG=$DEFMT_LOG, policy: ${policy:-none})"
    case $route in
        rustup)
            (cd "$bdir" && cargo build -j"${FIXPO_JOBS:-2}" "${flags[@]}") ;;
        debian)
            command -v ld.lld >/dev/null 2>&1 || die "ld.lld missing: run scripts/setup-firmware-toolchain.sh"
            # RUSTC/RUSTDOC: a rustup shim earlier on PATH must not be used.
            (cd "$bdir" && RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
                CARGO_TARGET_THUMBV7EM_NONE_EABIHF_LINKER=ld.lld \
                CARGO_TARGET_THUMBV8M_MAIN_NONE_EABIHF_LINKER=ld.lld \
                /usr/bin/cargo build -j"${FIXPO_JOBS:-2}" -Zbuild-std=core "${flags[@]}") ;;
        *) die "unknown route '$route' (auto, rustup, debian)" ;;
    esac
    echo "elf: $elf"
}

size_tool() {
    local t
    for t in llvm-size rust-size arm-none-eabi-size; do
        command -v "$t" >/dev/null 2>&1 && { echo "$t"; return; }
    done
    ls /usr/bin/llvm-size-* 2>/dev/null | head -n1
}

sizes() {
    [[ -f $elf ]] || die "no ELF at $elf: build first"
    local tool
    tool=$(size_tool)
    [[ -n $tool ]] || die "no size tool: run scripts/setup-firmware-toolchain.sh"
    echo "== size ($tool -A $elf)"
    # Sections that occupy memory (address != 0, or the vector table).
    "$tool" -A "$elf" | awk '
        NR <= 2 { print; next }
        $1 == "Total" { next }
        ($3 != 0 || $1 == ".vector_table") && $2 > 0 { print }
        $1 ~ /^\.(vector_table|text|rodata|data|gnu\.sgstubs)$/ { code += $2 }
        $1 == ".data" { data = $2 }
        $1 == ".policy" { pol = $2 }
        $1 ~ /^\.(bss|uninit)$/ { bss += $2 }
        END {
            printf "flash: %d B (vectors+code+rodata %d, .data init %d) + policy region %d B used\n", code, code - data, data, pol
            printf "RAM:   %d B static (.data %d + .bss/.uninit %d), stack not included\n", data + bss, data, bss
        }'
}

run_qemu() {
    local extra=${FIXPO_QEMU_EXTRA:-} tmp=""
    if [[ -n $flash_policy ]]; then
        # Emulate a flasher: region = "FXPR", u32 LE length, file bytes.
        local len
        len=$(stat -c %s "$flash_policy")
        ((len <= policy_region_bytes - 8)) || die "--flash-policy: $len bytes exceed the region"
        tmp=$(mktemp -d)
        {
            printf 'FXPR'
            printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' \
                $((len & 255)) $((len >> 8 & 255)) $((len >> 16 & 255)) $((len >> 24 & 255)))"
            cat "$flash_policy"
        } >"$tmp/region.bin"
        # The ELF (built without --policy) has nothing in the region.
        extra+=" -device loader,file=$tmp/region.bin,addr=$policy_region_addr,force-raw=on"
    fi
    if [[ -n $psram ]]; then
        [[ $board == qemu-mps2 ]] || die "--psram: only qemu-mps2 has a PSRAM store"
        extra+=" -machine memory-backend=psram -object memory-backend-file,id=psram,size=16M,mem-path=$psram,share=on"
    fi
    local serial=${FIXPO_QEMU_SERIAL:-}
    if [[ -n $link ]]; then
        [[ $board == qemu-mps2 ]] || die "--link: only qemu-mps2 has the link on a QEMU serial port"
        rm -f "$link"
        serial="unix:$link,server=on,wait=off"
        # A device serves until it is stopped.
        [[ -n $timeout_set ]] || timeout_s=0
    fi
    local status=0
    [[ -n $runner ]] || die "board $board ${cargo_flags[*]} has no QEMU machine: flash it with probe-rs (firmware/README.md)"
    FIXPO_QEMU_SERIAL=$serial FIXPO_QEMU_EXTRA=$extra FIXPO_QEMU_TIMEOUT=$timeout_s "$runner" "$elf" "$@" || status=$?
    [[ -z $tmp ]] || rm -rf "$tmp"
    return "$status"
}

# Runs the firmware with an exec trace of one instruction per TB and prints
# the number of executed instructions (stdout). With $1 = per-function, also
# writes "count symbol" lines to $2.
count_run() {
    local mode=$1 out=$2
    shift 2
    local dir fifo accel qv
    dir=$(mktemp -d)
    fifo=$dir/exec.fifo
    mkfifo "$fifo"
    qv=$(qemu-system-arm --version | sed -n 's/.*version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
    # QEMU >= 8.1 spells -singlestep as -accel tcg,one-insn-per-tb=on.
    if read -r maj min <<<"$qv" && ((maj > 8 || (maj == 8 && min >= 1))); then
        accel="-accel tcg,one-insn-per-tb=on"
    else
        accel="-singlestep"
    fi
    # Stream the trace through awk instead of a multi-GB log file. Each line
    # is one executed instruction: "Trace N: HOSTPTR [flags/PC/...] SYMBOL".
    awk -v mode="$mode" -v out="$out" '
        /^Trace/ { n++; if (mode == "per-function") f[$NF]++ }
        END {
            print n + 0 > (out "/total")
            if (mode == "per-function") for (s in f) print f[s], s > (out "/functions")
        }' <"$fifo" &
    local awk_pid=$!
    local status=0
    FIXPO_QEMU_EXTRA="$accel -d exec,nochain -D $fifo" run_qemu "$@" >"$out/log" 2>&1 || status=$?
    # If QEMU died before opening the trace, awk still waits on the fifo.
    if kill -0 "$awk_pid" 2>/dev/null; then
        timeout 5 sh -c ': >"$1"' sh "$fifo" || true
    fi
    wait "$awk_pid" || true
    rm -rf "$dir"
    return "$status"
}

cmd_count() {
    local work0 workn
    work0=$(mktemp -d)
    workn=$(mktemp -d)
    count_run total "$work0" "${fw_args[@]}" "$bench_arg=0" || { cat "$work0/log"; die "$bench_arg=0 run failed"; }
    count_run total "$workn" "${fw_args[@]}" "$bench_arg=$bench" || { cat "$workn/log"; die "$bench_arg=$bench run failed"; }
    cat "$workn/log"
    local t0 tn
    t0=$(<"$work0/total")
    tn=$(<"$workn/total")
    echo "== executed instructions (QEMU exec trace, one instruction per TB)"
    echo "$bench_arg=0:      $t0"
    echo "$bench_arg=$bench: $tn"
    awk -v a="$t0" -v b="$tn" -v n="$bench" -v w="$bench_arg" 'BEGIN { if (n > 0) printf "per %s unit: %.1f\n", w, (b - a) / n }'
    rm -rf "$work0" "$workn"
}

# Total instructions of one counted run with the firmware words "$@".
count_total() {
    local work status=0
    work=$(mktemp -d)
    count_run total "$work" "${fw_args[@]}" "$@" || status=$?
    if ((status != 0)); then
        cat "$work/log" >&2
        rm -rf "$work"
        die "run with $* failed"
    fi
    grep -o 'batch [0-9]*, minibatch [0-9]*' "$work/log" >"$work/sizes" || true
    [[ ! -s $work/sizes ]] || cp "$work/sizes" "$kernels_sizes"
    cat "$work/total"
    rm -rf "$work"
}

# The kernel figures of issue 15: each quantity as a difference of two
# runs that differ in that work only, so boot, logging and collection
# cancel.
cmd_kernels() {
    [[ $board == qemu-mps2 ]] || die "kernels: qemu-mps2 only"
    local n=$bench
    ((n > 0)) || n=200
    kernels_sizes=$(mktemp)
    local i0 in u0 e1 e2 e2x
    i0=$(count_total bench=0)
    in=$(count_total "bench=$n")
    u0=$(count_total upd=0)
    e1=$(count_total upd=1 updcfg=e1)
    e2=$(count_total upd=1 updcfg=e2)
    e2x=$(count_total upd=1 updcfg=e2x)
    local n1 n2
    n1=$(count_total upd=1 updcfg=nofix)
    n2=$(count_total upd=1 updcfg=e2nofix)
    local batch mb
    read -r _ batch _ mb <"$kernels_sizes" || die "kernels: no batch size in the firmware log"
    batch=${batch%,}
    rm -f "$kernels_sizes"
    echo "== executed instructions (QEMU exec trace; batch $batch, minibatch $mb)"
    awk -v i0="$i0" -v in_="$in" -v n="$n" -v u0="$u0" -v e1="$e1" -v e2="$e2" -v e2x="$e2x" \
        -v n1="$n1" -v n2="$n2" \
        -v batch="$batch" -v mb="$mb" 'BEGIN {
        steps = batch / mb
        printf "per inference:               %12.0f\n", (in_ - i0) / n
        printf "per update (e1: collect, %d primary steps, fixup check): %.0f\n", steps, e1 - u0
        printf "per primary step (%d samples): %12.0f\n", mb, (n2 - n1) / steps
        printf "per primary-step sample:     %12.0f\n", (n2 - n1) / steps / mb
        printf "per fixup-check state:       %12.0f\n", (e2x - e2) / batch
    }'
}

cmd_profile() {
    local work
    work=$(mktemp -d)
    count_run per-function "$work" "${fw_args[@]}" "bench=$bench" || { cat "$work/log"; die "run failed"; }
    cat "$work/log"
    echo "== executed instructions: $(<"$work/total") total; top functions (exclusive):"
    local demangle=cat
    command -v llvm-cxxfilt >/dev/null 2>&1 && demangle=llvm-cxxfilt
    sort -rn "$work/functions" | head -n 25 | "$demangle"
    rm -rf "$work"
}

cmd_test() {
    (cd "$fw" && cargo fmt --all -- --check && cargo test -j"${FIXPO_JOBS:-2}" \
        && cargo clippy -j"${FIXPO_JOBS:-2}" --all-targets -- -D warnings)
}

# Every board with every feature set CI checks: "BOARD[:FEATURES]" (a
# 64×64 build checks the `Lean` trainer layout; a
# stm32f4 chip other than the default, or its qemu build, turns default
# features off). The footprint table uses the `adapt` builds (full
# on-device fine-tuning linked in) and the `link` builds (the host link
# served while controlling, fine-tuning on request; not with `adapt`).
all_builds=(qemu-mps2 qemu-mps2:hid64 stm32f4 stm32f4:adapt stm32f4:stm32f405,probe,adapt stm32f4:link
    stm32f4:stm32f405,probe,link stm32f4:qemu rp2350 rp2350:adapt rp2350:link)
footprint_builds=(qemu-mps2 stm32f4:adapt stm32f4:stm32f405,probe,adapt stm32f4:link
    stm32f4:stm32f405,probe,link stm32f4:qemu rp2350:adapt rp2350:link)

# Selects a build from "BOARD[:FEATURES]".
select_build() {
    local b=${1%%:*} f=""
    [[ $1 == *:* ]] && f=${1#*:}
    cargo_flags=()
    [[ $f == *stm32f405* || $f == *qemu* ]] && cargo_flags+=(--no-default-features)
    [[ -n $f ]] && cargo_flags+=(--features "$f")
    set_board "$b"
}

cmd_clippy() {
    local spec
    for spec in "${all_builds[@]}"; do
        select_build "$spec"
        pick_route
        note "clippy $spec ($target)"
        (cd "$bdir" && cargo fmt -- --check \
            && cargo clippy -j"${FIXPO_JOBS:-2}" --release "${cargo_flags[@]}" -- -D warnings)
    done
}

# RAM of the chip each build targets (bytes), for the margin column.
chip_ram() {
    case $1 in
        qemu-mps2) echo 65536 ;;        # the budget the tests hold it to
        stm32f4*) echo 131072 ;;  # SRAM1+2 (the F405's 64 KiB CCM unused)
        rp2350*) echo 532480 ;;
    esac
}

cmd_footprint() {
    local spec rows=() log hwm
    local keep_flash=$flash_policy
    flash_policy=""
    for spec in "${footprint_builds[@]}"; do
        select_build "$spec"
        build >/dev/null
        local out flash static
        out=$(sizes)
        flash=$(awk '/^flash:/ { print $2 }' <<<"$out")
        static=$(awk '/^RAM:/ { print $2 }' <<<"$out")
        hwm="-"
        if [[ -n $policy && -n $runner ]]; then
            log=$(mktemp)
            local words=()
            [[ $board == qemu-mps2 ]] && words=(infer adapt=2)
            if run_qemu "${words[@]}" >"$log" 2>&1; then
                hwm=$(sed -n 's/.*stack high-water mark \([0-9]*\) bytes.*/\1/p' "$log" | tail -n1)
            else
                note "$spec: QEMU run failed; log in $log"
            fi
        fi
        rows+=("$spec $flash $static ${hwm:--} $(chip_ram "$spec")")
    done
    flash_policy=$keep_flash
    echo "== footprint (release, 3->32x32->1, full on-device fine-tuning linked in)"
    printf '%-18s %9s %11s %10s %10s %9s %9s\n' build flash static_RAM stack_HWM total_RAM chip_RAM margin
    local r
    for r in "${rows[@]}"; do
        # shellcheck disable=SC2086 # fields are single words
        set -- $r
        if [[ $4 == - ]]; then
            printf '%-18s %9s %11s %10s %10s %9s %9s\n' "$1" "$2" "$3" "-" "-" "$5" "$(($5 - $3))+"
        else
            printf '%-18s %9s %11s %10s %10s %9s %9s\n' "$1" "$2" "$3" "$4" "$(($3 + $4))" "$5" "$(($5 - $3 - $4))"
        fi
    done
    echo "(bytes; flash = vectors+code+rodata+.data init, policy region not included; stack_HWM"
    echo " measured under QEMU with --policy; '-' = no QEMU machine for that build (the stm32f4"
    echo " real-chip builds run the same library code paths as stm32f4:qemu); margin = chip_RAM"
    echo " - total, or - static when the stack is not measured)"
}

set_board "$board"

case $cmd in
    build) build; sizes ;;
    size) sizes ;;
    run) build; sizes; echo "== QEMU ($board)"; run_qemu "${fw_args[@]}" ;;
    count) build; sizes; cmd_count ;;
    profile) build; sizes; cmd_profile ;;
    kernels) build; sizes; cmd_kernels ;;
    test) cmd_test ;;
    clippy) cmd_clippy ;;
    footprint) cmd_footprint ;;
esac
