//! With the `mujoco` feature, bake the MuJoCo library directory into the
//! binaries' run path, so `fixpo` runs without `LD_LIBRARY_PATH`, and
//! remember the MJCF directory of the build's environment as the default
//! for `$FIXPO_MJCF_DIR`.

fn main() {
    println!("cargo:rerun-if-env-changed=MUJOCO_DYNAMIC_LINK_DIR");
    println!("cargo:rerun-if-env-changed=FIXPO_MJCF_DIR");
    if std::env::var_os("CARGO_FEATURE_MUJOCO").is_none() {
        return;
    }
    if let Some(dir) = std::env::var_os("MUJOCO_DYNAMIC_LINK_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.to_string_lossy());
    }
    if let Some(dir) = std::env::var_os("FIXPO_MJCF_DIR") {
        println!(
            "cargo:rustc-env=FIXPO_BUILD_MJCF_DIR={}",
            dir.to_string_lossy()
        );
    }
}
