//! Build script of the firmware library: copies the policy file named by
//! `FIXPO_POLICY` into `OUT_DIR` so `src/policy.rs` can `include_bytes!` it
//! into the `.policy` region (each board's memory.x places that section).
//! Unset or empty `FIXPO_POLICY` gives an empty region ("no policy").

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// Size of the smallest board's POLICY region (every board's memory.x
/// reserves at least this much); keep the two in step.
const POLICY_REGION_BYTES: usize = 64 * 1024;
/// Bytes of the region header (magic + length) in front of the file.
const POLICY_HEADER_BYTES: usize = 8;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));

    // The policy file.
    println!("cargo:rerun-if-env-changed=FIXPO_POLICY");
    let bytes = match env::var_os("FIXPO_POLICY").filter(|p| !p.is_empty()) {
        None => Vec::new(),
        Some(p) => {
            let path = Path::new(&p);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                manifest_dir.join(path)
            };
            println!("cargo:rerun-if-changed={}", path.display());
            let bytes = fs::read(&path)
                .unwrap_or_else(|e| panic!("FIXPO_POLICY={}: cannot read: {e}", path.display()));
            let cap = POLICY_REGION_BYTES - POLICY_HEADER_BYTES;
            if bytes.len() > cap {
                panic!(
                    "FIXPO_POLICY={}: {} bytes do not fit the {cap}-byte policy region \
                     (grow POLICY in the boards' memory.x and POLICY_REGION_BYTES in build.rs)",
                    path.display(),
                    bytes.len()
                );
            }
            bytes
        }
    };
    // An empty build places nothing in the region (no ELF segment there), so
    // it reads as erased and a loader can write the region without overlap.
    println!("cargo::rustc-check-cfg=cfg(fixpo_policy_built)");
    if !bytes.is_empty() {
        println!("cargo:rustc-cfg=fixpo_policy_built");
    }
    write_if_changed(&out.join("policy.bin"), &bytes);
    write_if_changed(
        &out.join("policy_len.rs"),
        format!(
            "/// Length of the policy file built into the image (0 = none).\n\
             pub const POLICY_LEN: usize = {};\n",
            bytes.len()
        )
        .as_bytes(),
    );
}

/// Avoids touching outputs (and so rebuilding) when nothing changed.
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if fs::read(path).ok().as_deref() != Some(bytes) {
        fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}
