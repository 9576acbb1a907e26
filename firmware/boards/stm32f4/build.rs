//! Puts the chip's memory map on the linker search path as `memory.x`
//! (cortex-m-rt's `link.x` includes it): memory-f446.x by default,
//! memory-f405.x with the `stm32f405` feature (also under `qemu`).

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let map = if std::env::var_os("CARGO_FEATURE_STM32F405").is_some() {
        "memory-f405.x"
    } else {
        "memory-f446.x"
    };
    std::fs::copy(map, out.join("memory.x")).expect("copy the memory map");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory-f405.x");
    println!("cargo:rerun-if-changed=memory-f446.x");
}
