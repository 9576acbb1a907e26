//! A [`Learner`]'s checkpoint: everything needed to continue a run
//! exactly (see [`crate::checkpoint`] for the file).

use super::{Counters, Learner};
use crate::checkpoint::{AdamState, CheckpointData, EnvCheckpoint, MeanVar};
use crate::config::RunConfig;
use crate::error::{HostError, Result};
use fixpo_core::env::Env;
use fixpo_core::norm::RunningMeanStd;
use fixpo_core::optim::Adam;
use fixpo_core::params::Params;
use fixpo_core::rollout::EnvSlot;
use std::path::Path;

impl<E, const O: usize, const H: usize, const A: usize> Learner<E, O, H, A>
where
    E: Env<O, A> + Send + 'static,
{
    /// Everything needed to continue the run exactly; `None` unless the
    /// learner was made by [`Learner::for_task`].
    pub fn checkpoint(&self) -> Option<CheckpointData> {
        let fns = self.env_state.as_ref()?;
        let t = &self.core.trainer;
        let d = &self.done;
        Some(CheckpointData {
            config: self.cfg.to_toml(),
            dims: [O as u32, H as u32, A as u32],
            iter: d.iter,
            env_steps: d.env_steps,
            wall_s: d.wall_s,
            episodes: d.episodes,
            recent_returns: d.recent.iter().copied().collect(),
            target_reached: d.target_reached,
            policy: flat(&t.policy),
            value: flat(&t.value),
            policy_opt: adam_state(&t.policy_opt),
            value_opt: adam_state(&t.value_opt),
            beta: t.beta,
            beta_opt: t.beta_opt,
            obs_stats: mean_var(&self.core.stats.obs),
            policy_obs_stats: mean_var(&t.norm.stats),
            ret_stats: mean_var(&self.core.stats.ret.stats),
            update_rng: self.update_rng,
            envs: self
                .envs
                .iter()
                .map(|r| EnvCheckpoint {
                    env: (fns.snapshot)(&r.run.env),
                    obs: r.run.slot.obs.to_vec(),
                    needs_reset: r.run.slot.needs_reset,
                    ep_return: r.run.slot.ep_return,
                    ep_len: r.run.slot.ep_len,
                    disc_return: r.run.slot.disc_return,
                    rng: r.run.rng,
                })
                .collect(),
        })
    }

    /// Continues the run saved in `d` (read from `path`, named in errors).
    /// The configuration must equal the checkpoint's apart from
    /// `total_steps`.
    ///
    /// # Errors
    /// [`HostError::Checkpoint`] when the checkpoint does not fit this
    /// learner, or the learner cannot restore environments (made by
    /// [`Learner::new`] rather than [`Learner::for_task`]).
    pub fn restore(&mut self, d: CheckpointData, path: &Path) -> Result<()> {
        let bad = |reason: String| HostError::Checkpoint {
            path: path.to_owned(),
            reason,
        };
        let Some(fns) = self.env_state.as_ref() else {
            return Err(bad(
                "this environment cannot be restored (implement fixpo_host::tasks::Task and use Learner::for_task)".into(),
            ));
        };
        let saved = RunConfig::parse_toml(&d.config).map_err(|e| bad(e.to_string()))?;
        let comparable = RunConfig {
            total_steps: self.cfg.total_steps,
            ..saved
        };
        if comparable != self.cfg {
            return Err(bad(
                "the run's configuration differs from the checkpoint's (only total_steps may change on resume)".into(),
            ));
        }
        if d.dims != [O as u32, H as u32, A as u32] || d.envs.len() != self.envs.len() {
            return Err(bad("dimensions or environment count differ".into()));
        }
        let core = &mut *self.core;
        let t = &mut core.trainer;
        let ok = read_flat(&mut t.policy, &d.policy)
            && read_flat(&mut t.value, &d.value)
            && read_adam(&mut t.policy_opt, &d.policy_opt)
            && read_adam(&mut t.value_opt, &d.value_opt)
            && read_mean_var(&mut core.stats.obs, &d.obs_stats)
            && read_mean_var(&mut t.norm.stats, &d.policy_obs_stats)
            && read_mean_var(&mut core.stats.ret.stats, &d.ret_stats);
        if !ok {
            return Err(bad("a parameter block has the wrong length".into()));
        }
        t.beta = d.beta;
        t.beta_opt = d.beta_opt;
        self.update_rng = d.update_rng;
        for (r, s) in self.envs.iter_mut().zip(&d.envs) {
            (fns.restore)(&mut r.run.env, &s.env).map_err(|e| bad(e.to_string()))?;
            r.run.slot = EnvSlot {
                obs: s
                    .obs
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("an observation has the wrong length".into()))?,
                needs_reset: s.needs_reset,
                ep_return: s.ep_return,
                ep_len: s.ep_len,
                disc_return: s.disc_return,
            };
            r.run.rng = s.rng;
        }
        self.done = Counters {
            iter: d.iter,
            env_steps: d.env_steps,
            wall_s: d.wall_s,
            episodes: d.episodes,
            recent: d.recent_returns.into_iter().collect(),
            target_reached: d.target_reached,
        };
        Ok(())
    }
}

fn flat<P: Params>(p: &P) -> Vec<f32> {
    let mut v = vec![0.0; P::LEN];
    p.write_flat(&mut v);
    v
}

fn read_flat<P: Params>(p: &mut P, v: &[f32]) -> bool {
    v.len() == P::LEN && p.read_flat(v).is_some()
}

fn adam_state<P: Params>(a: &Adam<P>) -> AdamState {
    AdamState {
        m: flat(&a.m),
        v: flat(&a.v),
        t: a.t,
    }
}

fn read_adam<P: Params>(a: &mut Adam<P>, s: &AdamState) -> bool {
    a.t = s.t;
    read_flat(&mut a.m, &s.m) && read_flat(&mut a.v, &s.v)
}

fn mean_var<const N: usize>(s: &RunningMeanStd<N>) -> MeanVar {
    MeanVar {
        mean: s.mean.to_vec(),
        var: s.var.to_vec(),
        count: s.count,
    }
}

fn read_mean_var<const N: usize>(s: &mut RunningMeanStd<N>, m: &MeanVar) -> bool {
    match (m.mean.as_slice().try_into(), m.var.as_slice().try_into()) {
        (Ok(mean), Ok(var)) => {
            *s = RunningMeanStd {
                mean,
                var,
                count: m.count,
            };
            true
        }
        _ => false,
    }
}
