//! File helpers: atomic writes and the run directory's layout.

use crate::error::{HostError, Result};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The resolved configuration of a run.
pub const CONFIG_FILE: &str = "config.toml";
/// One JSON object per iteration.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The trained policy.
pub const POLICY_FILE: &str = "policy.fxp";
/// Everything needed to continue the run exactly.
pub const CHECKPOINT_FILE: &str = "checkpoint.bin";
/// Learning curve and KL plot.
pub const CURVE_FILE: &str = "curve.png";

/// Writes `bytes` to `path` so that a reader sees either the old file or
/// the whole new one, never a part: the bytes go to `path.tmp`, are flushed
/// to disk, and the temporary file is renamed over `path`.
///
/// # Errors
/// [`HostError::Io`] naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename itself durable where the platform allows it.
        if let Some(dir) = path.parent()
            && let Ok(d) = fs::File::open(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            })
        {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        HostError::io("cannot write", path, e)
    })
}

/// `path` with `.tmp` appended to its file name.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Creates the output directory (and parents) and checks that a file can
/// be written in it.
///
/// # Errors
/// [`HostError::NotWritable`].
pub fn prepare_dir(dir: &Path) -> Result<()> {
    let not_writable = |e| HostError::NotWritable {
        path: dir.to_owned(),
        source: e,
    };
    fs::create_dir_all(dir).map_err(not_writable)?;
    let probe = dir.join(".fixpo-write-test");
    fs::write(&probe, b"").map_err(not_writable)?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Reads a whole file.
///
/// # Errors
/// [`HostError::Io`] naming the path.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| HostError::io("cannot read", path, e))
}

/// Reads a whole UTF-8 file.
///
/// # Errors
/// [`HostError::Io`] naming the path.
pub fn read_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| HostError::io("cannot read", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        assert!(!tmp_path(&p).exists());
        let bad = dir.path().join("missing").join("a.bin");
        let e = write_atomic(&bad, b"x").unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
    }

    #[test]
    fn prepare_dir_refuses_a_file_as_parent() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"").unwrap();
        let e = prepare_dir(&file.join("run")).unwrap_err();
        assert!(matches!(e, HostError::NotWritable { .. }), "{e}");
        prepare_dir(&dir.path().join("x").join("y")).unwrap();
    }
}
