//! The checkpoint: everything a run needs to continue exactly where it
//! stopped — networks, Adam moments and step counts, β and its optimiser,
//! normalisation statistics, every environment's state and slot, every
//! random stream and the counters.
//!
//! Layout: the magic `FXPOCKPT`, a little-endian `u32` format version, the
//! postcard-encoded [`CheckpointData`], and the CRC-32 of everything before
//! it. Written atomically (see [`crate::io::write_atomic`]).

use crate::error::{HostError, Result};
use crate::tasks::EnvState;
use fixpo_core::optim::ScalarAdam;
use fixpo_core::rng::Pcg32;
use serde::{Deserialize, Serialize};
use std::path::Path;

const MAGIC: &[u8; 8] = b"FXPOCKPT";
const VERSION: u32 = 2;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Adam state of one network, flattened in [`fixpo_core::Params`] order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdamState {
    /// First moments.
    pub m: Vec<f32>,
    /// Second moments.
    pub v: Vec<f32>,
    /// Steps taken.
    pub t: u32,
}

/// Running mean and variance, as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MeanVar {
    /// Means.
    pub mean: Vec<f32>,
    /// Variances.
    pub var: Vec<f32>,
    /// Samples seen.
    pub count: f64,
}

/// One environment of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnvCheckpoint {
    /// The task's episode state.
    pub env: EnvState,
    /// The slot's current raw observation.
    pub obs: Vec<f32>,
    /// The task must be reset before its next step.
    pub needs_reset: bool,
    /// Return of the running episode.
    pub ep_return: f32,
    /// Length of the running episode.
    pub ep_len: u32,
    /// Discounted return for reward scaling.
    pub disc_return: f32,
    /// The environment's random stream.
    pub rng: Pcg32,
}

/// Everything in a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointData {
    /// The run's resolved configuration (TOML).
    pub config: String,
    /// Observation, hidden and action sizes (checked on load).
    pub dims: [u32; 3],
    /// Iterations done.
    pub iter: u64,
    /// Environment steps taken.
    pub env_steps: u64,
    /// Training wall time so far (s).
    pub wall_s: f64,
    /// Training episodes finished.
    pub episodes: u64,
    /// Returns of the most recent training episodes, oldest first.
    pub recent_returns: Vec<f32>,
    /// First evaluation that reached the target: (env steps, wall s).
    pub target_reached: Option<(u64, f64)>,
    /// Policy parameters.
    pub policy: Vec<f32>,
    /// Value parameters.
    pub value: Vec<f32>,
    /// Adam state of the policy.
    pub policy_opt: AdamState,
    /// Adam state of the value function.
    pub value_opt: AdamState,
    /// β.
    pub beta: f32,
    /// Adam state of β.
    pub beta_opt: ScalarAdam,
    /// Observation statistics accumulated over every step so far.
    pub obs_stats: MeanVar,
    /// The observation statistics the policy acts with (those of its last
    /// accepted update).
    pub policy_obs_stats: MeanVar,
    /// Discounted-return statistics.
    pub ret_stats: MeanVar,
    /// The update's random stream (minibatch shuffles).
    pub update_rng: Pcg32,
    /// Every environment, in order.
    pub envs: Vec<EnvCheckpoint>,
}

/// Writes a checkpoint atomically.
///
/// # Errors
/// [`HostError::Io`].
pub fn save(path: &Path, data: &CheckpointData) -> Result<()> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    let bytes = postcard::to_extend(data, bytes).map_err(|e| HostError::Checkpoint {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let mut bytes = bytes;
    let crc = CRC.checksum(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    crate::io::write_atomic(path, &bytes)
}

/// Reads and checks a checkpoint.
///
/// # Errors
/// [`HostError::Io`] when it cannot be read, [`HostError::Checkpoint`] when
/// it is truncated, corrupt or of another version.
pub fn load(path: &Path) -> Result<CheckpointData> {
    let bytes = crate::io::read(path)?;
    let bad = |reason: &str| HostError::Checkpoint {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad("not a fixpo checkpoint"));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(bad(&format!(
            "format version {version}, this build reads {VERSION}"
        )));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if CRC.checksum(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(bad("checksum mismatch (truncated or corrupt)"));
    }
    postcard::from_bytes(&body[12..]).map_err(|e| bad(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_corruption() {
        let data = CheckpointData {
            config: "env = \"pendulum\"".into(),
            dims: [3, 32, 1],
            iter: 7,
            env_steps: 1234,
            wall_s: 1.5,
            episodes: 3,
            recent_returns: vec![-1.0, f32::MIN_POSITIVE],
            target_reached: None,
            policy: vec![0.1, -0.0, 1e-30],
            value: vec![2.0],
            policy_opt: AdamState::default(),
            value_opt: AdamState::default(),
            beta: 0.3,
            beta_opt: ScalarAdam::NEW,
            obs_stats: MeanVar::default(),
            policy_obs_stats: MeanVar {
                mean: vec![0.5],
                var: vec![2.0],
                count: 3.0,
            },
            ret_stats: MeanVar::default(),
            update_rng: Pcg32::new(1, 2),
            envs: vec![EnvCheckpoint {
                env: EnvState::default(),
                obs: vec![1.0, 2.0, 3.0],
                needs_reset: false,
                ep_return: -5.0,
                ep_len: 9,
                disc_return: -4.0,
                rng: Pcg32::new(3, 4),
            }],
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.bin");
        save(&p, &data).unwrap();
        assert_eq!(load(&p).unwrap(), data);
        let mut bytes = std::fs::read(&p).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&p, &bytes).unwrap();
        let e = load(&p).unwrap_err().to_string();
        assert!(e.contains("checksum"), "{e}");
        std::fs::write(&p, &bytes[..10]).unwrap();
        assert!(load(&p).is_err());
    }
}
