//! The library's error type: one enum, one line per message.

use std::path::PathBuf;

/// Result of the host library's functions.
pub type Result<T> = std::result::Result<T, HostError>;

/// Why a host operation failed. Every message fits on one line and names the
/// file, key or task involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// No built-in task has this name.
    #[error("unknown task `{name}` (known tasks: {known})")]
    UnknownTask {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A MuJoCo task asked of a build without the `mujoco` feature.
    #[error(
        "task `{name}` is a MuJoCo task: build fixpo with `--features fixpo-host/mujoco` (or `--features mujoco` inside fixpo-host) after scripts/setup-mujoco.sh"
    )]
    NeedsFeature {
        /// The name asked for.
        name: String,
    },
    /// A configuration key does not exist.
    #[error("unknown configuration key `{key}` (valid keys: {valid})")]
    UnknownKey {
        /// The key given.
        key: String,
        /// Every valid key, comma-separated.
        valid: String,
    },
    /// A configuration value is malformed or out of range.
    #[error("bad configuration value for `{key}`: {reason}")]
    BadConfig {
        /// The key (or file) the value belongs to.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or directory could not be read or written.
    #[error("{action} `{}`: {source}", path.display())]
    Io {
        /// What was being done ("cannot read", "cannot write", …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The output directory cannot be created or written.
    #[error("output directory `{}` is not writable: {source}", path.display())]
    NotWritable {
        /// The directory.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A policy file was refused by the decoder.
    #[error("policy file `{}` is unreadable: {source}", path.display())]
    PolicyFile {
        /// The file.
        path: PathBuf,
        /// The decoder's reason.
        #[source]
        source: fixpo_core::file::FileError,
    },
    /// A policy file does not fit the task it is used with.
    #[error(
        "policy `{}` does not fit task `{task}`: the policy is {policy}, the task needs {needed}",
        path.display()
    )]
    Mismatch {
        /// The policy file.
        path: PathBuf,
        /// The task.
        task: String,
        /// What the policy file has (e.g. "obs 3, act 1, gaussian").
        policy: String,
        /// What the task needs.
        needed: String,
    },
    /// A checkpoint cannot be used.
    #[error("checkpoint `{}` is unusable: {reason}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A metrics file or run directory cannot be used for plotting.
    #[error("cannot plot `{}`: {reason}", path.display())]
    Plot {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The update refused a batch (parameters are unchanged).
    #[error("update refused at iteration {iter}: {source}")]
    Update {
        /// Iteration (1-based) whose update failed.
        iter: u64,
        /// The core's reason.
        #[source]
        source: fixpo_core::UpdateError,
    },
    /// Experience collection failed.
    #[error("collection failed at iteration {iter}: {source}")]
    Collect {
        /// Iteration (1-based) whose collection failed.
        iter: u64,
        /// The core's reason.
        #[source]
        source: fixpo_core::rollout::CollectError,
    },
    /// The run directory already holds a run and neither `--resume` nor
    /// `--force` was given.
    #[error(
        "`{}` already holds a run; continue it with --resume or overwrite it with --force",
        path.display()
    )]
    RunExists {
        /// The run directory.
        path: PathBuf,
    },
}

impl HostError {
    /// An [`HostError::Io`] for `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A [`HostError::BadConfig`].
    pub fn bad(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::BadConfig {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
