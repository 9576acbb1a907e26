//! The minibatch computations of the update as pure functions over samples:
//! the primary-phase loss and its gradient ([`primary_grads`]), π_old's
//! outputs ([`old_outputs`]), the certified KL bound over a minibatch
//! ([`kl_stats`]) and the fixup phase's KL gradient ([`kl_grads`]); and the
//! [`Backend`] trait through which the update calls them.

use super::{Algo, Transition};
use crate::dist::{self, HeadGrad, PolicyKind};
use crate::mlp::{BLOCK, BlockKernels, MlpBlock, Portable};
use crate::norm::ObsNorm;
use crate::policy::{Policy, Value};
use crate::trust::{self, KlBound};

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

    /// [`policy_grads`]: the policy's part of [`Backend::primary_grads`].
    fn policy_grads(
        &mut self,
        policy: &Policy<O, H, A>,
        norm: &ObsNorm<O>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
        n: usize,
        c: &Coeffs,
        gp: &mut Policy<O, H, A>,
    ) -> MbStats {
        policy_grads::<Portable, O, H, A>(policy, norm, old_log_std, mb, n, c, gp)
    }

    /// [`value_grads`]: the value function's part of
    /// [`Backend::primary_grads`].
    fn value_grads(
        &mut self,
        value: &Value<O, H>,
        norm: &ObsNorm<O>,
        mb: &[Transition<O, A>],
        n: usize,
        c: &Coeffs,
        gv: &mut Value<O, H>,
    ) -> MbStats {
        value_grads::<Portable, O, H, A>(value, norm, mb, n, c, gv)
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

/// Accumulates into `gp`/`gv` the gradient of the primary-phase loss
/// `(1/n)·Σ_i L_i` over the samples `i` of `mb`, and returns their
/// statistics, with `L_i = surrogate_i + β·KL_i + c_vf·value_i − c_ent·H_i`:
/// - `surrogate_i = −r_i·Â_i` with the ratio r_i = π(a_i|s_i)/π_old(a_i|s_i)
///   and Â_i the (optionally normalised) advantage; for PPO-clip, the
///   clipped `−min(r_i·Â_i, clip(r_i, 1 ± ε_clip)·Â_i)` instead;
/// - `KL_i = D_KL(π_old(·|s_i) ‖ π(·|s_i))` (β is 0 for PPO-clip);
/// - `value_i = (V(s_i) − R_i)²`, or with value clipping the larger of that
///   and the same with V clipped to V_old ± `vf_clip`;
/// - `H_i` is π's entropy at s_i.
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
    let mut st = MbStats::default();
    // Samples go through the networks BLOCK at a time; the blocked kernels
    // give the same bits as one sample at a time. One activation block
    // serves the policy, then the value function (small stacks matter on
    // a microcontroller).
    let mut blk = MlpBlock::ZERO;
    let norm = norm.normalizer();
    for chunk in mb.chunks(BLOCK) {
        for (s, t) in chunk.iter().enumerate() {
            blk.x[s] = norm.apply(&t.obs);
        }
        policy_chunk::<K, O, H, A>(policy, old_log_std, chunk, &mut blk, inv_n, c, gp, &mut st);
        value_chunk::<K, O, H, A>(value, chunk, &mut blk, inv_n, c, gv, &mut st);
    }
    st
}

/// The policy's part of [`primary_grads`] alone (surrogate, KL penalty,
/// entropy): the same bits in `gp` and the same statistics except the value
/// loss (0) and the sample count (0; [`value_grads`] counts). For a
/// trainer with one gradient buffer, which computes the two parts in turn.
#[inline(always)]
pub fn policy_grads<K: BlockKernels, const O: usize, const H: usize, const A: usize>(
    policy: &Policy<O, H, A>,
    norm: &ObsNorm<O>,
    old_log_std: &[f32; A],
    mb: &[Transition<O, A>],
    n: usize,
    c: &Coeffs,
    gp: &mut Policy<O, H, A>,
) -> MbStats {
    let inv_n = 1.0 / n.max(1) as f32;
    let mut st = MbStats::default();
    let mut blk = MlpBlock::ZERO;
    let norm = norm.normalizer();
    for chunk in mb.chunks(BLOCK) {
        for (s, t) in chunk.iter().enumerate() {
            blk.x[s] = norm.apply(&t.obs);
        }
        policy_chunk::<K, O, H, A>(policy, old_log_std, chunk, &mut blk, inv_n, c, gp, &mut st);
    }
    st
}

/// The value function's part of [`primary_grads`] alone: the same bits in
/// `gv`, the value-loss sum and the sample count.
#[inline(always)]
pub fn value_grads<K: BlockKernels, const O: usize, const H: usize, const A: usize>(
    value: &Value<O, H>,
    norm: &ObsNorm<O>,
    mb: &[Transition<O, A>],
    n: usize,
    c: &Coeffs,
    gv: &mut Value<O, H>,
) -> MbStats {
    let inv_n = 1.0 / n.max(1) as f32;
    let mut st = MbStats::default();
    let mut blk = MlpBlock::ZERO;
    let norm = norm.normalizer();
    for chunk in mb.chunks(BLOCK) {
        for (s, t) in chunk.iter().enumerate() {
            blk.x[s] = norm.apply(&t.obs);
        }
        value_chunk::<K, O, H, A>(value, chunk, &mut blk, inv_n, c, gv, &mut st);
    }
    st
}

/// The policy's loss and gradient over one block of samples whose
/// normalised observations are in `blk.x`.
#[inline(always)]
fn policy_chunk<K: BlockKernels, const O: usize, const H: usize, const A: usize>(
    policy: &Policy<O, H, A>,
    old_log_std: &[f32; A],
    chunk: &[Transition<O, A>],
    blk: &mut MlpBlock<O, H>,
    inv_n: f32,
    c: &Coeffs,
    gp: &mut Policy<O, H, A>,
    st: &mut MbStats,
) {
    let kind = policy.kind;
    let outs = policy.net.forward_block_with::<K>(blk);
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
        .backward_block_with::<K>(blk, &d_out, chunk.len(), &mut gp.net);
}

/// The value loss and gradient over one block of samples whose normalised
/// observations are in `blk.x` (the hidden activations are overwritten).
#[inline(always)]
fn value_chunk<K: BlockKernels, const O: usize, const H: usize, const A: usize>(
    value: &Value<O, H>,
    chunk: &[Transition<O, A>],
    blk: &mut MlpBlock<O, H>,
    inv_n: f32,
    c: &Coeffs,
    gv: &mut Value<O, H>,
    st: &mut MbStats,
) {
    // Value loss c_vf·(V − R)², optionally clipped around V_old.
    let vs = value.forward_block_with::<K>(blk);
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
    value.backward_block_with::<K>(blk, &dv_out, chunk.len(), gv);
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
    let norm = norm.normalizer();
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
    let gaussian = policy.kind == PolicyKind::Gaussian;
    // Gaussian: the largest f32 quadratic part (NaN sticks), made a
    // certified bound once at the end; categorical: the f64 bound per state.
    let mut max_quad = 0.0f32;
    let mut sum_quad = 0.0f32;
    let mut max = 0.0f64;
    let mut pb = MlpBlock::ZERO;
    let norm = norm.normalizer();
    for chunk in mb.chunks(BLOCK) {
        for (s, t) in chunk.iter().enumerate() {
            pb.x[s] = norm.apply(&t.obs);
        }
        let outs = policy.net.forward_block_with::<K>(&mut pb);
        for (t, out) in chunk.iter().zip(&outs) {
            if gaussian {
                let q = bound.quad(&t.old_out, out);
                if q > max_quad || q.is_nan() {
                    max_quad = q;
                }
                sum_quad += q;
            } else {
                // +∞ for anything non-finite: a violation, never a pass.
                let b = bound.bound(&t.old_out, out);
                if b > max {
                    max = b;
                }
                st.sum_kl += b as f32;
            }
            st.n += 1;
        }
    }
    if gaussian && st.n > 0 {
        max = bound.from_quad_max(max_quad);
        // The mean is a report, not a check: the sum of the states' f32
        // quadratic parts plus the common log-std part.
        let sum = (bound.from_quad_max(0.0) * st.n as f64 + sum_quad as f64) as f32;
        st.sum_kl = if sum.is_nan() { f32::INFINITY } else { sum };
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
    let norm = norm.normalizer();
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
