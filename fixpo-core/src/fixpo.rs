//! The FixPO update: a primary phase of KL-penalised policy-gradient steps
//! with β tuned as a Lagrange multiplier, then a fixup phase of KL-only steps
//! until D_KL(π_old ‖ π_new) ≤ ε_KL at every state of the batch.
//!
//! Beyond the paper, the fixup phase here is bounded (β ≤ β_max, step cap,
//! learning-rate halving on plateau) and, should the bound still fail, the
//! policy is moved back along θ_old + t·(θ − θ_old), halving t until every
//! state satisfies the bound (t = 0 is θ_old itself, where every KL is
//! exactly 0). So [`Trainer::update`] always returns a policy inside the
//! trust region, in bounded work, and says in its [`UpdateReport`] how.
//!
//! The same code runs the ablations: FixPO without the fixup phase, PPO-clip
//! and the adaptive-KL-penalty PPO, selected by [`Algo`].

use crate::dist::{self, HeadGrad, PolicyKind};
use crate::mlp::{BLOCK, BlockKernels, MlpBlock, Portable};
use crate::norm::ObsNorm;
use crate::optim::{Adam, AdamConfig, ScalarAdam, clip_global_norm};
use crate::params::Params;
use crate::policy::{Policy, Value};
use crate::rng;
use crate::trust::{self, InputBound, KlBound};
use rand_core::RngCore;

/// One step of experience, as the update consumes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition<const O: usize, const A: usize> {
    /// The raw observation the behaviour policy acted on (each policy
    /// normalises it with its own [`ObsNorm`]).
    pub obs: [f32; O],
    /// The sampled action before clipping to the task's bounds (one-hot for
    /// categorical policies).
    pub action: [f32; A],
    /// Advantage estimate Â.
    pub advantage: f32,
    /// Value target R (advantage + value).
    pub ret: f32,
    /// V_old(obs) at collection time (used by value clipping).
    pub value: f32,
    /// π_old's output at `obs` (with π_old's normalisation); filled in by
    /// the update.
    pub old_out: [f32; A],
    /// log π_old(action | obs); filled in by the update.
    pub old_logp: f32,
}

impl<const O: usize, const A: usize> Transition<O, A> {
    /// An all-zero transition (for initialising static buffers).
    pub const ZERO: Self = Self {
        obs: [0.0; O],
        action: [0.0; A],
        advantage: 0.0,
        ret: 0.0,
        value: 0.0,
        old_out: [0.0; A],
        old_logp: 0.0,
    };
}

/// Which policy-optimisation rule the update applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Algo {
    /// FixPO: primary phase + fixup phase; the trust region is guaranteed.
    Fixpo,
    /// FixPO's primary phase alone (the paper's ablation).
    #[cfg_attr(feature = "serde", serde(rename = "fixpo-nofixup"))]
    FixpoNoFixup,
    /// PPO with the clipped surrogate objective.
    PpoClip,
    /// PPO with an adaptive KL penalty (β doubled/halved around a target).
    KlPenalty,
}

impl Algo {
    /// The name used on the command line and in files.
    pub const fn name(self) -> &'static str {
        match self {
            Algo::Fixpo => "fixpo",
            Algo::FixpoNoFixup => "fixpo-nofixup",
            Algo::PpoClip => "ppo-clip",
            Algo::KlPenalty => "kl-penalty",
        }
    }

    /// Every rule, for parsing and listing.
    pub const ALL: [Self; 4] = [
        Algo::Fixpo,
        Algo::FixpoNoFixup,
        Algo::PpoClip,
        Algo::KlPenalty,
    ];

    /// Parses [`Algo::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// When the fixup phase runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum FixupSchedule {
    /// After every primary epoch (the reference default).
    EveryEpoch,
    /// Once, after the last primary epoch.
    End,
}

impl FixupSchedule {
    /// Every schedule, for parsing and listing.
    pub const ALL: [Self; 2] = [Self::EveryEpoch, Self::End];

    /// The name used on the command line and in files.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EveryEpoch => "every-epoch",
            Self::End => "end",
        }
    }

    /// Parses [`FixupSchedule::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// Hyperparameters of one update. [`Config::REFERENCE`] holds the paper's
/// MuJoCo settings.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Config {
    /// The update rule.
    pub algo: Algo,
    /// Primary epochs E over the batch.
    pub epochs: u32,
    /// Primary minibatch size B.
    pub minibatch: usize,
    /// Fixup minibatch size B_fix.
    pub fixup_minibatch: usize,
    /// Adam learning rate for this update (the caller applies any schedule).
    pub lr: f32,
    /// Adam moments and ε.
    pub adam: AdamConfig,
    /// Global gradient-norm clip (≤ 0 disables).
    pub max_grad_norm: f32,
    /// Trust-region radius ε_KL on D_KL(π_old ‖ π_new) at every state.
    pub eps_kl: f32,
    /// C_β: the primary phase aims at max KL ≈ ε_KL / C_β.
    pub c_beta: f32,
    /// Adam learning rate γ_β of the β controller.
    pub beta_lr: f32,
    /// Upper clamp β_max on β.
    pub beta_max: f32,
    /// Value-loss coefficient c_vf.
    pub vf_coef: f32,
    /// Value clipping range around V_old (≤ 0 disables).
    pub vf_clip: f32,
    /// Entropy bonus coefficient c_ent.
    pub ent_coef: f32,
    /// Normalise advantages per minibatch.
    pub norm_adv: bool,
    /// When the fixup phase runs.
    pub fixup_schedule: FixupSchedule,
    /// Cap on fixup passes over the batch per fixup phase.
    pub max_fixup_passes: u32,
    /// Cap on fixup gradient steps per update.
    pub max_fixup_steps: u32,
    /// Cap on halvings of t when backtracking (then t = 0).
    pub max_backtracks: u32,
    /// PPO-clip ratio range ε_clip.
    pub clip_ratio: f32,
    /// Target mean KL of the adaptive-KL-penalty rule.
    pub kl_target: f32,
}

impl Config {
    /// The reference implementation's MuJoCo settings (lr is the initial
    /// value; callers decay it linearly).
    pub const REFERENCE: Self = Self {
        algo: Algo::Fixpo,
        epochs: 10,
        minibatch: 512,
        fixup_minibatch: 1024,
        lr: 3e-4,
        adam: AdamConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-5,
        },
        max_grad_norm: 0.5,
        eps_kl: 0.5,
        c_beta: 2.0,
        beta_lr: 0.01,
        beta_max: 1e4,
        vf_coef: 0.1,
        vf_clip: 0.2,
        ent_coef: 0.0,
        norm_adv: false,
        fixup_schedule: FixupSchedule::EveryEpoch,
        // Phases that need more passes rarely converge at all (Adam's second
        // moments from the primary phase make fixup steps small); failing
        // fast to the forward-only backtracking is cheaper.
        max_fixup_passes: 16,
        max_fixup_steps: 2048,
        max_backtracks: 24,
        clip_ratio: 0.2,
        kl_target: 0.01,
    };

    /// Checks every field.
    ///
    /// # Errors
    /// [`UpdateError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), UpdateError> {
        let pos = |x: f32| x.is_finite() && x > 0.0;
        let nonneg = |x: f32| x.is_finite() && x >= 0.0;
        let unit = |x: f32| (0.0..1.0).contains(&x);
        // Every field's condition, in declaration order; the first that
        // fails is reported.
        let checks = [
            (self.epochs > 0, "epochs"),
            (self.minibatch > 0, "minibatch"),
            (self.fixup_minibatch > 0, "fixup_minibatch"),
            (nonneg(self.lr), "lr"),
            (
                unit(self.adam.beta1) && unit(self.adam.beta2) && pos(self.adam.eps),
                "adam",
            ),
            (self.max_grad_norm.is_finite(), "max_grad_norm"),
            (pos(self.eps_kl), "eps_kl"),
            (pos(self.c_beta), "c_beta"),
            (nonneg(self.beta_lr), "beta_lr"),
            (pos(self.beta_max), "beta_max"),
            (nonneg(self.vf_coef), "vf_coef"),
            (self.vf_clip.is_finite(), "vf_clip"),
            (nonneg(self.ent_coef), "ent_coef"),
            (pos(self.clip_ratio), "clip_ratio"),
            (pos(self.kl_target), "kl_target"),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some(&(_, field)) => Err(UpdateError::InvalidConfig { field }),
            None => Ok(()),
        }
    }

    fn fixup_enabled(&self) -> bool {
        self.algo == Algo::Fixpo
    }
}

/// Why an update was refused. In every case the policy, the value function
/// and β are exactly as they were before the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UpdateError {
    /// The batch holds no transitions.
    EmptyBatch,
    /// A configuration field is out of range.
    InvalidConfig {
        /// The field's name.
        field: &'static str,
    },
    /// An observation, action, advantage, return or value in the batch is
    /// NaN or infinite (index of the first such transition).
    NonFiniteInput {
        /// Index of the offending transition.
        index: usize,
    },
    /// The policy produced a non-finite output on the batch.
    NonFiniteOutput,
    /// A gradient became NaN or infinite during the update.
    NonFiniteGradient,
    /// The parameters left the finite range after a step.
    Diverged,
}

impl core::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::EmptyBatch => f.write_str("the batch is empty"),
            Self::InvalidConfig { field } => {
                write!(f, "configuration field `{field}` is out of range")
            }
            Self::NonFiniteInput { index } => {
                write!(f, "transition {index} holds a NaN or infinite number")
            }
            Self::NonFiniteOutput => f.write_str("the policy's output is not finite on this batch"),
            Self::NonFiniteGradient => {
                f.write_str("a gradient became NaN or infinite; parameters restored")
            }
            Self::Diverged => f.write_str("the parameters diverged; parameters restored"),
        }
    }
}

impl core::error::Error for UpdateError {}

/// What one update did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UpdateReport {
    /// Gradient steps in the primary phase.
    pub primary_grad_steps: u32,
    /// Gradient steps in the fixup phase(s).
    pub fixup_grad_steps: u32,
    /// Passes over the batch in the fixup phase(s), including the final
    /// clean pass.
    pub fixup_passes: u32,
    /// max over the batch's raw observations of the certified upper bound
    /// on D_KL(π_old ‖ π_new) (see [`crate::trust`]), between the behaviour
    /// policy with its normalisation and the returned policy with its
    /// normalisation; 0 when the update reverted to the behaviour policy.
    pub max_kl: f32,
    /// Mean over the batch of the same bound.
    pub mean_kl: f32,
    /// β after the update.
    pub beta: f32,
    /// The factor t of the backtracking θ_start + t·(θ − θ_start) that
    /// produced the returned parameters: 1 when gradient steps produced
    /// them (no backtracking, or later steps moved the policy after an
    /// earlier one), 0 when they are the start point itself.
    pub backtrack_t: f32,
    /// Fixup phases that ended by backtracking (each epoch's phase counts
    /// once).
    pub backtracks: u32,
    /// The returned policy is the behaviour policy, bit for bit, with the
    /// behaviour policy's normalisation (the update's last resort).
    pub reverted: bool,
    /// Mean policy surrogate loss over primary steps.
    pub policy_loss: f32,
    /// Mean value loss over primary steps.
    pub value_loss: f32,
    /// Mean policy entropy over primary steps.
    pub entropy: f32,
    /// Fraction of samples whose ratio was clipped (PPO-clip) or left
    /// [1−ε_clip, 1+ε_clip] (other rules, for comparison).
    pub clip_frac: f32,
    /// Mean gradient norm before clipping.
    pub grad_norm: f32,
}

/// Coefficients of the per-sample loss in one primary step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Coeffs {
    /// Update rule (selects the surrogate).
    pub algo: Algo,
    /// KL penalty weight (0 for PPO-clip).
    pub beta: f32,
    /// Value-loss weight.
    pub vf_coef: f32,
    /// Value clip range (≤ 0 off).
    pub vf_clip: f32,
    /// Entropy weight.
    pub ent_coef: f32,
    /// PPO clip range.
    pub clip_ratio: f32,
    /// Advantage shift (mean) when normalising.
    pub adv_mean: f32,
    /// Advantage scale (1/std) when normalising.
    pub adv_scale: f32,
}

/// Sums a kernel returns over a minibatch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MbStats {
    /// Largest per-state KL seen (at the parameters before the step).
    pub max_kl: f32,
    /// Sum of per-state KL.
    pub sum_kl: f32,
    /// Sum of per-sample surrogate losses.
    pub sum_policy_loss: f32,
    /// Sum of per-sample value losses.
    pub sum_value_loss: f32,
    /// Sum of per-sample entropies.
    pub sum_entropy: f32,
    /// Samples whose ratio left the clip range.
    pub clipped: u32,
    /// Samples seen.
    pub n: u32,
}

impl MbStats {
    /// Combines the stats of two disjoint sample sets.
    pub fn merge(&mut self, o: &Self) {
        self.max_kl = self.max_kl.max(o.max_kl);
        self.sum_kl += o.sum_kl;
        self.sum_policy_loss += o.sum_policy_loss;
        self.sum_value_loss += o.sum_value_loss;
        self.sum_entropy += o.sum_entropy;
        self.clipped += o.clipped;
        self.n += o.n;
    }
}

/// The minibatch computations of the update, as pure map-reduce functions
/// over samples. [`Serial`] runs them in one loop; a host may split a
/// minibatch across threads and add the parts, without touching the
/// algorithm (the default methods are the one implementation of the maths).
pub trait Backend<const O: usize, const H: usize, const A: usize> {
    /// Accumulates into `gp`/`gv` the primary-loss gradient of the samples
    /// `mb`, each weighted by `1/n` (`n` = the whole minibatch's size);
    /// both networks see each raw observation through `norm`.
    fn primary_grads(
        &mut self,
        policy: &Policy<O, H, A>,
        value: &Value<O, H>,
        norm: &ObsNorm<O>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
        n: usize,
        c: &Coeffs,
        gp: &mut Policy<O, H, A>,
        gv: &mut Value<O, H>,
    ) -> MbStats {
        primary_grads::<Portable, O, H, A>(policy, value, norm, old_log_std, mb, n, c, gp, gv)
    }

    /// Fills in `old_out` and `old_logp` of every transition from `old`
    /// acting with `norm`.
    fn old_outputs(
        &mut self,
        old: &Policy<O, H, A>,
        norm: &ObsNorm<O>,
        batch: &mut [Transition<O, A>],
    ) {
        old_outputs::<Portable, O, H, A>(old, norm, batch);
    }

    /// Max and sum over `mb` of the certified bound on D_KL(π_old ‖ π),
    /// π acting with `norm` (forward passes only).
    fn kl_stats(
        &mut self,
        policy: &Policy<O, H, A>,
        norm: &ObsNorm<O>,
        bound: &KlBound<A>,
        mb: &[Transition<O, A>],
    ) -> MbStats {
        kl_stats::<Portable, O, H, A>(policy, norm, bound, mb)
    }

    /// Accumulates into `gp` the gradient of `scale · Σ KL_i`.
    fn kl_grads(
        &mut self,
        policy: &Policy<O, H, A>,
        norm: &ObsNorm<O>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
        scale: f32,
        gp: &mut Policy<O, H, A>,
    ) -> MbStats {
        kl_grads::<Portable, O, H, A>(policy, norm, old_log_std, mb, scale, gp)
    }
}

/// Runs every kernel in a single loop on the calling thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct Serial;

impl<const O: usize, const H: usize, const A: usize> Backend<O, H, A> for Serial {}

/// The primary-phase loss of one sample and its gradient (see the module
/// docs for the loss): `L_i = surrogate_i + β·KL_i + c_vf·value_i − c_ent·H_i`,
/// every term divided by `n`.
///
/// `K` supplies the blocked passes' inner loops ([`Portable`] is the
/// reference; every implementation gives the same bits).
#[inline(always)]
pub fn primary_grads<K: BlockKernels, const O: usize, const H: usize, const A: usize>(
    policy: &Policy<O, H, A>,
    value: &Value<O, H>,
    norm: &ObsNorm<O>,
    old_log_std: &[f32; A],
    mb: &[Transition<O, A>],
    n: usize,
    c: &Coeffs,
    gp: &mut Policy<O, H, A>,
    gv: &mut Value<O, H>,
) -> MbStats {
    let inv_n = 1.0 / n.max(1) as f32;
    let kind = policy.kind;
    let mut st = MbStats::default();
    // Samples go through the networks BLOCK at a time; the blocked kernels
    // give the same bits as one sample at a time. One activation block
    // serves the policy, then the value function (small stacks matter on
    // a microcontroller).
    let mut blk = MlpBlock::ZERO;
    for chunk in mb.chunks(BLOCK) {
        for (s, t) in chunk.iter().enumerate() {
            blk.x[s] = norm.apply(&t.obs);
        }
        let outs = policy.net.forward_block_with::<K>(&mut blk);
        let mut d_out = [[0.0f32; A]; BLOCK];
        for ((t, out), d) in chunk.iter().zip(&outs).zip(&mut d_out) {
            let mut hg = HeadGrad::ZERO;

            // Surrogate: −r·Â (or PPO's clipped version).
            let adv = (t.advantage - c.adv_mean) * c.adv_scale;
            let logp = dist::log_prob(kind, out, &policy.log_std, &t.action);
            let ratio = libm::expf(logp - t.old_logp);
            let out_of_range = ratio < 1.0 - c.clip_ratio || ratio > 1.0 + c.clip_ratio;
            st.clipped += out_of_range as u32;
            let (loss, d_logp) = match c.algo {
                Algo::PpoClip => {
                    let clipped = ratio.clamp(1.0 - c.clip_ratio, 1.0 + c.clip_ratio);
                    let (s1, s2) = (ratio * adv, clipped * adv);
                    if s1 <= s2 {
                        (-s1, -ratio * adv)
                    } else {
                        (-s2, 0.0)
                    }
                }
                _ => (-ratio * adv, -ratio * adv),
            };
            st.sum_policy_loss += loss;
            dist::log_prob_grad(
                kind,
                out,
                &policy.log_std,
                &t.action,
                d_logp * inv_n,
                &mut hg,
            );

            // KL penalty β·KL(old‖new).
            let kl = dist::kl(kind, &t.old_out, old_log_std, out, &policy.log_std);
            st.max_kl = st.max_kl.max(kl);
            st.sum_kl += kl;
            if c.beta != 0.0 {
                dist::kl_grad(
                    kind,
                    &t.old_out,
                    old_log_std,
                    out,
                    &policy.log_std,
                    c.beta * inv_n,
                    &mut hg,
                );
            }

            // Entropy bonus −c_ent·H.
            st.sum_entropy += dist::entropy(kind, out, &policy.log_std);
            if c.ent_coef != 0.0 {
                dist::entropy_grad(kind, out, &policy.log_std, -c.ent_coef * inv_n, &mut hg);
            }

            *d = hg.d_out;
            if kind == PolicyKind::Gaussian {
                for i in 0..A {
                    gp.log_std[i] += hg.d_log_std[i];
                }
            }
        }
        policy
            .net
            .backward_block_with::<K>(&blk, &d_out, chunk.len(), &mut gp.net);

        // Value loss c_vf·(V − R)², optionally clipped around V_old.
        let vs = value.forward_block_with::<K>(&mut blk);
        let mut dv_out = [[0.0f32; 1]; BLOCK];
        for ((t, v), d) in chunk.iter().zip(&vs).zip(&mut dv_out) {
            let v = v[0];
            let e = v - t.ret;
            let (vloss, dv) = if c.vf_clip > 0.0 {
                let dv_raw = v - t.value;
                let vclip = t.value + dv_raw.clamp(-c.vf_clip, c.vf_clip);
                let ec = vclip - t.ret;
                if e * e >= ec * ec {
                    (e * e, 2.0 * e)
                } else if dv_raw.abs() < c.vf_clip {
                    (ec * ec, 2.0 * ec)
                } else {
                    (ec * ec, 0.0)
                }
            } else {
                (e * e, 2.0 * e)
            };
            st.sum_value_loss += vloss;
            *d = [c.vf_coef * dv * inv_n];
            st.n += 1;
        }
        value.backward_block_with::<K>(&blk, &dv_out, chunk.len(), gv);
    }
    st
}

/// Sets each transition's `old_out` (π_old's output at its observation)
/// and `old_logp` (log π_old of its action).
///
/// `K` supplies the blocked passes' inner loops ([`Portable`] is the
/// reference; every implementation gives the same bits).
#[inline(always)]
pub fn old_outputs<K: BlockKernels, const O: usize, const H: usize, const A: usize>(
    old: &Policy<O, H, A>,
    norm: &ObsNorm<O>,
    batch: &mut [Transition<O, A>],
) {
    let mut pb = MlpBlock::ZERO;
    for chunk in batch.chunks_mut(BLOCK) {
        for (s, t) in chunk.iter().enumerate() {
            pb.x[s] = norm.apply(&t.obs);
        }
        let outs = old.net.forward_block_with::<K>(&mut pb);
        for (t, out) in chunk.iter_mut().zip(outs) {
            t.old_out = out;
            t.old_logp = dist::log_prob(old.kind, &out, &old.log_std, &t.action);
        }
    }
}

/// Max and sum over `mb` of `bound`'s certified upper bound on
/// D_KL(π_old ‖ π), from each transition's stored `old_out` and π's output
/// at the transition's raw observation normalised by `norm`. The max is
/// rounded up to f32, so `max_kl ≤ ε` holds exactly when every state's
/// bound is ≤ ε; a non-finite output makes it +∞.
///
/// `K` supplies the blocked passes' inner loops ([`Portable`] is the
/// reference; every implementation gives the same bits).
#[inline(always)]
pub fn kl_stats<K: BlockKernels, const O: usize, const H: usize, const A: usize>(
    policy: &Policy<O, H, A>,
    norm: &ObsNorm<O>,
    bound: &KlBound<A>,
    mb: &[Transition<O, A>],
) -> MbStats {
    let mut st = MbStats::default();
    let mut max = 0.0f64;
    let mut pb = MlpBlock::ZERO;
    for chunk in mb.chunks(BLOCK) {
        for (s, t) in chunk.iter().enumerate() {
            pb.x[s] = norm.apply(&t.obs);
        }
        let outs = policy.net.forward_block_with::<K>(&mut pb);
        for (t, out) in chunk.iter().zip(&outs) {
            // +∞ for anything non-finite: a violation, never a pass.
            let b = bound.bound(&t.old_out, out);
            if b > max {
                max = b;
            }
            st.sum_kl += b as f32;
            st.n += 1;
        }
    }
    st.max_kl = trust::round_up(max);
    st
}

/// Accumulates into `gp` the gradient of `scale · Σ_i KL_i` over `mb`.
///
/// `K` supplies the blocked passes' inner loops ([`Portable`] is the
/// reference; every implementation gives the same bits).
#[inline(always)]
pub fn kl_grads<K: BlockKernels, const O: usize, const H: usize, const A: usize>(
    policy: &Policy<O, H, A>,
    norm: &ObsNorm<O>,
    old_log_std: &[f32; A],
    mb: &[Transition<O, A>],
    scale: f32,
    gp: &mut Policy<O, H, A>,
) -> MbStats {
    let mut st = MbStats::default();
    let mut pb = MlpBlock::ZERO;
    for chunk in mb.chunks(BLOCK) {
        for (s, t) in chunk.iter().enumerate() {
            pb.x[s] = norm.apply(&t.obs);
        }
        let outs = policy.net.forward_block_with::<K>(&mut pb);
        let mut d_out = [[0.0f32; A]; BLOCK];
        for ((t, out), d) in chunk.iter().zip(&outs).zip(&mut d_out) {
            let kl = dist::kl(policy.kind, &t.old_out, old_log_std, out, &policy.log_std);
            st.max_kl = st.max_kl.max(kl);
            st.sum_kl += kl;
            st.n += 1;
            let mut hg = HeadGrad::ZERO;
            dist::kl_grad(
                policy.kind,
                &t.old_out,
                old_log_std,
                out,
                &policy.log_std,
                scale,
                &mut hg,
            );
            *d = hg.d_out;
            if policy.kind == PolicyKind::Gaussian {
                for i in 0..A {
                    gp.log_std[i] += hg.d_log_std[i];
                }
            }
        }
        policy
            .net
            .backward_block_with::<K>(&pb, &d_out, chunk.len(), &mut gp.net);
    }
    st
}

/// Everything an update trains and the scratch space it needs, in one
/// fixed-size value (place it in a `static` on a microcontroller).
#[derive(Clone, Debug)]
pub struct Trainer<const O: usize, const H: usize, const A: usize> {
    /// The policy π.
    pub policy: Policy<O, H, A>,
    /// The value function V.
    pub value: Value<O, H>,
    /// The observation normalisation π and V act with: part of the
    /// deployed policy.
    pub norm: ObsNorm<O>,
    /// Adam state of the policy.
    pub policy_opt: Adam<Policy<O, H, A>>,
    /// Adam state of the value function.
    pub value_opt: Adam<Value<O, H>>,
    /// The KL penalty weight β.
    pub beta: f32,
    /// Adam state of the β controller.
    pub beta_opt: ScalarAdam,
    /// Which parameters the update may change.
    pub scope: TrainScope,
    // Scratch: π_old with its normalisation, V_old, gradients (the policy
    // gradient buffer also holds the candidate while backtracking, when no
    // gradient is live).
    old_policy: Policy<O, H, A>,
    old_norm: ObsNorm<O>,
    old_value: Value<O, H>,
    grad_policy: Policy<O, H, A>,
    grad_value: Value<O, H>,
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

/// What the trust-region check of one update needs besides the policy.
struct Check<const O: usize, const A: usize> {
    /// π_old's log-std.
    old_log_std: [f32; A],
    /// π_old's forward-pass error bound over the batch.
    delta_old: [f64; A],
    /// Bounds on the batch's network inputs under the current
    /// normalisation (`Trainer::norm`).
    input: InputBound<O>,
    /// The same under π_old's normalisation (in force after a revert).
    input_old: InputBound<O>,
    /// The factor of the backtracking that produced the current
    /// parameters; `None` once a gradient step has moved them since.
    last_t: Option<f32>,
}

impl<const O: usize, const H: usize, const A: usize> Trainer<O, H, A> {
    /// An all-zero trainer of the given kind with β = `beta0` and no
    /// normalisation statistics ([`ObsNorm::NEW`]); call [`Trainer::init`]
    /// or load parameters before training. `const`, so it can initialise a
    /// `static` without touching the stack.
    pub const fn zero(kind: PolicyKind, beta0: f32) -> Self {
        Self {
            norm: ObsNorm::NEW,
            beta: beta0,
            ..Self::zeroed(kind)
        }
    }

    /// Every number zero, β and the normalisation included (a `static` of
    /// it costs no flash: it lives in `.bss`). Set [`Trainer::norm`] before
    /// the first update: a zero variance and clip are not a usable
    /// normalisation.
    pub const fn zeroed(kind: PolicyKind) -> Self {
        let zero_norm = ObsNorm {
            stats: crate::norm::RunningMeanStd {
                mean: [0.0; O],
                var: [0.0; O],
                count: 0.0,
            },
            clip: 0.0,
        };
        Self {
            policy: Policy::zero(kind),
            value: Value::ZERO,
            norm: zero_norm,
            policy_opt: Adam {
                m: Policy::zero(kind),
                v: Policy::zero(kind),
                t: 0,
            },
            value_opt: Adam {
                m: Value::ZERO,
                v: Value::ZERO,
                t: 0,
            },
            beta: 0.0,
            beta_opt: ScalarAdam::NEW,
            scope: TrainScope::All,
            old_policy: Policy::zero(kind),
            old_norm: zero_norm,
            old_value: Value::ZERO,
            grad_policy: Policy::zero(kind),
            grad_value: Value::ZERO,
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

    /// The policy and normalisation the last update started from: the
    /// behaviour policy whose trust region it kept (an independent checker
    /// compares it with the current one). Equal to the current pair after a
    /// revert or a refused update.
    pub fn previous(&self) -> (&Policy<O, H, A>, &ObsNorm<O>) {
        (&self.old_policy, &self.old_norm)
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
    /// moments keep the contributions of steps that completed).
    pub fn update_with_norm<R: RngCore + ?Sized, B: Backend<O, H, A>>(
        &mut self,
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
        self.old_policy = self.policy;
        self.old_value = self.value;
        self.old_norm = self.norm;
        let (beta0, beta_opt0) = (self.beta, self.beta_opt);
        let result = self.run(batch, cfg, next_norm, rng, backend);
        if result.is_err() {
            self.policy = self.old_policy;
            self.value = self.old_value;
            self.norm = self.old_norm;
            self.beta = beta0;
            self.beta_opt = beta_opt0;
        }
        result
    }

    fn run<R: RngCore + ?Sized, B: Backend<O, H, A>>(
        &mut self,
        batch: &mut [Transition<O, A>],
        cfg: &Config,
        next_norm: &ObsNorm<O>,
        rng: &mut R,
        backend: &mut B,
    ) -> Result<UpdateReport, UpdateError> {
        let old_ls = self.old_policy.log_std;
        // π_old's distribution at every state, from its own parameters and
        // normalisation, so the guarantee is relative to the policy that
        // acted.
        backend.old_outputs(&self.old_policy, &self.old_norm, batch);
        for t in batch.iter() {
            if !(t.old_out.iter().all(|x| x.is_finite()) && t.old_logp.is_finite()) {
                return Err(UpdateError::NonFiniteOutput);
            }
        }
        let (mut input, mut input_old) = (InputBound::EMPTY, InputBound::EMPTY);
        for t in batch.iter() {
            input_old.add(&self.old_norm.apply(&t.obs));
            input.add(&next_norm.apply(&t.obs));
        }
        let mut chk = Check {
            old_log_std: old_ls,
            delta_old: trust::forward_error(&self.old_policy.net, &input_old),
            input,
            input_old,
            last_t: None,
        };
        // Move both networks to the new normalisation.
        self.norm = *next_norm;
        carry_over_learned(&self.old_norm, &self.norm, &mut self.policy.net);
        carry_over_learned(&self.old_norm, &self.norm, &mut self.value);

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
                self.grad_policy.fill_zero();
                self.grad_value.fill_zero();
                let st = backend.primary_grads(
                    &self.policy,
                    &self.value,
                    &self.norm,
                    &old_ls,
                    mb,
                    mb.len(),
                    &c,
                    &mut self.grad_policy,
                    &mut self.grad_value,
                );
                let gn = self.apply_grads(cfg, true)?;
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

    /// Clips and applies the accumulated gradients (value too when
    /// `with_value`); returns the norm before clipping.
    fn apply_grads(&mut self, cfg: &Config, with_value: bool) -> Result<f32, UpdateError> {
        if !with_value {
            self.grad_value.fill_zero();
        }
        if self.scope == TrainScope::Head {
            for k in 0..4 {
                self.grad_policy.slice_mut(k).fill(0.0);
                self.grad_value.slice_mut(k).fill(0.0);
            }
        }
        if self.policy.kind == PolicyKind::Categorical {
            self.grad_policy.log_std = [0.0; A];
        }
        if !(self.grad_policy.all_finite() && self.grad_value.all_finite()) {
            return Err(UpdateError::NonFiniteGradient);
        }
        let gn = clip_global_norm(
            &mut self.grad_policy,
            &mut self.grad_value,
            cfg.max_grad_norm,
        );
        if !gn.is_finite() {
            // Finite entries whose squares overflow: no usable direction.
            return Err(UpdateError::NonFiniteGradient);
        }
        self.policy_opt
            .step(&mut self.policy, &self.grad_policy, cfg.lr, &cfg.adam);
        if with_value {
            self.value_opt
                .step(&mut self.value, &self.grad_value, cfg.lr, &cfg.adam);
        }
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
        Ok(gn)
    }

    /// One step of the β controller on L_β = β·(ε_KL − C_β·max KL), then
    /// the clamp to [0, β_max].
    fn beta_step(&mut self, cfg: &Config, max_kl: f32) {
        let g = cfg.eps_kl - cfg.c_beta * max_kl;
        if !g.is_finite() {
            self.beta = cfg.beta_max;
            return;
        }
        let d = self.beta_opt.delta(g, cfg.beta_lr, &cfg.adam);
        self.beta = (self.beta - d).clamp(0.0, cfg.beta_max);
    }

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
    fn batch_kl<B: Backend<O, H, A>>(
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
    fn fixup<B: Backend<O, H, A>>(
        &mut self,
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
        for _pass in 0..cfg.max_fixup_passes {
            rep.fixup_passes += 1;
            let mut violated = false;
            let mut worst = 0.0f32;
            let mut all = MbStats::default();
            for mb in batch.chunks(cfg.fixup_minibatch) {
                // The bound depends on the parameters: rebuild it after
                // every step.
                let bound = self.bound(chk);
                let st = backend.kl_stats(&self.policy, &self.norm, &bound, mb);
                all.merge(&st);
                worst = worst.max(st.max_kl);
                if within_bound(st.max_kl, cfg.eps_kl) {
                    continue;
                }
                if !violated && !momentum_cleared {
                    // The primary phase's momentum points away from θ_old;
                    // carried into the fixup it first raises the KL. Clear
                    // the first moment once per phase (no extra memory).
                    self.policy_opt.m.fill_zero();
                    momentum_cleared = true;
                }
                violated = true;
                if *steps_left == 0 {
                    break;
                }
                self.grad_policy.fill_zero();
                let scale = self.beta.max(1e-3) / mb.len() as f32;
                let st = backend.kl_grads(
                    &self.policy,
                    &self.norm,
                    &old_ls,
                    mb,
                    scale,
                    &mut self.grad_policy,
                );
                self.apply_grads(&Config { lr, ..*cfg }, false)?;
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
        Ok(self.backtrack(batch, cfg, backend, rep, chk))
    }

    /// Sets the policy to the start of the segment backtracking searches:
    /// π_old carried over to the current normalisation.
    fn set_start(&mut self) {
        self.policy = self.old_policy;
        carry_over_learned(&self.old_norm, &self.norm, &mut self.policy.net);
    }

    /// Moves the policy to θ_start + t·(θ − θ_start) with t = ½, ¼, …, then
    /// t = 0, until every state's bound is within ε_KL; if none is, returns
    /// to the behaviour policy and its normalisation, where the divergence
    /// is exactly 0. Returns the batch statistics of the policy it leaves.
    fn backtrack<B: Backend<O, H, A>>(
        &mut self,
        batch: &[Transition<O, A>],
        cfg: &Config,
        backend: &mut B,
        rep: &mut UpdateReport,
        chk: &mut Check<O, A>,
    ) -> MbStats {
        rep.backtracks += 1;
        // The gradient buffer is idle here; it holds the candidate θ.
        self.grad_policy = self.policy;
        let mut t = 1.0f32;
        for k in 0..=cfg.max_backtracks {
            t = if k == cfg.max_backtracks {
                0.0
            } else {
                t * 0.5
            };
            self.set_start();
            self.policy.lerp_towards(&self.grad_policy, t);
            let st = self.batch_kl(batch, cfg, backend, chk);
            if within_bound(st.max_kl, cfg.eps_kl) {
                chk.last_t = Some(t);
                return st;
            }
        }
        // Last resort: the behaviour policy itself. The value function was
        // trained under the new normalisation: carry it back (when it was
        // carried over in the first place).
        carry_over_learned(&self.norm, &self.old_norm, &mut self.value);
        self.policy = self.old_policy;
        self.norm = self.old_norm;
        chk.input = chk.input_old;
        chk.last_t = Some(0.0);
        rep.reverted = true;
        MbStats {
            n: batch.len() as u32,
            ..MbStats::default()
        }
    }
}

/// Re-expresses `net`, acting with `from`, for `to`
/// ([`ObsNorm::carry_over`]): a learned function of the raw observation is
/// kept across a change of statistics. Not when either side has empty
/// statistics (count 0, the identity of [`ObsNorm::NEW`]): an
/// initialisation was made for normalised inputs, and carrying it over from
/// the identity would rescale its first layer by the raw observations'
/// spread and undo what normalising is for.
fn carry_over_learned<const O: usize, const H: usize, const M: usize>(
    from: &ObsNorm<O>,
    to: &ObsNorm<O>,
    net: &mut crate::mlp::Mlp<O, H, M>,
) {
    if from.stats.count > 0.0 && to.stats.count > 0.0 {
        from.carry_over(to, net);
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
