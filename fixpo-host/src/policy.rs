//! Policy files on the host: writing a trained [`Actor`], inspecting any
//! file, loading one for a task (with its dimensions checked), and
//! evaluating a policy over many episodes in parallel.

use crate::error::{HostError, Result};
use crate::tasks::{self, HiddenVisitor, Task, TaskSpec, TaskVisitor};
use fixpo_core::actor::Actor;
use fixpo_core::file::{self, Critic, Header};
use fixpo_core::rng::Pcg32;
use fixpo_core::rollout::evaluate_episode;
use fixpo_core::{ActionSpace, Env, PolicyKind};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Encodes `actor` as a policy file without a critic.
///
/// # Errors
/// [`HostError::PolicyFile`] when the actor holds a value the format
/// refuses (NaN, negative variance…).
pub fn encode<const O: usize, const H: usize, const A: usize>(
    actor: &Actor<O, H, A>,
    path: &Path,
) -> Result<Vec<u8>> {
    encode_with_critic(actor, None, path)
}

/// Encodes `actor` and, if given, its critic as a policy file.
///
/// # Errors
/// [`HostError::PolicyFile`] when the actor or the critic holds a value
/// the format refuses (NaN, negative variance…).
pub fn encode_with_critic<const O: usize, const H: usize, const A: usize>(
    actor: &Actor<O, H, A>,
    critic: Option<&Critic<O, H>>,
    path: &Path,
) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; file::max_encoded_len(O, H, A)];
    let n = file::encode_with_critic(actor, critic, &mut buf).map_err(|source| {
        HostError::PolicyFile {
            path: path.to_owned(),
            source,
        }
    })?;
    buf.truncate(n);
    Ok(buf)
}

/// Everything a policy file says, as `fixpo inspect` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyInfo {
    /// The file.
    pub path: PathBuf,
    /// File size in bytes.
    pub file_len: usize,
    /// Format version.
    pub version: u16,
    /// `gaussian` or `categorical`.
    pub kind: &'static str,
    /// Observation dimension.
    pub obs: u16,
    /// Hidden-layer width.
    pub hid: u16,
    /// Action dimension.
    pub act: u16,
    /// Trainable numbers (network and log-std).
    pub param_count: u32,
    /// The stored CRC-32 (verified).
    pub crc32: String,
    /// Clip on normalised observations.
    pub obs_clip: f32,
    /// Samples behind the observation statistics.
    pub obs_count: f64,
    /// Observation means.
    pub obs_mean: Vec<f32>,
    /// Observation standard deviations.
    pub obs_std: Vec<f32>,
    /// Lower action bounds.
    pub action_low: Vec<f32>,
    /// Upper action bounds.
    pub action_high: Vec<f32>,
    /// Standard deviations of the Gaussian policy (exp of log-std).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub action_std: Vec<f32>,
    /// The critic section (value network and return scale), if the file
    /// has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critic: Option<CriticSummary>,
    /// The built-in tasks whose dimensions and action type fit.
    pub fits_tasks: Vec<&'static str>,
}

/// A policy file's critic section, as `fixpo inspect` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct CriticSummary {
    /// Value-network parameters (`obs → hid×hid → 1`).
    pub param_count: u32,
    /// Mean of the discounted return.
    pub ret_mean: f32,
    /// Return scale σ_R = √(var + 1e-8) the value targets were divided by.
    pub ret_sigma: f32,
    /// Samples behind the return statistics.
    pub ret_count: f64,
    /// Root mean square of the value network's parameters.
    pub param_rms: f32,
}

fn kind_name(kind: PolicyKind) -> &'static str {
    match kind {
        PolicyKind::Gaussian => "gaussian",
        PolicyKind::Categorical => "categorical",
    }
}

fn file_error(path: &Path, source: file::FileError) -> HostError {
    HostError::PolicyFile {
        path: path.to_owned(),
        source,
    }
}

/// Reads and fully checks the policy file at `path`.
///
/// # Errors
/// [`HostError::Io`] when unreadable, [`HostError::PolicyFile`] when the
/// decoder refuses it.
pub fn inspect(path: &Path) -> Result<PolicyInfo> {
    let bytes = crate::io::read(path)?;
    let h = file::read_header(&bytes).map_err(|e| file_error(path, e))?;
    let (obs, act) = (usize::from(h.obs), usize::from(h.act));
    let (mut mean, mut var) = (vec![0.0; obs], vec![0.0; obs]);
    let (mut low, mut high) = (vec![0.0; act], vec![0.0; act]);
    let mut params = vec![0.0; h.param_count as usize];
    file::read_dyn(
        &bytes,
        &mut mean,
        &mut var,
        &mut low,
        &mut high,
        &mut params,
    )
    .map_err(|e| file_error(path, e))?;
    let critic = match h.critic {
        None => None,
        Some(c) => {
            let mut value = vec![0.0f32; c.param_count as usize];
            file::read_dyn_critic(&bytes, &mut value).map_err(|e| file_error(path, e))?;
            let sq: f64 = value.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            Some(CriticSummary {
                param_count: c.param_count,
                ret_mean: c.ret_mean,
                ret_sigma: c.sigma(),
                ret_count: c.ret_count,
                param_rms: (sq / value.len().max(1) as f64).sqrt() as f32,
            })
        }
    };
    // The log-std is the last slice of the parameters.
    let action_std = match h.kind {
        PolicyKind::Gaussian => params[params.len() - act..]
            .iter()
            .map(|l| l.exp())
            .collect(),
        PolicyKind::Categorical => Vec::new(),
    };
    Ok(PolicyInfo {
        path: path.to_owned(),
        file_len: bytes.len(),
        version: h.version,
        kind: kind_name(h.kind),
        obs: h.obs,
        hid: h.hid,
        act: h.act,
        param_count: h.param_count,
        crc32: format!("{:#010x}", h.crc),
        obs_clip: h.obs_clip,
        obs_count: h.obs_count,
        obs_mean: mean,
        obs_std: var.iter().map(|v| v.sqrt()).collect(),
        action_low: low,
        action_high: high,
        action_std,
        critic,
        fits_tasks: tasks::TASKS
            .iter()
            .filter(|t| t.info.obs_dim == obs && t.info.act_dim == act && t.kind() == h.kind)
            .map(|t| t.info.name)
            .collect(),
    })
}

/// Checks that a file's header fits a task of `O` observations and `A`
/// actions needing a `kind` policy.
///
/// # Errors
/// [`HostError::Mismatch`].
pub fn check_fits<const O: usize, const A: usize>(
    h: &Header,
    kind: PolicyKind,
    task: &str,
    path: &Path,
) -> Result<()> {
    if usize::from(h.obs) != O || usize::from(h.act) != A || h.kind != kind {
        return Err(HostError::Mismatch {
            path: path.to_owned(),
            task: task.to_owned(),
            policy: format!("obs {}, act {}, {}", h.obs, h.act, kind_name(h.kind)),
            needed: format!("obs {O}, act {A}, {}", kind_name(kind)),
        });
    }
    Ok(())
}

/// The action bounds of a task (±1 for discrete tasks, where they are
/// unused).
pub fn action_bounds<const O: usize, const A: usize, E: Task<O, A>>(
    env: &E,
) -> ([f32; A], [f32; A]) {
    match env.action_space() {
        ActionSpace::Continuous { low, high } => (low, high),
        ActionSpace::Discrete => ([-1.0; A], [1.0; A]),
    }
}

/// Undiscounted returns of `episodes` episodes of `actor` on copies of
/// `template`, run in parallel. Episode `i` draws its start from the
/// stream `(seed, i)`, so the result does not depend on the thread count.
pub fn evaluate<const O: usize, const H: usize, const A: usize, E: Task<O, A>>(
    template: &E,
    actor: &Actor<O, H, A>,
    episodes: u32,
    seed: u64,
    deterministic: bool,
) -> Vec<f32> {
    evaluate_with(&|| template.clone(), actor, episodes, seed, deterministic)
}

/// [`evaluate`] on environments made by `make_env`, one per episode.
pub fn evaluate_with<const O: usize, const H: usize, const A: usize, E: Env<O, A>>(
    make_env: &(dyn Fn() -> E + Sync),
    actor: &Actor<O, H, A>,
    episodes: u32,
    seed: u64,
    deterministic: bool,
) -> Vec<f32> {
    (0..episodes)
        .into_par_iter()
        .map(|i| {
            let mut env = make_env();
            let mut rng = Pcg32::new(seed, u64::from(i));
            evaluate_episode(&mut env, actor, &mut rng, deterministic).ret
        })
        .collect()
}

/// Summary of a set of episode returns.
#[derive(Clone, Debug, Serialize)]
pub struct ReturnStats {
    /// Mean return.
    pub mean: f32,
    /// Standard deviation of the returns.
    pub std: f32,
    /// Smallest return.
    pub min: f32,
    /// Largest return.
    pub max: f32,
    /// Every return, in episode order.
    pub returns: Vec<f32>,
}

impl ReturnStats {
    /// Summarises `returns` (zeros when empty).
    pub fn new(returns: Vec<f32>) -> Self {
        let n = returns.len().max(1) as f32;
        let mean = returns.iter().sum::<f32>() / n;
        let var = returns.iter().map(|r| (r - mean) * (r - mean)).sum::<f32>() / n;
        Self {
            mean,
            std: var.sqrt(),
            min: returns.iter().copied().fold(f32::INFINITY, f32::min),
            max: returns.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            returns,
        }
    }
}

/// What `fixpo eval` prints.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// Task name.
    pub env: String,
    /// Policy file.
    pub policy: PathBuf,
    /// The task's options (Gymnasium keyword arguments), e.g. from the
    /// run's `config.toml`; empty for the defaults.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_options: Vec<(String, f64)>,
    /// Episodes per mode.
    pub episodes: u32,
    /// Seed of the episodes' start states.
    pub seed: u64,
    /// Returns with the deterministic action (the mean, or the arg-max).
    pub deterministic: ReturnStats,
    /// Returns with actions sampled from the policy.
    pub stochastic: ReturnStats,
}

/// Loads the policy file at `path` for task `env` (with the task options
/// `options`, applied in order) and evaluates it over `episodes` episodes,
/// deterministically and stochastically.
///
/// # Errors
/// [`HostError::UnknownTask`], [`HostError::Io`],
/// [`HostError::PolicyFile`], [`HostError::Mismatch`] (dimensions or action
/// type differ from the task's) and [`HostError::BadConfig`] (a hidden size
/// this build does not support).
pub fn eval_file(
    path: &Path,
    env: &str,
    options: &[(String, f64)],
    episodes: u32,
    seed: u64,
) -> Result<EvalReport> {
    let bytes = crate::io::read(path)?;
    let header = file::read_header(&bytes).map_err(|e| file_error(path, e))?;
    struct V<'a> {
        path: &'a Path,
        bytes: &'a [u8],
        header: Header,
        options: &'a [(String, f64)],
        episodes: u32,
        seed: u64,
    }
    impl TaskVisitor for V<'_> {
        type Out = Result<EvalReport>;
        fn visit<const O: usize, const A: usize, E: Task<O, A>>(
            self,
            spec: TaskSpec<E>,
        ) -> Result<EvalReport> {
            check_fits::<O, A>(&self.header, spec.kind, spec.info.name, self.path)?;
            struct W<'a, const O: usize, const A: usize, E> {
                v: V<'a>,
                spec: TaskSpec<E>,
            }
            impl<const O: usize, const A: usize, E: Task<O, A>> HiddenVisitor for W<'_, O, A, E> {
                type Out = Result<EvalReport>;
                fn visit<const H: usize>(self) -> Result<EvalReport> {
                    let actor: Actor<O, H, A> =
                        file::decode(self.v.bytes).map_err(|e| file_error(self.v.path, e))?;
                    let run = |det| {
                        ReturnStats::new(evaluate(
                            &self.spec.env,
                            &actor,
                            self.v.episodes,
                            self.v.seed,
                            det,
                        ))
                    };
                    Ok(EvalReport {
                        env: self.spec.info.name.to_owned(),
                        policy: self.v.path.to_owned(),
                        env_options: self.v.options.to_vec(),
                        episodes: self.v.episodes,
                        seed: self.v.seed,
                        deterministic: run(true),
                        stochastic: run(false),
                    })
                }
            }
            let hid = usize::from(self.header.hid);
            tasks::check_hidden(hid).map_err(|_| {
                HostError::bad(
                    "policy",
                    format!(
                        "`{}` has hidden size {hid}; this build runs {}",
                        self.path.display(),
                        tasks::hidden_names()
                    ),
                )
            })?;
            tasks::visit_hidden(hid, W { v: self, spec })?
        }
    }
    tasks::visit_task_with(
        env,
        options,
        V {
            path,
            bytes: &bytes,
            header,
            options,
            episodes,
            seed,
        },
    )?
}
