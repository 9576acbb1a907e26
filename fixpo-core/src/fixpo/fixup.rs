//! The fixup phase of a FixPO update: KL-only steps until the certified
//! bound on D_KL(π_old ‖ π) is within ε_KL at every state of the batch, and
//! the backtracking towards π_old that ends the phase when steps alone do
//! not get there.

use super::kernels::{Backend, MbStats};
use super::layout::{Keep, Layout, Optimiser};
use super::trainer::carry_over_learned;
use super::{Config, Trainer, Transition, UpdateError, UpdateReport};
use crate::params::Params;
use crate::trust::{self, InputBound, KlBound};

/// What the trust-region check of one update needs besides the policy.
pub(super) struct Check<const O: usize, const A: usize> {
    /// π_old's log-std.
    pub(super) old_log_std: [f32; A],
    /// π_old's forward-pass error bound over the batch.
    pub(super) delta_old: [f64; A],
    /// Bounds on the batch's network inputs under the current
    /// normalisation (`Trainer::norm`).
    pub(super) input: InputBound<O>,
    /// The same under π_old's normalisation (in force after a revert).
    pub(super) input_old: InputBound<O>,
    /// The factor of the backtracking that produced the current
    /// parameters; `None` once a gradient step has moved them since.
    pub(super) last_t: Option<f32>,
}

impl<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A>> Trainer<O, H, A, L> {
    /// The certified bound between π_old and the current policy, for the
    /// current parameters (the forward-pass error of π depends on them).
    fn bound(&self, chk: &Check<O, A>) -> KlBound<A> {
        KlBound::new(
            self.policy.kind,
            &chk.old_log_std,
            &chk.delta_old,
            &self.policy.log_std,
            &trust::forward_error(&self.policy.net, &chk.input),
        )
    }

    /// Max and sum of the certified bound over the batch.
    pub(super) fn batch_kl<B: Backend<O, H, A>>(
        &self,
        batch: &[Transition<O, A>],
        cfg: &Config,
        backend: &mut B,
        chk: &Check<O, A>,
    ) -> MbStats {
        let bound = self.bound(chk);
        let mut st = MbStats::default();
        for mb in batch.chunks(cfg.fixup_minibatch) {
            st.merge(&backend.kl_stats(&self.policy, &self.norm, &bound, mb));
        }
        st
    }

    /// The fixup phase: passes over fixup minibatches, stepping on β·mean KL
    /// wherever a state's certified bound exceeds ε_KL, until a pass finds
    /// none. Bounded by the pass and step caps; the learning rate halves
    /// whenever a pass fails to lower the worst bound; backtracking
    /// finishes the job if needed. Returns the batch statistics of the
    /// policy it leaves (those of [`Self::batch_kl`]).
    pub(super) fn fixup<B: Backend<O, H, A>>(
        &mut self,
        lent: &mut L::Lent,
        batch: &mut [Transition<O, A>],
        cfg: &Config,
        backend: &mut B,
        rep: &mut UpdateReport,
        chk: &mut Check<O, A>,
        steps_left: &mut u32,
    ) -> Result<MbStats, UpdateError> {
        let old_ls = chk.old_log_std;
        let mut lr = cfg.lr;
        let mut best = f32::INFINITY;
        let mut stale = 0u32;
        let mut momentum_cleared = false;
        // The bound depends on the parameters: built again after a step,
        // not for every minibatch.
        let mut bound: Option<KlBound<A>> = None;
        for _pass in 0..cfg.max_fixup_passes {
            rep.fixup_passes += 1;
            let mut violated = false;
            let mut worst = 0.0f32;
            let mut all = MbStats::default();
            for mb in batch.chunks(cfg.fixup_minibatch) {
                let b = *bound.get_or_insert_with(|| self.bound(chk));
                let st = backend.kl_stats(&self.policy, &self.norm, &b, mb);
                all.merge(&st);
                worst = worst.max(st.max_kl);
                if within_bound(st.max_kl, cfg.eps_kl) {
                    continue;
                }
                if !violated && !momentum_cleared {
                    // The primary phase's momentum points away from θ_old;
                    // carried into the fixup it first raises the KL. Clear
                    // the first moment once per phase (no extra memory).
                    self.policy_opt.clear_momentum();
                    momentum_cleared = true;
                }
                violated = true;
                if *steps_left == 0 {
                    break;
                }
                let gp = &mut L::work(&mut self.own, lent).grad_policy;
                gp.fill_zero();
                let scale = self.beta.max(1e-3) / mb.len() as f32;
                let st = backend.kl_grads(&self.policy, &self.norm, &old_ls, mb, scale, gp);
                self.policy_step(lent, &Config { lr, ..*cfg })?;
                bound = None;
                chk.last_t = None;
                rep.reverted = false;
                self.beta_step(cfg, st.max_kl);
                *steps_left -= 1;
                rep.fixup_grad_steps += 1;
            }
            if !violated {
                return Ok(all);
            }
            if *steps_left == 0 {
                break;
            }
            // Plateau: halve the learning rate after FIXUP_PATIENCE passes
            // without a new best. Patience matters when a pass is a single
            // step: Adam's momentum from the primary phase can raise the KL
            // for a step or two before the KL gradient takes over.
            if worst < best * 0.99 {
                best = worst;
                stale = 0;
            } else {
                stale += 1;
                if stale >= FIXUP_PATIENCE {
                    lr *= 0.5;
                    stale = 0;
                }
            }
        }
        Ok(self.backtrack(lent, batch, cfg, backend, rep, chk))
    }

    /// Moves the policy to θ_start + t·(θ − θ_start) with t = ½, ¼, …, then
    /// t = 0, until every state's bound is within ε_KL; if none is, returns
    /// to the behaviour policy and its normalisation, where the divergence
    /// is exactly 0. Returns the batch statistics of the policy it leaves.
    fn backtrack<B: Backend<O, H, A>>(
        &mut self,
        lent: &mut L::Lent,
        batch: &[Transition<O, A>],
        cfg: &Config,
        backend: &mut B,
        rep: &mut UpdateReport,
        chk: &mut Check<O, A>,
    ) -> MbStats {
        rep.backtracks += 1;
        // The gradient buffer is idle here; it holds the candidate θ.
        L::work(&mut self.own, lent).grad_policy = self.policy;
        let mut t = 1.0f32;
        for k in 0..=cfg.max_backtracks {
            t = if k == cfg.max_backtracks {
                0.0
            } else {
                t * 0.5
            };
            // From the start of the segment: π_old carried over to the
            // current normalisation.
            let w = L::work(&mut self.own, lent);
            w.old_policy.restore(&mut self.policy);
            carry_over_learned(&w.old_norm, &self.norm, &mut self.policy.net);
            self.policy.lerp_towards(&w.grad_policy, t);
            let st = self.batch_kl(batch, cfg, backend, chk);
            if within_bound(st.max_kl, cfg.eps_kl) {
                chk.last_t = Some(t);
                return st;
            }
        }
        // Last resort: the behaviour policy itself. The value function was
        // trained under the new normalisation: carry it back (when it was
        // carried over in the first place).
        let w = L::work(&mut self.own, lent);
        carry_over_learned(&self.norm, &w.old_norm, &mut self.value);
        w.old_policy.restore(&mut self.policy);
        self.norm = w.old_norm;
        chk.input = chk.input_old;
        chk.last_t = Some(0.0);
        rep.reverted = true;
        MbStats {
            n: batch.len() as u32,
            ..MbStats::default()
        }
    }
}

/// Fixup passes without a new lowest max-KL before the learning rate halves.
const FIXUP_PATIENCE: u32 = 3;

/// `kl ≤ eps`, with NaN counting as a violation.
fn within_bound(kl: f32, eps: f32) -> bool {
    matches!(
        kl.partial_cmp(&eps),
        Some(core::cmp::Ordering::Less | core::cmp::Ordering::Equal)
    )
}
