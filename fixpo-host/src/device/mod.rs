//! `fixpo device`: the host's side of the link to a controller running
//! the fixpo firmware (docs/device.md, docs/protocol.md).
//!
//! - [`link`]: the port — a serial device (8N1) or a unix socket (tests,
//!   QEMU) — and whole frames over it.
//! - [`Client`]: stop-and-wait requests with timeouts and resends, and the
//!   operations: [`Client::hello`], [`Client::status`], [`Client::push`],
//!   [`Client::pull`], [`Client::start_adapt`] with
//!   [`Client::next_event`], [`Client::stop`], [`Client::reset`].
//! - [`DeviceError`]: one line per failure and the CLI's exit code.
//! - [`UpdateLine`]: one line of the `metrics.jsonl` an adaptation writes,
//!   readable by `fixpo plot`.
//!
//! ```no_run
//! use fixpo_host::device::{Client, ClientOptions, PolicyFile};
//! use std::path::Path;
//!
//! let mut dev = Client::connect(Path::new("/dev/ttyACM0"), 115_200, ClientOptions::default(), None)?;
//! let file = PolicyFile::read(Path::new("runs/pendulum/policy.fxp"))?;
//! let pushed = dev.push(&file, |sent, len| eprint!("\r{sent}/{len}"))?;
//! println!("committed as record {}", pushed.seq);
//! # Ok::<(), fixpo_host::device::DeviceError>(())
//! ```

mod client;
mod error;
pub mod link;

pub use client::{Client, ClientOptions, Event, MAX_PULL, Pulled, Pushed};
pub use error::{DeviceError, Result, exit};

use fixpo_core::PolicyKind;
use fixpo_proto::{Dims, Kind, UpdateReport, Which};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A policy file to push: its bytes and the shape its header declares
/// (checked by fixpo-core's reader, so the device's decoder will accept it
/// unless its shape differs).
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The whole file.
    pub bytes: Vec<u8>,
    /// Its shape and kind, from the header.
    pub dims: Dims,
}

impl PolicyFile {
    /// Reads and checks a policy file ([`fixpo_core::file::read_header`]:
    /// the checksum, the header and every value).
    ///
    /// # Errors
    /// [`DeviceError::BadFile`] when it cannot be read or is not a valid
    /// policy file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| DeviceError::BadFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Self::from_bytes(path, bytes)
    }

    /// Checks `bytes` as a policy file; `path` names it in errors.
    ///
    /// # Errors
    /// [`DeviceError::BadFile`].
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        let bad = |reason: String| DeviceError::BadFile {
            path: path.to_owned(),
            reason,
        };
        let h = fixpo_core::file::read_header(&bytes).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            path: path.to_owned(),
            dims: Dims {
                obs: h.obs,
                hid: h.hid,
                act: h.act,
                kind: match h.kind {
                    PolicyKind::Gaussian => Kind::Gaussian,
                    PolicyKind::Categorical => Kind::Categorical,
                },
            },
            bytes,
        })
    }
}

/// `3→32×32→1 Gaussian`: a shape as the messages print it.
pub fn dims_text(d: &Dims) -> String {
    error::show_dims(d)
}

/// "active" or "factory".
pub fn which_name(w: Which) -> &'static str {
    match w {
        Which::Active => "active",
        Which::Factory => "factory",
    }
}

/// One update of an on-device adaptation as a line of `metrics.jsonl`.
/// The field names the training metrics share ([`crate::metrics`]) mean
/// the same here, so `fixpo plot` draws a device run (against the update
/// number: a device run has no environment-step count).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateLine {
    /// Always `"device"`: this line comes from a device, not a training
    /// run.
    pub source: String,
    /// The update number from 1 (`update + 1`): `fixpo plot`'s iteration.
    pub iter: u64,
    /// The device's update index in this adaptation, from 0.
    pub update: u32,
    /// Host seconds since the adaptation started (or watching began).
    pub wall_s: f64,
    /// Return of the rollout the update learned from (`null` if not
    /// finite).
    pub return_mean: Option<f32>,
    /// max KL(old ‖ new) over the rollout's states.
    pub max_kl: f32,
    /// The same maximum from the independent check (fixpo-check).
    pub check_max_kl: f32,
    /// ε_KL of the update.
    pub eps_kl: f32,
    /// β after the update.
    pub beta: f32,
    /// Fixup gradient steps.
    pub fixup_grad_steps: u32,
    /// Backtracking factor t (1: none).
    pub backtrack_t: f32,
    /// max KL(factory ‖ new) when the cumulative bound is on.
    pub drift_kl: Option<f32>,
    /// ε_total when the cumulative bound is on.
    pub eps_total: Option<f32>,
    /// The update was kept.
    pub kept: bool,
    /// An evaluation after the update rolled the policy back.
    pub rolled_back: bool,
    /// The store record the policy was committed as.
    pub committed: Option<u32>,
}

impl UpdateLine {
    /// The line for `r`, received `wall_s` seconds after the start.
    pub fn new(r: &UpdateReport, wall_s: f64) -> Self {
        Self {
            source: "device".into(),
            iter: u64::from(r.update) + 1,
            update: r.update,
            wall_s,
            return_mean: Some(r.ret).filter(|v| v.is_finite()),
            max_kl: r.max_kl,
            check_max_kl: r.check_max_kl,
            eps_kl: r.eps_kl,
            beta: r.beta,
            fixup_grad_steps: r.fixup_steps,
            backtrack_t: r.backtrack_t,
            drift_kl: r.drift_kl,
            eps_total: r.eps_total,
            kept: r.kept,
            rolled_back: r.rolled_back,
            committed: r.committed,
        }
    }

    /// The line as JSON (no newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One human-readable line for a report: `of` is the number of updates
/// asked for, when known.
pub fn report_text(r: &UpdateReport, of: Option<u32>) -> String {
    let n = match of {
        Some(of) => format!("{:>4}/{of}", r.update + 1),
        None => format!("{:>4}", r.update + 1),
    };
    let drift = match (r.drift_kl, r.eps_total) {
        (Some(d), Some(e)) => format!("  drift {d:.4}/{e}"),
        _ => String::new(),
    };
    let fate = if r.rolled_back {
        "rolled back"
    } else if r.kept {
        "kept"
    } else {
        "refused"
    };
    let commit = r
        .committed
        .map_or_else(String::new, |s| format!(", committed #{s}"));
    format!(
        "update {n}  return {:.2}  max KL {:.4}/{} (check {:.4})  beta {:.3}  fixup {}  t {:.2}{drift}  {fate}{commit}",
        r.ret, r.max_kl, r.eps_kl, r.check_max_kl, r.beta, r.fixup_steps, r.backtrack_t
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::IterMetrics;

    fn report(update: u32) -> UpdateReport {
        UpdateReport {
            update,
            ret: -150.0 + update as f32,
            max_kl: 0.012,
            check_max_kl: 0.0125,
            eps_kl: 0.02,
            beta: 1.5,
            fixup_steps: 3,
            backtrack_t: 1.0,
            drift_kl: Some(0.05),
            eps_total: Some(0.2),
            kept: true,
            rolled_back: false,
            committed: Some(7),
        }
    }

    #[test]
    fn update_line_reads_as_training_metrics() {
        let line = UpdateLine::new(&report(4), 2.5).to_json();
        let m: IterMetrics = serde_json::from_str(&line).unwrap();
        assert_eq!(m.iter, 5);
        assert_eq!(m.env_steps, 0);
        assert_eq!(m.return_mean, Some(-146.0));
        assert_eq!((m.max_kl, m.eps_kl, m.beta), (0.012, 0.02, 1.5));
        assert_eq!(m.fixup_grad_steps, 3);
        assert_eq!(m.wall_s, 2.5);
        let back: UpdateLine = serde_json::from_str(&line).unwrap();
        assert_eq!(back, UpdateLine::new(&report(4), 2.5));
        assert!(report_text(&report(4), Some(10)).starts_with("update    5/10  return -146.00"));
    }

    #[test]
    fn policy_file_dims_come_from_the_header() {
        let actor = fixpo_core::Actor::<3, 8, 2>::zero(PolicyKind::Categorical);
        let mut buf = vec![0u8; fixpo_core::file::max_encoded_len(3, 8, 2)];
        let n = fixpo_core::file::encode(&actor, &mut buf).unwrap();
        buf.truncate(n);
        let f = PolicyFile::from_bytes(Path::new("p.fxp"), buf.clone()).unwrap();
        assert_eq!(
            f.dims,
            Dims {
                obs: 3,
                hid: 8,
                act: 2,
                kind: Kind::Categorical
            }
        );
        buf[n / 2] ^= 1;
        let e = PolicyFile::from_bytes(Path::new("p.fxp"), buf).unwrap_err();
        assert_eq!(e.exit_code(), exit::BAD_FILE);
        assert!(e.to_string().contains("p.fxp"), "{e}");
    }
}
