//! The [`Trainer`]: the state an update trains, and the update itself —
//! the primary phase's epochs of minibatch steps, gradient clipping, Adam
//! and the β controller. The fixup phase is in `fixup.rs`.

use super::fixup::Check;
use super::kernels::{Backend, Coeffs, MbStats, Serial};
use super::layout::{Full, Grads, Keep, Layout, Optimiser, Work};
use super::{Algo, Config, FixupSchedule, Transition, UpdateError, UpdateReport};
use crate::dist::PolicyKind;
use crate::mlp::Mlp;
use crate::norm::ObsNorm;
use crate::optim::{ScalarAdam, clip_factor, clip_global_norm};
use crate::params::Params;
use crate::policy::{Policy, Value};
use crate::rng;
use crate::trust::{self, InputBound};
use rand_core::RngCore;

/// Everything an update trains and the scratch space it needs, in one
/// fixed-size value (place it in a `static` on a microcontroller). The
/// [`Layout`] `L` decides how much optimiser state and how much of π_old
/// and V_old it keeps: [`Full`] (the default) for every parameter,
/// [`Head`](super::Head) for head-only training in less RAM,
/// [`Lean`](super::Lean) for every parameter in the least RAM, its
/// working storage ([`Work`]) lent by the caller to the `*_lent` methods.
#[derive(Clone, Debug)]
pub struct Trainer<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A> = Full> {
    /// The policy π.
    pub policy: Policy<O, H, A>,
    /// The value function V.
    pub value: Value<O, H>,
    /// The observation normalisation π and V act with: part of the
    /// deployed policy.
    pub norm: ObsNorm<O>,
    /// Adam state of the policy (of its trained part).
    pub policy_opt: L::PolicyOpt,
    /// Adam state of the value function (of its trained part).
    pub value_opt: L::ValueOpt,
    /// The KL penalty weight β.
    pub beta: f32,
    /// Adam state of the β controller.
    pub beta_opt: ScalarAdam,
    /// Which parameters the update may change (a layout with room for
    /// one scope only trains that one: [`Trainer::scope_in_force`]).
    pub scope: TrainScope,
    // The update's working storage ([`Work`]) when the layout keeps it
    // here; `()` when the caller lends it.
    pub(super) own: L::Own,
}

/// Which parameters an update trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TrainScope {
    /// Every policy and value parameter.
    All,
    /// Only the policy's output layer and log-std, and the value's output
    /// layer (cheaper fine-tuning on a device).
    Head,
}

/// Range the Gaussian log-std is kept in after every step, so that
/// e^{±2·ln σ} stays far inside f32 (σ from 2e-9 to 148).
pub const LOG_STD_RANGE: (f32, f32) = (-20.0, 5.0);

impl<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A>> Trainer<O, H, A, L> {
    /// An all-zero trainer of the given kind with β = `beta0` and no
    /// normalisation statistics ([`ObsNorm::NEW`]); call [`Trainer::init`]
    /// or load parameters before training. `const`, so it can initialise a
    /// `static` without touching the stack.
    pub const fn zero(kind: PolicyKind, beta0: f32) -> Self {
        let mut t = Self::zeroed(kind);
        t.norm = ObsNorm::NEW;
        t.beta = beta0;
        t
    }

    /// Every number zero, β and the normalisation included (a `static` of
    /// it costs no flash: it lives in `.bss`). Set [`Trainer::norm`] before
    /// the first update: a zero variance and clip are not a usable
    /// normalisation.
    pub const fn zeroed(kind: PolicyKind) -> Self {
        Self {
            policy: Policy::zero(kind),
            value: Value::ZERO,
            norm: ObsNorm::ZEROED,
            policy_opt: L::POLICY_OPT,
            value_opt: L::VALUE_OPT,
            beta: 0.0,
            beta_opt: ScalarAdam::NEW,
            // All, even where the layout fixes the scope
            // (`scope_in_force`): every byte zero, so a `static` is `.bss`.
            scope: TrainScope::All,
            own: L::OWN,
        }
    }

    /// Reference initialisation of both networks (see [`Policy::init`]);
    /// resets optimiser state and β.
    pub fn init<R: RngCore + ?Sized>(&mut self, rng: &mut R, log_std_init: f32, beta0: f32) {
        self.policy.init(rng, log_std_init);
        self.value.init(rng, core::f32::consts::SQRT_2, 1.0);
        self.policy_opt.reset();
        self.value_opt.reset();
        self.beta = beta0;
        self.beta_opt = ScalarAdam::NEW;
    }

    /// The scope updates train: the layout's, if it has room for one
    /// only, else [`Trainer::scope`].
    pub fn scope_in_force(&self) -> TrainScope {
        L::SCOPE.unwrap_or(self.scope)
    }

    /// [`Trainer::previous_and_current`] with lent working storage.
    #[allow(clippy::type_complexity)]
    pub fn previous_and_current_lent<'a>(
        &'a mut self,
        lent: &'a mut L::Lent,
    ) -> (
        (&'a Policy<O, H, A>, &'a ObsNorm<O>),
        (&'a Policy<O, H, A>, &'a ObsNorm<O>),
    ) {
        pair(L::work(&mut self.own, lent), &self.policy, &self.norm)
    }

    /// [`Trainer::revert`] with lent working storage. A layout that keeps
    /// no V_old ([`Layout::KEEPS_VALUE`]) keeps the value function, carried
    /// back to the restored normalisation.
    pub fn revert_lent(&mut self, lent: &mut L::Lent) {
        let w = L::work(&mut self.own, lent);
        w.old_policy.restore(&mut self.policy);
        if L::KEEPS_VALUE {
            w.old_value.restore(&mut self.value);
        } else if self.norm != w.old_norm {
            carry_over_learned(&self.norm, &w.old_norm, &mut self.value);
        }
        self.norm = w.old_norm;
    }

    /// [`Trainer::halve_towards_previous`] with lent working storage.
    pub fn halve_towards_previous_lent(&mut self, lent: &mut L::Lent) {
        L::work(&mut self.own, lent)
            .old_policy
            .lerp_back(&mut self.policy, 0.5);
    }

    /// [`Trainer::spare_policy`]: the lent working storage's gradient
    /// buffer.
    pub fn spare_policy_lent<'a>(&'a mut self, lent: &'a mut L::Lent) -> &'a mut Policy<O, H, A> {
        &mut L::work(&mut self.own, lent).grad_policy
    }

    /// [`Trainer::spare`] with lent working storage.
    pub fn spare_lent<'a>(&'a self, lent: &'a L::Lent) -> &'a Policy<O, H, A> {
        &L::work_ref(&self.own, lent).grad_policy
    }

    /// [`Trainer::update_with_norm`] with lent working storage (`lent`
    /// must be the storage of the calls that follow about this update:
    /// [`Trainer::previous_and_current_lent`],
    /// [`Trainer::revert_lent`]…).
    ///
    /// # Errors
    /// As [`Trainer::update_with_norm`].
    pub fn update_lent<R: RngCore + ?Sized, B: Backend<O, H, A>>(
        &mut self,
        lent: &mut L::Lent,
        batch: &mut [Transition<O, A>],
        cfg: &Config,
        next_norm: &ObsNorm<O>,
        rng: &mut R,
        backend: &mut B,
    ) -> Result<UpdateReport, UpdateError> {
        cfg.validate()?;
        if batch.is_empty() {
            return Err(UpdateError::EmptyBatch);
        }
        for (i, t) in batch.iter().enumerate() {
            let finite = t.obs.iter().chain(&t.action).all(|x| x.is_finite())
                && t.advantage.is_finite()
                && t.ret.is_finite()
                && t.value.is_finite();
            if !finite {
                return Err(UpdateError::NonFiniteInput { index: i });
            }
        }
        let w = L::work(&mut self.own, lent);
        w.old_policy.save(&self.policy);
        w.old_value.save(&self.value);
        w.old_norm = self.norm;
        let (beta0, beta_opt0) = (self.beta, self.beta_opt);
        let result = self.run(lent, batch, cfg, next_norm, rng, backend);
        if result.is_err() {
            self.revert_lent(lent);
            self.beta = beta0;
            self.beta_opt = beta_opt0;
        }
        result
    }

    fn run<R: RngCore + ?Sized, B: Backend<O, H, A>>(
        &mut self,
        lent: &mut L::Lent,
        batch: &mut [Transition<O, A>],
        cfg: &Config,
        next_norm: &ObsNorm<O>,
        rng: &mut R,
        backend: &mut B,
    ) -> Result<UpdateReport, UpdateError> {
        // The policy is still π_old, and the normalisation its own, here.
        let old_ls = self.policy.log_std;
        // π_old's distribution at every state, from its own parameters and
        // normalisation, so the guarantee is relative to the policy that
        // acted.
        backend.old_outputs(&self.policy, &self.norm, batch);
        for t in batch.iter() {
            if !(t.old_out.iter().all(|x| x.is_finite()) && t.old_logp.is_finite()) {
                return Err(UpdateError::NonFiniteOutput);
            }
        }
        let (mut input, mut input_old) = (InputBound::EMPTY, InputBound::EMPTY);
        for t in batch.iter() {
            input_old.add(&self.norm.apply(&t.obs));
            input.add(&next_norm.apply(&t.obs));
        }
        let mut chk = Check {
            old_log_std: old_ls,
            delta_old: trust::forward_error(&self.policy.net, &input_old),
            input,
            input_old,
            last_t: None,
        };
        // Move both networks to the new normalisation.
        carry_over_learned(&self.norm, next_norm, &mut self.policy.net);
        carry_over_learned(&self.norm, next_norm, &mut self.value);
        self.norm = *next_norm;

        let mut rep = UpdateReport::default();
        let (mut sum_pl, mut sum_vl, mut sum_ent, mut sum_gn) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        let (mut clipped, mut seen) = (0u64, 0u64);
        let mut fixup_steps_left = cfg.max_fixup_steps;
        // The batch statistics of the current policy, when a fixup phase
        // has just measured them without moving it.
        let mut measured = None;

        for epoch in 0..cfg.epochs {
            rng::shuffle(rng, batch);
            for mb in batch.chunks(cfg.minibatch) {
                let (adv_mean, adv_scale) = if cfg.norm_adv {
                    adv_moments(mb)
                } else {
                    (0.0, 1.0)
                };
                let c = Coeffs {
                    algo: cfg.algo,
                    beta: if cfg.algo == Algo::PpoClip {
                        0.0
                    } else {
                        self.beta
                    },
                    vf_coef: cfg.vf_coef,
                    vf_clip: cfg.vf_clip,
                    ent_coef: cfg.ent_coef,
                    clip_ratio: cfg.clip_ratio,
                    adv_mean,
                    adv_scale,
                };
                let (st, gn) = self.primary_step(lent, cfg, backend, &old_ls, mb, &c)?;
                chk.last_t = None;
                rep.reverted = false;
                rep.primary_grad_steps += 1;
                sum_gn += gn;
                let inv = 1.0 / st.n.max(1) as f32;
                sum_pl += st.sum_policy_loss * inv;
                sum_vl += st.sum_value_loss * inv;
                sum_ent += st.sum_entropy * inv;
                clipped += st.clipped as u64;
                seen += st.n as u64;
                if matches!(cfg.algo, Algo::Fixpo | Algo::FixpoNoFixup) {
                    self.beta_step(cfg, st.max_kl);
                }
            }
            measured = None;
            let last = epoch + 1 == cfg.epochs;
            if cfg.fixup_enabled() && (last || cfg.fixup_schedule == FixupSchedule::EveryEpoch) {
                measured = Some(self.fixup(
                    lent,
                    batch,
                    cfg,
                    backend,
                    &mut rep,
                    &mut chk,
                    &mut fixup_steps_left,
                )?);
            }
        }

        let steps = rep.primary_grad_steps.max(1) as f32;
        rep.policy_loss = sum_pl / steps;
        rep.value_loss = sum_vl / steps;
        rep.entropy = sum_ent / steps;
        rep.grad_norm = sum_gn / steps;
        rep.clip_frac = clipped as f32 / seen.max(1) as f32;

        // Final trust-region statistics over the whole batch (the fixup
        // phase measured exactly these when it ran last).
        let st = match measured {
            Some(st) => st,
            None => self.batch_kl(batch, cfg, backend, &chk),
        };
        rep.max_kl = st.max_kl;
        rep.mean_kl = st.sum_kl / st.n.max(1) as f32;
        rep.backtrack_t = chk.last_t.unwrap_or(1.0);
        if cfg.algo == Algo::KlPenalty {
            // Schulman et al. (2017): halve or double β around the target.
            if rep.mean_kl < cfg.kl_target / 1.5 {
                self.beta *= 0.5;
            } else if rep.mean_kl > cfg.kl_target * 1.5 {
                self.beta *= 2.0;
            }
            self.beta = self.beta.clamp(1e-6, cfg.beta_max);
        }
        rep.beta = self.beta;
        if !(self.policy.all_finite() && self.value.all_finite()) {
            return Err(UpdateError::Diverged);
        }
        Ok(rep)
    }

    /// One primary-phase step on the minibatch `mb`: the loss gradients of
    /// both networks, clipped together, and an Adam step of each. Returns
    /// the minibatch statistics and the joint gradient norm before
    /// clipping.
    fn primary_step<B: Backend<O, H, A>>(
        &mut self,
        lent: &mut L::Lent,
        cfg: &Config,
        backend: &mut B,
        old_ls: &[f32; A],
        mb: &[Transition<O, A>],
        c: &Coeffs,
    ) -> Result<(MbStats, f32), UpdateError> {
        let (scope, n) = (self.scope_in_force(), mb.len());
        let w = L::work(&mut self.own, lent);
        match L::grads(&mut w.grad_policy, &mut w.grad_value) {
            Grads::Two(gp, gv) => {
                gp.fill_zero();
                gv.fill_zero();
                let st = backend.primary_grads(
                    &self.policy,
                    &self.value,
                    &self.norm,
                    old_ls,
                    mb,
                    n,
                    c,
                    gp,
                    gv,
                );
                Ok((st, self.apply_grads(lent, cfg, true)?))
            }
            Grads::One(gp, as_value) => {
                let (st, gn) = one_buffer_step::<O, H, A, L, B>(
                    backend,
                    (&mut self.policy, &mut self.policy_opt),
                    (&mut self.value, &mut self.value_opt),
                    &self.norm,
                    (gp, as_value),
                    (scope, old_ls, mb, c, cfg),
                )?;
                self.finish_step()?;
                Ok((st, gn))
            }
        }
    }

    /// One fixup-phase step: the KL gradient accumulated in the policy
    /// gradient buffer, clipped, and an Adam step of the policy at the
    /// learning rate `cfg.lr`. Returns the gradient norm before clipping.
    pub(super) fn policy_step(
        &mut self,
        lent: &mut L::Lent,
        cfg: &Config,
    ) -> Result<f32, UpdateError> {
        self.apply_grads(lent, cfg, false)
    }

    /// Clips and applies the accumulated gradients (the value function's
    /// too when `with_value`, which needs a layout with two buffers);
    /// returns the norm before clipping. Not inlined: one copy for the
    /// primary and the fixup steps, and its frame off the kernels'.
    #[inline(never)]
    fn apply_grads(
        &mut self,
        lent: &mut L::Lent,
        cfg: &Config,
        with_value: bool,
    ) -> Result<f32, UpdateError> {
        let (scope, kind) = (self.scope_in_force(), self.policy.kind);
        let w = L::work(&mut self.own, lent);
        let gn = match L::grads(&mut w.grad_policy, &mut w.grad_value) {
            Grads::Two(gp, gv) if with_value => {
                mask_policy_grad(scope, kind, gp);
                mask_value_grad(scope, gv);
                let gn = clip_global_norm(gp, gv, cfg.max_grad_norm);
                check_norm(gn)?;
                step(&mut self.policy_opt, &mut self.policy, gp, cfg)?;
                step(&mut self.value_opt, &mut self.value, gv, cfg)?;
                gn
            }
            Grads::Two(gp, _) | Grads::One(gp, _) => {
                mask_policy_grad(scope, kind, gp);
                // The norm the joint clip gives with a zero value gradient.
                let gn = libm::sqrtf(gp.sum_sq());
                check_norm(gn)?;
                if let Some(f) = clip_factor(gn, cfg.max_grad_norm) {
                    gp.scale(f);
                }
                step(&mut self.policy_opt, &mut self.policy, gp, cfg)?;
                gn
            }
        };
        self.finish_step()?;
        Ok(gn)
    }

    /// After the Adam steps: the log-std clamp and the finiteness check.
    fn finish_step(&mut self) -> Result<(), UpdateError> {
        if self.policy.kind == PolicyKind::Gaussian {
            let (lo, hi) = LOG_STD_RANGE;
            self.policy
                .log_std
                .iter_mut()
                .for_each(|l| *l = l.clamp(lo, hi));
        }
        if !(self.policy.all_finite() && self.value.all_finite()) {
            return Err(UpdateError::Diverged);
        }
        Ok(())
    }

    /// One step of the β controller on L_β = β·(ε_KL − C_β·max KL), then
    /// the clamp to [0, β_max].
    pub(super) fn beta_step(&mut self, cfg: &Config, max_kl: f32) {
        let g = cfg.eps_kl - cfg.c_beta * max_kl;
        if !g.is_finite() {
            self.beta = cfg.beta_max;
            return;
        }
        let d = self.beta_opt.delta(g, cfg.beta_lr, &cfg.adam);
        self.beta = (self.beta - d).clamp(0.0, cfg.beta_max);
    }
}

/// The calls of a layout that holds its own working storage ([`Full`],
/// [`Head`](super::Head)): the `*_lent` calls with nothing lent.
impl<const O: usize, const H: usize, const A: usize, L> Trainer<O, H, A, L>
where
    L: Layout<O, H, A, Lent = (), Own = Work<O, H, A, L>>,
{
    /// The policy and normalisation the last update started from: the
    /// behaviour policy whose trust region it kept (an independent checker
    /// compares it with the current one). Equal to the current pair after a
    /// revert or a refused update. A layout that keeps part of π_old
    /// rebuilds it, exactly, in the spare buffer ([`Trainer::spare`]),
    /// overwriting what that held.
    pub fn previous(&mut self) -> (&Policy<O, H, A>, &ObsNorm<O>) {
        self.previous_and_current().0
    }

    /// [`Trainer::previous`] and the current policy with its
    /// normalisation, for a checker that compares the two.
    #[allow(clippy::type_complexity)]
    pub fn previous_and_current(
        &mut self,
    ) -> (
        (&Policy<O, H, A>, &ObsNorm<O>),
        (&Policy<O, H, A>, &ObsNorm<O>),
    ) {
        pair(&mut self.own, &self.policy, &self.norm)
    }

    /// Goes back to the policy, normalisation and value function the last
    /// update started from ([`Trainer::previous`]): for a caller whose own
    /// check refuses the update. β and the optimisers' moments keep what
    /// the update did.
    pub fn revert(&mut self) {
        self.revert_lent(&mut ());
    }

    /// Moves the policy halfway back to the one the last update started
    /// from, parameter by parameter (θ ← θ + ½·(θ_old − θ)), keeping the
    /// current normalisation: one step of a caller's own backtracking along
    /// the update's segment (the adaptation round's cumulative bound,
    /// `adapt::Total`). Whatever it yields must be checked again.
    pub fn halve_towards_previous(&mut self) {
        self.halve_towards_previous_lent(&mut ());
    }

    /// A policy-sized buffer the trainer leaves idle between updates (the
    /// update's gradient buffer; the next update, and [`Trainer::previous`]
    /// with a partial layout, overwrite it): room for a third policy
    /// without more RAM, such as the factory policy the adaptation round
    /// checks drift against.
    pub fn spare_policy(&mut self) -> &mut Policy<O, H, A> {
        &mut self.own.grad_policy
    }

    /// What [`Trainer::spare_policy`] holds.
    pub fn spare(&self) -> &Policy<O, H, A> {
        &self.own.grad_policy
    }

    /// One update on `batch` with the serial backend, keeping the current
    /// normalisation. See [`Trainer::update_with_norm`].
    ///
    /// # Errors
    /// As [`Trainer::update_with_norm`].
    pub fn update<R: RngCore + ?Sized>(
        &mut self,
        batch: &mut [Transition<O, A>],
        cfg: &Config,
        rng: &mut R,
    ) -> Result<UpdateReport, UpdateError> {
        let norm = self.norm;
        self.update_with_norm(batch, cfg, &norm, rng, &mut Serial)
    }

    /// One update on `batch`, keeping the current normalisation. See
    /// [`Trainer::update_with_norm`].
    ///
    /// # Errors
    /// As [`Trainer::update_with_norm`].
    pub fn update_with<R: RngCore + ?Sized, B: Backend<O, H, A>>(
        &mut self,
        batch: &mut [Transition<O, A>],
        cfg: &Config,
        rng: &mut R,
        backend: &mut B,
    ) -> Result<UpdateReport, UpdateError> {
        let norm = self.norm;
        self.update_with_norm(batch, cfg, &norm, rng, backend)
    }

    /// One update on `batch` (raw observations collected by the current
    /// policy with [`Trainer::norm`]; shuffled in place, `old_out`/`old_logp`
    /// filled in) that also moves the policy to the normalisation
    /// `next_norm` (the statistics merged from this batch, say).
    ///
    /// The networks are first carried over to `next_norm`
    /// ([`ObsNorm::carry_over`]), then trained under it. For
    /// [`Algo::Fixpo`], on `Ok` the returned pair (policy, [`Trainer::norm`])
    /// satisfies, at every raw observation of the batch and in exact
    /// arithmetic of the stored values,
    /// D_KL(π_old with its normalisation ‖ π_new with its normalisation)
    /// ≤ `cfg.eps_kl`: every acceptance goes through the certified bound of
    /// [`crate::trust`]. If nothing else passes, the update returns the
    /// behaviour policy and its normalisation unchanged
    /// ([`UpdateReport::reverted`]), where the divergence is exactly 0.
    ///
    /// # Errors
    /// [`UpdateError`] when the configuration or the batch is unusable or
    /// the maths leaves the finite range; the policy, its normalisation,
    /// the value function and β are then exactly as before the call (Adam
    /// moments keep the contributions of steps that completed; a layout
    /// without V_old keeps the value function's steps instead:
    /// [`Trainer::revert_lent`]).
    pub fn update_with_norm<R: RngCore + ?Sized, B: Backend<O, H, A>>(
        &mut self,
        batch: &mut [Transition<O, A>],
        cfg: &Config,
        next_norm: &ObsNorm<O>,
        rng: &mut R,
        backend: &mut B,
    ) -> Result<UpdateReport, UpdateError> {
        self.update_lent(&mut (), batch, cfg, next_norm, rng, backend)
    }
}

/// π_old (rebuilt in the gradient buffer when the layout keeps part of
/// it) with its normalisation, and the current pair.
#[allow(clippy::type_complexity)]
fn pair<'a, const O: usize, const H: usize, const A: usize, L: Layout<O, H, A>>(
    w: &'a mut Work<O, H, A, L>,
    policy: &'a Policy<O, H, A>,
    norm: &'a ObsNorm<O>,
) -> (
    (&'a Policy<O, H, A>, &'a ObsNorm<O>),
    (&'a Policy<O, H, A>, &'a ObsNorm<O>),
) {
    let old = w.old_policy.view(policy, &mut w.grad_policy);
    ((old, &w.old_norm), (policy, norm))
}

/// A primary step with one gradient buffer (the [`Grads::One`] half of
/// `Trainer::primary_step`, before the log-std clamp and the finiteness
/// check): the value gradient's share of the joint norm first, then the
/// policy's gradient and step, then the value gradient again for its
/// step: the numbers of the joint pass.
#[allow(clippy::type_complexity)]
fn one_buffer_step<const O: usize, const H: usize, const A: usize, L, B>(
    backend: &mut B,
    (policy, policy_opt): (&mut Policy<O, H, A>, &mut L::PolicyOpt),
    (value, value_opt): (&mut Value<O, H>, &mut L::ValueOpt),
    norm: &ObsNorm<O>,
    (gp, as_value): (
        &mut Policy<O, H, A>,
        fn(&mut Policy<O, H, A>) -> &mut Value<O, H>,
    ),
    (scope, old_ls, mb, c, cfg): (TrainScope, &[f32; A], &[Transition<O, A>], &Coeffs, &Config),
) -> Result<(MbStats, f32), UpdateError>
where
    L: Layout<O, H, A>,
    B: Backend<O, H, A>,
{
    let (kind, n) = (policy.kind, mb.len());
    gp.fill_zero();
    let sv = backend.value_grads(value, norm, mb, n, c, as_value(gp));
    mask_value_grad(scope, as_value(gp));
    let value_sq = as_value(gp).sum_sq();
    gp.fill_zero();
    let mut st = backend.policy_grads(policy, norm, old_ls, mb, n, c, gp);
    mask_policy_grad(scope, kind, gp);
    let gn = libm::sqrtf(gp.sum_sq() + value_sq);
    check_norm(gn)?;
    let clip = clip_factor(gn, cfg.max_grad_norm);
    if let Some(f) = clip {
        gp.scale(f);
    }
    step(policy_opt, policy, gp, cfg)?;
    gp.fill_zero();
    let gv = as_value(gp);
    backend.value_grads(value, norm, mb, n, c, gv);
    mask_value_grad(scope, gv);
    if let Some(f) = clip {
        gv.scale(f);
    }
    step(value_opt, value, gv, cfg)?;
    st.sum_value_loss = sv.sum_value_loss;
    st.n = sv.n;
    Ok((st, gn))
}

/// Zeroes what the scope does not train in a policy gradient (and the
/// log-std's, which a categorical policy does not have).
fn mask_policy_grad<const O: usize, const H: usize, const A: usize>(
    scope: TrainScope,
    kind: PolicyKind,
    gp: &mut Policy<O, H, A>,
) {
    if scope == TrainScope::Head {
        for k in Mlp::<O, H, A>::HIDDEN_SLICES {
            gp.net.slice_mut(k).fill(0.0);
        }
    }
    if kind == PolicyKind::Categorical {
        gp.log_std = [0.0; A];
    }
}

/// Zeroes what the scope does not train in a value gradient.
fn mask_value_grad<const O: usize, const H: usize>(scope: TrainScope, gv: &mut Value<O, H>) {
    if scope == TrainScope::Head {
        for k in Value::<O, H>::HIDDEN_SLICES {
            gv.slice_mut(k).fill(0.0);
        }
    }
}

/// A gradient norm that is NaN or +∞ (a NaN or ±∞ entry, or finite
/// entries whose squares overflow) gives no usable direction: this is the
/// gradient's finiteness check.
fn check_norm(gn: f32) -> Result<(), UpdateError> {
    if gn.is_finite() {
        Ok(())
    } else {
        Err(UpdateError::NonFiniteGradient)
    }
}

/// An Adam step of `params`; an optimiser that refuses it (it would have
/// left a parameter non-finite) makes the update diverge.
fn step<P, S: Optimiser<P>>(
    opt: &mut S,
    params: &mut P,
    grad: &P,
    cfg: &Config,
) -> Result<(), UpdateError> {
    if opt.step(params, grad, cfg.lr, &cfg.adam) {
        Ok(())
    } else {
        Err(UpdateError::Diverged)
    }
}

/// Re-expresses `net`, acting with `from`, for `to`
/// ([`ObsNorm::carry_over`]): a learned function of the raw observation is
/// kept across a change of statistics. Not when either side has empty
/// statistics (count 0, the identity of [`ObsNorm::NEW`]): an
/// initialisation was made for normalised inputs, and carrying it over from
/// the identity would rescale its first layer by the raw observations'
/// spread and undo what normalising is for.
pub(super) fn carry_over_learned<const O: usize, const H: usize, const M: usize>(
    from: &ObsNorm<O>,
    to: &ObsNorm<O>,
    net: &mut Mlp<O, H, M>,
) {
    if from.stats.count > 0.0 && to.stats.count > 0.0 {
        from.carry_over(to, net);
    }
}

fn adv_moments<const O: usize, const A: usize>(mb: &[Transition<O, A>]) -> (f32, f32) {
    let n = mb.len().max(1) as f32;
    let mean = mb.iter().map(|t| t.advantage).sum::<f32>() / n;
    let var = mb
        .iter()
        .map(|t| (t.advantage - mean) * (t.advantage - mean))
        .sum::<f32>()
        / n;
    (mean, 1.0 / (libm::sqrtf(var) + 1e-8))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Pcg32, normal};

    /// A head-only update moves the output layers (and the log-std) and
    /// leaves every hidden-layer number of both networks bit for bit.
    #[test]
    fn head_scope_trains_only_the_output_layers() {
        let mut rng = Pcg32::seed_from_u64(5);
        let mut t = Trainer::<3, 8, 1>::zero(PolicyKind::Gaussian, 1.0);
        t.init(&mut rng, -0.5, 1.0);
        t.scope = TrainScope::Head;
        let mut batch = [Transition::<3, 1>::ZERO; 64];
        for tr in batch.iter_mut() {
            tr.obs = core::array::from_fn(|_| normal(&mut rng));
            tr.action = [normal(&mut rng)];
            tr.advantage = normal(&mut rng);
            tr.value = normal(&mut rng);
            tr.ret = tr.value + tr.advantage;
        }
        let cfg = Config {
            epochs: 2,
            minibatch: 16,
            fixup_minibatch: 32,
            ..Config::REFERENCE
        };
        let (policy0, value0) = (t.policy, t.value);
        let rep = t.update(&mut batch, &cfg, &mut rng).expect("update");
        assert!(rep.primary_grad_steps > 0 && !rep.reverted);
        for k in Mlp::<3, 8, 1>::HIDDEN_SLICES {
            assert_eq!(
                t.policy.net.slice(k),
                policy0.net.slice(k),
                "policy slice {k}"
            );
            assert_eq!(t.value.slice(k), value0.slice(k), "value slice {k}");
        }
        assert_ne!(t.policy.net.w3, policy0.net.w3);
        assert_ne!(t.value.w3, value0.w3);
    }
}
