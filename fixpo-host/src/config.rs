//! A training run's configuration: every hyperparameter in one flat,
//! serialisable struct, per-task presets, and the overrides a user applies
//! on top (`--config FILE.toml`, `--set key=value`).
//!
//! The resolved configuration is written to the run directory as
//! `config.toml`; passing that file back with `--config` repeats the run.

use crate::error::{HostError, Result};
use crate::tasks;
use fixpo_core::fixpo::{Algo, Config, FixupSchedule};
use fixpo_core::optim::AdamConfig;
use fixpo_core::rollout::{CollectConfig, RewardNorm};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every setting of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Task name (see `fixpo envs`).
    pub env: String,
    /// Update rule: `fixpo`, `fixpo-nofixup`, `ppo-clip` or `kl-penalty`.
    pub algo: String,
    /// Seed of every random stream of the run.
    pub seed: u64,
    /// Environment steps to train for.
    pub total_steps: u64,
    /// Hidden-layer width of both networks (32, 64 or 128).
    pub hidden: usize,
    /// Number of environments stepped in parallel.
    pub num_envs: usize,
    /// Environments per rollout task (a task steps its environments one
    /// after another; idle threads take whole tasks); `num_envs` must be a
    /// multiple. Results do not depend on it: one per task balances the
    /// threads best when steps are expensive (MuJoCo), more amortise the
    /// scheduling when they are cheap.
    pub envs_per_worker: usize,
    /// Steps per environment per iteration (batch = `num_envs · steps_per_env`).
    pub steps_per_env: usize,
    /// Discount γ.
    pub gamma: f32,
    /// GAE λ.
    pub lambda: f32,
    /// Normalise observations with running statistics.
    pub norm_obs: bool,
    /// Clip on normalised observations.
    pub obs_clip: f32,
    /// Reward normalisation by σ_R, the running std of the discounted
    /// return: `reward-scale` (rewards ÷ σ_R), `value-targets` (value
    /// targets ÷ σ_R, advantages in raw reward units, as Tianshou's
    /// `rew_norm`) or `off`.
    pub reward_norm: String,
    /// Initial Adam learning rate of both networks.
    pub lr: f32,
    /// Decay the learning rate linearly to 0 over `total_steps`.
    pub lr_decay: bool,
    /// Primary epochs E per iteration.
    pub epochs: u32,
    /// Primary minibatch size B.
    pub minibatch: usize,
    /// Fixup minibatch size B_fix.
    pub fixup_minibatch: usize,
    /// Global gradient-norm clip (≤ 0 disables).
    pub max_grad_norm: f32,
    /// Trust-region radius ε_KL.
    pub eps_kl: f32,
    /// C_β: the primary phase aims at max KL ≈ ε_KL / C_β.
    pub c_beta: f32,
    /// Initial β.
    pub beta0: f32,
    /// Adam learning rate γ_β of the β controller.
    pub beta_lr: f32,
    /// Upper clamp on β.
    pub beta_max: f32,
    /// Value-loss coefficient c_vf.
    pub vf_coef: f32,
    /// Value clipping range (≤ 0 disables).
    pub vf_clip: f32,
    /// Entropy bonus coefficient c_ent.
    pub ent_coef: f32,
    /// Normalise advantages per minibatch.
    pub norm_adv: bool,
    /// When the fixup phase runs: `every-epoch` or `end`.
    pub fixup_schedule: String,
    /// Cap on fixup passes per fixup phase.
    pub max_fixup_passes: u32,
    /// Cap on fixup gradient steps per update.
    pub max_fixup_steps: u32,
    /// Cap on backtracking halvings.
    pub max_backtracks: u32,
    /// PPO-clip ratio range.
    pub clip_ratio: f32,
    /// Target mean KL of the adaptive-KL-penalty rule.
    pub kl_target: f32,
    /// Initial log standard deviation of Gaussian policies.
    pub log_std_init: f32,
    /// Evaluate the deterministic policy every this many iterations (and
    /// after the last); 0 evaluates only after the last.
    pub eval_every: u32,
    /// Episodes per evaluation.
    pub eval_episodes: u32,
    /// Stop once an evaluation's mean return reaches this (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_return: Option<f32>,
    /// Write a checkpoint every this many iterations (and at the end);
    /// 0 writes one only at the end.
    pub checkpoint_every: u32,
    /// The task's own options (MuJoCo tasks: Gymnasium's keyword arguments,
    /// e.g. `forward_reward_weight`, `max_episode_steps`), set with
    /// `--set env.KEY=VALUE` or an `[env_options]` table; empty for the
    /// task's defaults. Valid keys: [`tasks::option_names`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env_options: BTreeMap<String, f64>,
}

/// Keys that may be absent from a configuration (optional settings).
const OPTIONAL_KEYS: [&str; 2] = ["target_return", "env_options"];

/// The prefix of `--set` keys that set a task option (`env.KEY=VALUE`).
pub const ENV_OPTION_PREFIX: &str = "env.";

/// Names of the update rules.
const ALGOS: [Algo; 4] = [
    Algo::Fixpo,
    Algo::FixpoNoFixup,
    Algo::PpoClip,
    Algo::KlPenalty,
];

impl RunConfig {
    /// The reference implementation's MuJoCo settings (docs/deviations.md) on task
    /// `env`: 64×64 networks, 64 environments × 128 steps, E = 10, B = 512,
    /// B_fix = 1024, ε_KL = 0.5, C_β = 2, lr 3e-4 decayed to 0.
    pub fn reference(env: &str) -> Self {
        let c = Config::REFERENCE;
        let cc = CollectConfig::REFERENCE;
        Self {
            env: env.to_owned(),
            algo: c.algo.name().to_owned(),
            seed: 0,
            total_steps: 1_000_000,
            hidden: 64,
            num_envs: 64,
            envs_per_worker: 1,
            steps_per_env: 128,
            gamma: cc.gamma,
            lambda: cc.lambda,
            norm_obs: true,
            obs_clip: fixpo_core::actor::OBS_CLIP,
            reward_norm: cc.reward_norm.name().to_owned(),
            lr: c.lr,
            lr_decay: true,
            epochs: c.epochs,
            minibatch: c.minibatch,
            fixup_minibatch: c.fixup_minibatch,
            max_grad_norm: c.max_grad_norm,
            eps_kl: c.eps_kl,
            c_beta: c.c_beta,
            beta0: 1.0,
            beta_lr: c.beta_lr,
            beta_max: c.beta_max,
            vf_coef: c.vf_coef,
            vf_clip: c.vf_clip,
            ent_coef: c.ent_coef,
            norm_adv: c.norm_adv,
            fixup_schedule: schedule_name(c.fixup_schedule).to_owned(),
            max_fixup_passes: c.max_fixup_passes,
            max_fixup_steps: c.max_fixup_steps,
            max_backtracks: c.max_backtracks,
            clip_ratio: c.clip_ratio,
            kl_target: c.kl_target,
            log_std_init: -0.5,
            eval_every: 10,
            eval_episodes: 10,
            target_return: None,
            checkpoint_every: 50,
            env_options: BTreeMap::new(),
        }
    }

    /// The preset for task `env`: settings tuned for a fast solve on the
    /// classic tasks, [`RunConfig::reference`] otherwise.
    ///
    /// # Errors
    /// [`HostError::UnknownTask`] when `env` is not a built-in task.
    pub fn preset(env: &str) -> Result<Self> {
        let info = tasks::task_info(env)?;
        let r = Self::reference(info.name);
        Ok(match info.name {
            // Tuned for time to a return of −200: small networks (the update
            // dominates the cost), γ = 0.9, many small minibatches, a high
            // learning rate that the trust region keeps safe.
            "pendulum" => Self {
                total_steps: 100_000,
                hidden: 32,
                num_envs: 8,
                envs_per_worker: 1,
                steps_per_env: 256,
                gamma: 0.9,
                reward_norm: RewardNorm::Off.name().to_owned(),
                lr: 5e-3,
                lr_decay: true,
                epochs: 10,
                minibatch: 64,
                fixup_minibatch: 2048,
                eps_kl: 0.5,
                c_beta: 3.0,
                vf_coef: 0.25,
                vf_clip: 0.0,
                log_std_init: -0.5,
                eval_every: 1,
                ..r
            },
            "cartpole" => Self {
                total_steps: 100_000,
                hidden: 32,
                num_envs: 8,
                envs_per_worker: 1,
                steps_per_env: 256,
                gamma: 0.99,
                lr: 3e-3,
                minibatch: 64,
                fixup_minibatch: 2048,
                eps_kl: 0.2,
                c_beta: 3.0,
                vf_coef: 0.5,
                vf_clip: 0.0,
                eval_every: 1,
                ..r
            },
            "cartpole-continuous" => Self {
                total_steps: 300_000,
                num_envs: 8,
                envs_per_worker: 1,
                steps_per_env: 256,
                lr: 1e-3,
                minibatch: 256,
                fixup_minibatch: 2048,
                c_beta: 3.0,
                vf_coef: 0.5,
                vf_clip: 0.0,
                eval_every: 2,
                ..r
            },
            "acrobot" => Self {
                total_steps: 500_000,
                num_envs: 16,
                envs_per_worker: 2,
                steps_per_env: 256,
                lr: 1e-3,
                minibatch: 512,
                fixup_minibatch: 4096,
                c_beta: 3.0,
                vf_coef: 0.5,
                vf_clip: 0.0,
                eval_every: 5,
                ..r
            },
            "mountaincar-continuous" => Self {
                total_steps: 1_000_000,
                num_envs: 16,
                envs_per_worker: 2,
                steps_per_env: 512,
                lr: 1e-3,
                minibatch: 512,
                fixup_minibatch: 8192,
                log_std_init: 0.0,
                vf_coef: 0.5,
                vf_clip: 0.0,
                ..r
            },
            // The MuJoCo tasks run the paper's reference settings
            // (`Config::REFERENCE`, docs/deviations.md: 64 envs × 128 steps, 10 epochs,
            // minibatch 512, fixup minibatch 1024, lr 3e-4 decayed
            // linearly, ε_KL 0.5, vf_coef 0.1 with value clipping 0.2,
            // observation normalisation and reward scaling, log-std −0.5,
            // γ 0.99, λ 0.95, 1M steps), with C_β = 3 as in the paper's
            // main MuJoCo runs (the core's reference value is 2).
            _ if tasks::is_mujoco_name(info.name) => Self { c_beta: 3.0, ..r },
            _ => r,
        })
    }

    /// The task options as `(key, value)` pairs, for
    /// [`tasks::visit_task_with`].
    pub fn env_option_pairs(&self) -> Vec<(String, f64)> {
        self.env_options
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Every key a configuration may hold, in file order.
    pub fn keys() -> Vec<String> {
        let table = toml::Table::try_from(Self::reference("pendulum"))
            .expect("the configuration serialises to a table");
        let mut keys: Vec<String> = table.keys().cloned().collect();
        keys.extend(OPTIONAL_KEYS.iter().map(|k| (*k).to_owned()));
        keys
    }

    /// Resolves a configuration: the preset of the task (taken from
    /// `env`, else from the file, else from `--set env=…`), then the keys
    /// of `file` (a TOML document), then `sets` (`key=value`, value in TOML
    /// syntax or a bare string) in order.
    ///
    /// # Errors
    /// [`HostError::UnknownKey`] for a key that does not exist,
    /// [`HostError::BadConfig`] for a malformed or out-of-range value, and
    /// [`HostError::UnknownTask`].
    pub fn resolve(env: Option<&str>, file: Option<&str>, sets: &[String]) -> Result<Self> {
        let file_table: toml::Table = match file {
            Some(text) => text
                .parse()
                .map_err(|e: toml::de::Error| HostError::bad("--config", one_line(&e)))?,
            None => toml::Table::new(),
        };
        let mut overrides: Vec<(String, toml::Value)> = file_table.into_iter().collect();
        overrides.extend(parse_sets(sets)?);
        let env_name = match env {
            Some(e) => e.to_owned(),
            None => match overrides.iter().rev().find(|(k, _)| k == "env") {
                Some((_, toml::Value::String(s))) => s.clone(),
                Some(_) => return Err(HostError::bad("env", "expected a task name")),
                None => {
                    return Err(HostError::bad(
                        "env",
                        format!(
                            "no task given: pass --env NAME (one of {})",
                            tasks::task_names()
                        ),
                    ));
                }
            },
        };
        overrides.push(("env".into(), toml::Value::String(env_name.clone())));
        Self::preset(&env_name)?.overlay(overrides)
    }

    /// This configuration with `sets` (`key=value`) applied, checked.
    ///
    /// # Errors
    /// As [`RunConfig::resolve`].
    pub fn with_sets(&self, sets: &[String]) -> Result<Self> {
        self.overlay(parse_sets(sets)?)
    }

    fn overlay(&self, overrides: Vec<(String, toml::Value)>) -> Result<Self> {
        let valid = Self::keys();
        let mut table = toml::Table::try_from(self).expect("the configuration serialises");
        for (k, v) in overrides {
            if let Some(opt) = k.strip_prefix(ENV_OPTION_PREFIX) {
                let x = match v {
                    toml::Value::Float(x) => x,
                    toml::Value::Integer(i) => i as f64,
                    toml::Value::Boolean(b) => f64::from(u8::from(b)),
                    other => {
                        return Err(HostError::bad(
                            k,
                            format!("expected a number, got `{other}`"),
                        ));
                    }
                };
                let opts = table
                    .entry("env_options")
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(t) = opts {
                    t.insert(opt.to_owned(), toml::Value::Float(x));
                }
                continue;
            }
            if !valid.contains(&k) {
                return Err(HostError::UnknownKey {
                    key: k,
                    valid: valid.join(", "),
                });
            }
            table.insert(k, v);
        }
        let cfg = Self::from_table(table)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads a configuration written by [`RunConfig::to_toml`], checking
    /// every value.
    ///
    /// # Errors
    /// As [`RunConfig::resolve`].
    pub fn from_toml(text: &str) -> Result<Self> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| HostError::bad("config.toml", one_line(&e)))?;
        let cfg = Self::from_table(table)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn from_table(table: toml::Table) -> Result<Self> {
        // Type errors name the key: check each value against the preset's.
        let preset = toml::Table::try_from(Self::reference("pendulum")).expect("serialises");
        for (k, v) in &table {
            if let Some(want) = preset.get(k) {
                let ok = matches!(
                    (want, v),
                    (toml::Value::String(_), toml::Value::String(_))
                        | (toml::Value::Boolean(_), toml::Value::Boolean(_))
                        | (toml::Value::Integer(_), toml::Value::Integer(_))
                        | (
                            toml::Value::Float(_),
                            toml::Value::Float(_) | toml::Value::Integer(_)
                        )
                );
                if !ok {
                    return Err(HostError::bad(
                        k.clone(),
                        format!("expected {}, got `{v}`", type_name(want)),
                    ));
                }
            } else if k == "env_options" {
                let ok = match v {
                    toml::Value::Table(t) => t.values().all(|x| {
                        matches!(
                            x,
                            toml::Value::Float(_)
                                | toml::Value::Integer(_)
                                | toml::Value::Boolean(_)
                        )
                    }),
                    _ => false,
                };
                if !ok {
                    return Err(HostError::bad(
                        k.clone(),
                        "expected a table of numbers (task option = value)",
                    ));
                }
            } else if k == "target_return"
                && !matches!(v, toml::Value::Float(_) | toml::Value::Integer(_))
            {
                return Err(HostError::bad(
                    k.clone(),
                    format!("expected a number, got `{v}`"),
                ));
            }
        }
        // Integers are accepted where floats are expected.
        let table: toml::Table = table
            .into_iter()
            .map(|(k, v)| {
                let float_key =
                    matches!(preset.get(&k), Some(toml::Value::Float(_))) || k == "target_return";
                match v {
                    toml::Value::Integer(i) if float_key => (k, toml::Value::Float(i as f64)),
                    toml::Value::Table(t) if k == "env_options" => {
                        let t = t
                            .into_iter()
                            .map(|(o, x)| {
                                let x = match x {
                                    toml::Value::Integer(i) => toml::Value::Float(i as f64),
                                    toml::Value::Boolean(b) => {
                                        toml::Value::Float(f64::from(u8::from(b)))
                                    }
                                    x => x,
                                };
                                (o, x)
                            })
                            .collect();
                        (k, toml::Value::Table(t))
                    }
                    v => (k, v),
                }
            })
            .collect();
        Self::deserialize(table).map_err(|e| HostError::bad("configuration", one_line(&e)))
    }

    /// The resolved configuration as a TOML document.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the configuration serialises")
    }

    /// The update rule.
    ///
    /// # Errors
    /// [`HostError::BadConfig`] when `algo` is not a known rule.
    pub fn algo(&self) -> Result<Algo> {
        Algo::from_name(&self.algo).ok_or_else(|| {
            HostError::bad(
                "algo",
                format!(
                    "`{}` is not an update rule (valid: {})",
                    self.algo,
                    ALGOS.map(|a| a.name()).join(", ")
                ),
            )
        })
    }

    /// Transitions per iteration.
    pub fn batch_size(&self) -> usize {
        self.num_envs * self.steps_per_env
    }

    /// The core's update configuration (learning rate at its initial value).
    ///
    /// # Errors
    /// [`HostError::BadConfig`] for an unknown rule or schedule.
    pub fn update_config(&self) -> Result<Config> {
        let fixup_schedule = match self.fixup_schedule.as_str() {
            "every-epoch" => FixupSchedule::EveryEpoch,
            "end" => FixupSchedule::End,
            other => {
                return Err(HostError::bad(
                    "fixup_schedule",
                    format!("`{other}` is not a schedule (valid: every-epoch, end)"),
                ));
            }
        };
        Ok(Config {
            algo: self.algo()?,
            epochs: self.epochs,
            minibatch: self.minibatch,
            fixup_minibatch: self.fixup_minibatch,
            lr: self.lr,
            adam: AdamConfig::default(),
            max_grad_norm: self.max_grad_norm,
            eps_kl: self.eps_kl,
            c_beta: self.c_beta,
            beta_lr: self.beta_lr,
            beta_max: self.beta_max,
            vf_coef: self.vf_coef,
            vf_clip: self.vf_clip,
            ent_coef: self.ent_coef,
            norm_adv: self.norm_adv,
            fixup_schedule,
            max_fixup_passes: self.max_fixup_passes,
            max_fixup_steps: self.max_fixup_steps,
            max_backtracks: self.max_backtracks,
            clip_ratio: self.clip_ratio,
            kl_target: self.kl_target,
        })
    }

    /// The core's collection configuration.
    ///
    /// # Errors
    /// [`HostError::BadConfig`] for an unknown reward normalisation.
    pub fn collect_config(&self) -> Result<CollectConfig> {
        let reward_norm = RewardNorm::from_name(&self.reward_norm).ok_or_else(|| {
            HostError::bad(
                "reward_norm",
                format!(
                    "`{}` is not a reward normalisation (valid: {})",
                    self.reward_norm,
                    RewardNorm::ALL.map(|r| r.name()).join(", ")
                ),
            )
        })?;
        Ok(CollectConfig {
            gamma: self.gamma,
            lambda: self.lambda,
            reward_norm,
        })
    }

    /// Checks every value.
    ///
    /// # Errors
    /// [`HostError::BadConfig`] naming the first bad key,
    /// [`HostError::UnknownTask`] for an unknown task.
    pub fn validate(&self) -> Result<()> {
        tasks::task_info(&self.env)?;
        tasks::check_options(&self.env, &self.env_option_pairs())?;
        tasks::check_hidden(self.hidden)?;
        self.collect_config()?;
        let c = self.update_config()?;
        c.validate().map_err(|e| match e {
            fixpo_core::UpdateError::InvalidConfig { field } => {
                HostError::bad(field, "out of range")
            }
            other => HostError::bad("configuration", other.to_string()),
        })?;
        let positive = |k: &str, v: usize| {
            if v == 0 {
                Err(HostError::bad(k, "must be at least 1"))
            } else {
                Ok(())
            }
        };
        positive("num_envs", self.num_envs)?;
        positive("envs_per_worker", self.envs_per_worker)?;
        positive("steps_per_env", self.steps_per_env)?;
        positive("eval_episodes", self.eval_episodes as usize)?;
        if self.num_envs % self.envs_per_worker != 0 {
            return Err(HostError::bad(
                "envs_per_worker",
                format!(
                    "num_envs ({}) must be a multiple of envs_per_worker ({})",
                    self.num_envs, self.envs_per_worker
                ),
            ));
        }
        if self.minibatch > self.batch_size() {
            return Err(HostError::bad(
                "minibatch",
                format!(
                    "{} is larger than the batch (num_envs · steps_per_env = {})",
                    self.minibatch,
                    self.batch_size()
                ),
            ));
        }
        if self.total_steps == 0 {
            return Err(HostError::bad("total_steps", "must be at least 1"));
        }
        let unit = |k: &str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(HostError::bad(k, format!("{v} is not in [0, 1]")))
            }
        };
        unit("gamma", self.gamma)?;
        unit("lambda", self.lambda)?;
        if !(self.obs_clip > 0.0 && self.obs_clip.is_finite()) {
            return Err(HostError::bad("obs_clip", "must be positive"));
        }
        if !(self.beta0 >= 0.0 && self.beta0.is_finite()) {
            return Err(HostError::bad("beta0", "must be finite and ≥ 0"));
        }
        if !(self.log_std_init.is_finite() && self.log_std_init.abs() < 10.0) {
            return Err(HostError::bad("log_std_init", "must be in (−10, 10)"));
        }
        if let Some(t) = self.target_return
            && !t.is_finite()
        {
            return Err(HostError::bad("target_return", "must be finite"));
        }
        Ok(())
    }
}

fn schedule_name(s: FixupSchedule) -> &'static str {
    match s {
        FixupSchedule::EveryEpoch => "every-epoch",
        FixupSchedule::End => "end",
    }
}

/// Splits `key=value` pairs.
fn parse_sets(sets: &[String]) -> Result<Vec<(String, toml::Value)>> {
    sets.iter()
        .map(|s| {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| HostError::bad(s.clone(), "expected key=value"))?;
            Ok((k.trim().to_owned(), parse_value(v.trim())))
        })
        .collect()
}

/// A `--set` value: TOML syntax when it parses, a bare string otherwise
/// (so `--set algo=ppo-clip` needs no quotes).
fn parse_value(v: &str) -> toml::Value {
    format!("v = {v}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(v.to_owned()))
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "true or false",
        _ => "a value",
    }
}

/// An error message on one line.
fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_roundtrip() {
        for info in fixpo_core::envs::CLASSIC {
            let c = RunConfig::preset(info.name).unwrap();
            c.validate().unwrap();
            assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
        }
        let mut c = RunConfig::preset("pendulum").unwrap();
        c.target_return = Some(-200.0);
        assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn task_options_are_checked_and_roundtrip() {
        let e = RunConfig::resolve(Some("pendulum"), None, &["env.g=9".into()]).unwrap_err();
        assert!(e.to_string().contains("env.g"), "{e}");
        #[cfg(feature = "mujoco")]
        {
            for info in crate::mujoco::TASKS {
                let c = RunConfig::preset(info.name).unwrap();
                c.validate().unwrap();
                assert_eq!((c.hidden, c.batch_size(), c.c_beta), (64, 8192, 3.0));
                assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
            }
            let c = RunConfig::resolve(
                Some("hopper"),
                None,
                &[
                    "env.forward_reward_weight=2".into(),
                    "env.max_episode_steps=500".into(),
                ],
            )
            .unwrap();
            assert_eq!(c.env_options.get("forward_reward_weight"), Some(&2.0));
            assert_eq!(RunConfig::from_toml(&c.to_toml()).unwrap(), c);
            let e = RunConfig::resolve(Some("hopper"), None, &["env.nope=1".into()]).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("nope") && msg.contains("forward_reward_weight"),
                "{msg}"
            );
        }
        #[cfg(not(feature = "mujoco"))]
        {
            let e = RunConfig::resolve(Some("hopper"), None, &[]).unwrap_err();
            assert!(matches!(e, HostError::NeedsFeature { .. }), "{e}");
        }
    }

    #[test]
    fn overrides_apply_in_order() {
        let file = "lr = 0.002\nepochs = 4\n";
        let sets = [
            "epochs=5".to_owned(),
            "algo=ppo-clip".to_owned(),
            "target_return=-150".to_owned(),
        ];
        let c = RunConfig::resolve(Some("pendulum"), Some(file), &sets).unwrap();
        assert_eq!((c.lr, c.epochs, c.algo.as_str()), (0.002, 5, "ppo-clip"));
        assert_eq!(c.target_return, Some(-150.0));
        let from_file = RunConfig::resolve(None, Some("env = \"cartpole\""), &[]).unwrap();
        assert_eq!(from_file.env, "cartpole");
    }

    #[test]
    fn bad_input_gives_one_line_errors() {
        let e = RunConfig::resolve(Some("pendulum"), None, &["lrr=1".into()]).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, HostError::UnknownKey { .. }), "{msg}");
        assert!(msg.contains("lrr") && msg.contains("eps_kl"), "{msg}");
        for (set, key) in [
            ("lr=abc", "lr"),
            ("eps_kl=-1", "eps_kl"),
            ("hidden=48", "hidden"),
            ("algo=trpo", "algo"),
            ("epochs=1.5", "epochs"),
            ("envs_per_worker=3", "envs_per_worker"),
        ] {
            let e = RunConfig::resolve(Some("pendulum"), None, &[set.into()]).unwrap_err();
            let msg = e.to_string();
            assert!(matches!(e, HostError::BadConfig { .. }), "{set}: {msg}");
            assert!(msg.contains(key), "{set}: {msg}");
            assert!(!msg.contains('\n'), "{set}: {msg}");
        }
        let e = RunConfig::resolve(Some("nope"), None, &[]).unwrap_err();
        assert!(matches!(e, HostError::UnknownTask { .. }));
        let e = RunConfig::resolve(Some("pendulum"), Some("lr = [1"), &[]).unwrap_err();
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}
