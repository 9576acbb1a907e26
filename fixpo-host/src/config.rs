//! A training run's configuration: every hyperparameter in one flat,
//! serialisable struct, per-task presets, and the overrides a user applies
//! on top (`--config FILE.toml`, `--set key=value`).
//!
//! The resolved configuration is written to the run directory as
//! `config.toml`; passing that file back with `--config` repeats the run.

use crate::error::{HostError, Result};
use crate::tasks;
use fixpo_core::fixpo::{Algo, Config, FixupSchedule};
use fixpo_core::rollout::{CollectConfig, RewardNorm};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every setting of a training run. The update's and the collection's
/// settings are fixpo-core's own [`Config`] and [`CollectConfig`], nested
/// here and flattened into the same file: `lr = 3e-4`, not `[update] lr`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Task name (see `fixpo envs`); a label for a user-defined
    /// environment trained through [`crate::Learner`].
    pub env: String,
    /// Seed of every random stream of the run.
    pub seed: u64,
    /// Environment steps to train for.
    pub total_steps: u64,
    /// Hidden-layer width of both networks (one of [`tasks::HIDDEN_SIZES`]).
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
    /// Normalise observations with running statistics.
    pub norm_obs: bool,
    /// Clip on normalised observations.
    pub obs_clip: f32,
    /// Decay the learning rate `lr` linearly to 0 over `total_steps`.
    pub lr_decay: bool,
    /// Initial β.
    pub beta0: f32,
    /// Initial log standard deviation of Gaussian policies.
    pub log_std_init: f32,
    /// Evaluate the deterministic policy every this many iterations (and
    /// after the last); 0 evaluates only after the last.
    pub eval_every: u32,
    /// Episodes per evaluation.
    pub eval_episodes: u32,
    /// Write a checkpoint every this many iterations (and at the end);
    /// 0 writes one only at the end.
    pub checkpoint_every: u32,
    /// Stop once an evaluation's mean return reaches this (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_return: Option<f32>,
    /// Collection: `gamma`, `lambda`, `reward_norm` (`reward-scale`,
    /// `value-targets` or `off`; see docs/reward-norm.md).
    #[serde(flatten)]
    pub collect: CollectConfig,
    /// The update: `algo`, `epochs`, `minibatch`, `eps_kl`, … (`lr` is the
    /// initial learning rate).
    #[serde(flatten)]
    pub update: Config,
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

impl RunConfig {
    /// The reference implementation's MuJoCo settings (docs/deviations.md) on task
    /// `env`: 64×64 networks, 64 environments × 128 steps, E = 10, B = 512,
    /// B_fix = 1024, ε_KL = 0.5, C_β = 2, lr 3e-4 decayed to 0.
    pub fn reference(env: &str) -> Self {
        Self {
            env: env.to_owned(),
            seed: 0,
            total_steps: 1_000_000,
            hidden: 64,
            num_envs: 64,
            envs_per_worker: 1,
            steps_per_env: 128,
            norm_obs: true,
            obs_clip: fixpo_core::actor::OBS_CLIP,
            lr_decay: true,
            beta0: 1.0,
            log_std_init: -0.5,
            eval_every: 10,
            eval_episodes: 10,
            checkpoint_every: 50,
            target_return: None,
            collect: CollectConfig::REFERENCE,
            update: Config::REFERENCE,
            env_options: BTreeMap::new(),
        }
    }

    /// The preset for task `env`: the task's registry entry applied to
    /// [`RunConfig::reference`] (settings tuned for a fast solve on the
    /// classic tasks, the paper's settings on the MuJoCo ones).
    ///
    /// # Errors
    /// [`HostError::UnknownTask`] when `env` is not a built-in task.
    pub fn preset(env: &str) -> Result<Self> {
        let entry = tasks::entry(env)?;
        Ok((entry.preset)(Self::reference(entry.info.name)))
    }

    /// The task options as `(key, value)` pairs, for
    /// [`tasks::visit_task_with`].
    pub fn env_option_pairs(&self) -> Vec<(String, f64)> {
        self.env_options
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Every key a configuration may hold, in file order (a nested table's
    /// keys as `table.key`).
    pub fn keys() -> Vec<String> {
        let mut keys = Vec::new();
        for (k, v) in Self::reference("pendulum").table() {
            match v {
                toml::Value::Table(t) => keys.extend(t.keys().map(|s| format!("{k}.{s}"))),
                _ => keys.push(k),
            }
        }
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
        let mut overrides: Vec<(String, toml::Value)> = Vec::new();
        for (k, v) in file_table {
            // A nested table of the file sets its keys one by one.
            match v {
                toml::Value::Table(t) if k != "env_options" => {
                    overrides.extend(t.into_iter().map(|(s, x)| (format!("{k}.{s}"), x)));
                }
                v => overrides.push((k, v)),
            }
        }
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
        // The task's own name, also when given by its Gymnasium id.
        let name = tasks::entry(&env_name)?.info.name;
        overrides.push(("env".into(), toml::Value::String(name.to_owned())));
        let cfg = Self::preset(name)?.overlay(overrides)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// This configuration with `sets` (`key=value`) applied, checked.
    ///
    /// # Errors
    /// As [`RunConfig::resolve`].
    pub fn with_sets(&self, sets: &[String]) -> Result<Self> {
        let cfg = self.overlay(parse_sets(sets)?)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// [`RunConfig::with_sets`] for an environment that is not a built-in
    /// task (`env` is only a label): the training settings are checked,
    /// the task and its options are not.
    ///
    /// # Errors
    /// As [`RunConfig::resolve`], except for the task.
    pub fn with_training_sets(&self, sets: &[String]) -> Result<Self> {
        self.overlay(parse_sets(sets)?)
    }

    /// This configuration with `overrides` applied and the training
    /// settings checked (not the task: see [`RunConfig::validate`]).
    fn overlay(&self, overrides: Vec<(String, toml::Value)>) -> Result<Self> {
        let valid = Self::keys();
        let mut table = self.table();
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
            match k.split_once('.') {
                Some((outer, inner)) => {
                    if let Some(toml::Value::Table(t)) = table.get_mut(outer) {
                        t.insert(inner.to_owned(), v);
                    }
                }
                None => {
                    table.insert(k, v);
                }
            }
        }
        let cfg = Self::from_table(table)?;
        cfg.validate_training()?;
        Ok(cfg)
    }

    /// Reads a configuration written by [`RunConfig::to_toml`], checking
    /// every value.
    ///
    /// # Errors
    /// As [`RunConfig::resolve`].
    pub fn from_toml(text: &str) -> Result<Self> {
        let cfg = Self::parse_toml(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads a configuration written by [`RunConfig::to_toml`], checking
    /// every value but the task (whose name is only a label for an
    /// environment trained through [`crate::Learner`]).
    ///
    /// # Errors
    /// As [`RunConfig::resolve`], except for the task.
    pub fn parse_toml(text: &str) -> Result<Self> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| HostError::bad("config.toml", one_line(&e)))?;
        let cfg = Self::from_table(table)?;
        cfg.validate_training()?;
        Ok(cfg)
    }

    fn from_table(table: toml::Table) -> Result<Self> {
        // Unknown keys and type errors name the key: check each value
        // against the reference's, integers accepted where floats are
        // expected.
        let reference = Self::reference("pendulum").table();
        let mut table = typed(table, &reference, "")?;
        // Files written before the Adam settings were configurable lack
        // them; those runs used the reference values.
        if !table.contains_key("adam")
            && let Some(adam) = reference.get("adam")
        {
            table.insert("adam".into(), adam.clone());
        }
        Self::deserialize(table).map_err(|e| HostError::bad("configuration", one_line(&e)))
    }

    fn table(&self) -> toml::Table {
        toml::Table::try_from(self).expect("the configuration serialises to a table")
    }

    /// The resolved configuration as a TOML document.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the configuration serialises")
    }

    /// Transitions per iteration.
    pub fn batch_size(&self) -> usize {
        self.num_envs * self.steps_per_env
    }

    /// Checks every value, the task and its options included.
    ///
    /// # Errors
    /// [`HostError::BadConfig`] naming the first bad key,
    /// [`HostError::UnknownTask`] for an unknown task.
    pub fn validate(&self) -> Result<()> {
        tasks::task_info(&self.env)?;
        tasks::check_options(&self.env, &self.env_option_pairs())?;
        tasks::check_hidden(self.hidden)?;
        self.validate_training()
    }

    /// Checks every value that does not depend on the task: what
    /// [`crate::Learner`] needs for any environment.
    ///
    /// # Errors
    /// [`HostError::BadConfig`] naming the first bad key.
    pub fn validate_training(&self) -> Result<()> {
        self.update.validate().map_err(|e| match e {
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
        positive("hidden", self.hidden)?;
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
        if self.update.minibatch > self.batch_size() {
            return Err(HostError::bad(
                "minibatch",
                format!(
                    "{} is larger than the batch (num_envs · steps_per_env = {})",
                    self.update.minibatch,
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
        unit("gamma", self.collect.gamma)?;
        unit("lambda", self.collect.lambda)?;
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

/// `table` checked key by key against `want` (a serialised reference
/// configuration; `prefix` names the table in errors), with integers
/// turned into floats where floats are expected and enum names checked
/// against their lists.
fn typed(table: toml::Table, want: &toml::Table, prefix: &str) -> Result<toml::Table> {
    let mut out = toml::Table::new();
    for (k, v) in table {
        let key = format!("{prefix}{k}");
        let v = match (want.get(&k), v) {
            (Some(toml::Value::Table(w)), toml::Value::Table(t)) => {
                toml::Value::Table(typed(t, w, &format!("{key}."))?)
            }
            (Some(toml::Value::Float(_)), toml::Value::Integer(i)) => toml::Value::Float(i as f64),
            (Some(w), v) if same_type(w, &v) => {
                if let toml::Value::String(s) = &v
                    && let Some(names) = enum_names(&k)
                    && !names.contains(&s.as_str())
                {
                    return Err(HostError::bad(
                        key,
                        format!("`{s}` is not one of: {}", names.join(", ")),
                    ));
                }
                v
            }
            (Some(w), v) => {
                return Err(HostError::bad(
                    key,
                    format!("expected {}, got `{v}`", type_name(w)),
                ));
            }
            (None, v) if prefix.is_empty() && k == "env_options" => env_options(&key, v)?,
            (None, toml::Value::Integer(i)) if prefix.is_empty() && k == "target_return" => {
                toml::Value::Float(i as f64)
            }
            (None, v @ toml::Value::Float(_)) if prefix.is_empty() && k == "target_return" => v,
            (None, v) if prefix.is_empty() && k == "target_return" => {
                return Err(HostError::bad(key, format!("expected a number, got `{v}`")));
            }
            (None, _) => {
                return Err(HostError::UnknownKey {
                    key,
                    valid: RunConfig::keys().join(", "),
                });
            }
        };
        out.insert(k, v);
    }
    Ok(out)
}

/// A table of task options, values as floats (booleans as 0/1).
fn env_options(key: &str, v: toml::Value) -> Result<toml::Value> {
    let bad = || HostError::bad(key, "expected a table of numbers (task option = value)");
    let toml::Value::Table(t) = v else {
        return Err(bad());
    };
    let mut out = toml::Table::new();
    for (o, x) in t {
        let x = match x {
            toml::Value::Float(x) => x,
            toml::Value::Integer(i) => i as f64,
            toml::Value::Boolean(b) => f64::from(u8::from(b)),
            _ => return Err(bad()),
        };
        out.insert(o, toml::Value::Float(x));
    }
    Ok(toml::Value::Table(out))
}

/// The names a key holding one of fixpo-core's enums accepts: the lists
/// come from the enums themselves.
fn enum_names(key: &str) -> Option<Vec<&'static str>> {
    Some(match key {
        "algo" => Algo::ALL.iter().map(|a| a.name()).collect(),
        "fixup_schedule" => FixupSchedule::ALL.iter().map(|s| s.name()).collect(),
        "reward_norm" => RewardNorm::ALL.iter().map(|r| r.name()).collect(),
        _ => return None,
    })
}

fn same_type(want: &toml::Value, got: &toml::Value) -> bool {
    matches!(
        (want, got),
        (toml::Value::String(_), toml::Value::String(_))
            | (toml::Value::Boolean(_), toml::Value::Boolean(_))
            | (toml::Value::Integer(_), toml::Value::Integer(_))
            | (toml::Value::Float(_), toml::Value::Float(_))
    )
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
mod tests;
