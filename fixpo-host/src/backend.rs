//! [`RayonBackend`]: the update's minibatch kernels split across cores.
//!
//! The core's update is written as map-reduce over the samples of a
//! minibatch ([`Backend`]). This backend cuts a minibatch into
//! [`CHUNKS`] contiguous pieces — a fixed number, independent of how many
//! threads run them — evaluates the core's own kernels on each piece in
//! parallel into per-piece buffers, and adds the pieces up in order. The
//! sums are therefore the same for any number of threads; they differ from
//! [`fixpo_core::Serial`]'s only by the order of floating-point additions.

use fixpo_core::fixpo::{Backend, Coeffs, MbStats, Transition, kl_grads, kl_stats, primary_grads};
use fixpo_core::params::Params;
use fixpo_core::policy::{Policy, Value};
use rayon::prelude::*;

/// Pieces a large minibatch is cut into.
pub const CHUNKS: usize = 8;

/// Minibatches smaller than this run serially (splitting does not pay).
pub const DEFAULT_PAR_MIN: usize = 128;

/// Per-piece gradient buffers.
#[derive(Clone)]
struct Part<const O: usize, const H: usize, const A: usize> {
    gp: Policy<O, H, A>,
    gv: Value<O, H>,
    st: MbStats,
}

/// Runs the core's minibatch kernels on [`CHUNKS`] pieces in parallel.
pub struct RayonBackend<const O: usize, const H: usize, const A: usize> {
    parts: Vec<Part<O, H, A>>,
    par_min: usize,
}

impl<const O: usize, const H: usize, const A: usize> RayonBackend<O, H, A> {
    /// A backend for policies of `kind` that parallelises minibatches of at
    /// least [`DEFAULT_PAR_MIN`] samples.
    pub fn new(kind: fixpo_core::PolicyKind) -> Self {
        Self::with_threshold(kind, DEFAULT_PAR_MIN)
    }

    /// A backend that parallelises minibatches of at least `par_min`
    /// samples (smaller ones run serially).
    pub fn with_threshold(kind: fixpo_core::PolicyKind, par_min: usize) -> Self {
        let part = Part {
            gp: Policy::zero(kind),
            gv: Value::ZERO,
            st: MbStats::default(),
        };
        Self {
            parts: vec![part; CHUNKS],
            par_min: par_min.max(CHUNKS),
        }
    }

    /// Runs `f` on each piece of `mb` in parallel; returns the number of
    /// pieces (their results are in `self.parts[..pieces]`, in order).
    fn map<F>(&mut self, mb: &[Transition<O, A>], f: F) -> usize
    where
        F: Fn(&mut Part<O, H, A>, &[Transition<O, A>]) + Sync,
    {
        let size = mb.len().div_ceil(CHUNKS);
        let pieces = mb.len().div_ceil(size);
        self.parts[..pieces]
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, part)| f(part, &mb[i * size..((i + 1) * size).min(mb.len())]));
        pieces
    }
}

impl<const O: usize, const H: usize, const A: usize> Backend<O, H, A> for RayonBackend<O, H, A> {
    fn primary_grads(
        &mut self,
        policy: &Policy<O, H, A>,
        value: &Value<O, H>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
        n: usize,
        c: &Coeffs,
        gp: &mut Policy<O, H, A>,
        gv: &mut Value<O, H>,
    ) -> MbStats {
        if mb.len() < self.par_min {
            return primary_grads(policy, value, old_log_std, mb, n, c, gp, gv);
        }
        let used = self.map(mb, |part, piece| {
            part.gp.fill_zero();
            part.gv.fill_zero();
            part.st = primary_grads(
                policy,
                value,
                old_log_std,
                piece,
                n,
                c,
                &mut part.gp,
                &mut part.gv,
            );
        });
        let mut st = MbStats::default();
        for part in &self.parts[..used] {
            gp.add_scaled(1.0, &part.gp);
            gv.add_scaled(1.0, &part.gv);
            st.merge(&part.st);
        }
        st
    }

    fn kl_stats(
        &mut self,
        policy: &Policy<O, H, A>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
    ) -> MbStats {
        if mb.len() < self.par_min {
            return kl_stats(policy, old_log_std, mb);
        }
        let used = self.map(mb, |part, piece| {
            part.st = kl_stats(policy, old_log_std, piece);
        });
        let mut st = MbStats::default();
        for part in &self.parts[..used] {
            st.merge(&part.st);
        }
        st
    }

    fn kl_grads(
        &mut self,
        policy: &Policy<O, H, A>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
        scale: f32,
        gp: &mut Policy<O, H, A>,
    ) -> MbStats {
        if mb.len() < self.par_min {
            return kl_grads(policy, old_log_std, mb, scale, gp);
        }
        let used = self.map(mb, |part, piece| {
            part.gp.fill_zero();
            part.st = kl_grads(policy, old_log_std, piece, scale, &mut part.gp);
        });
        let mut st = MbStats::default();
        for part in &self.parts[..used] {
            gp.add_scaled(1.0, &part.gp);
            st.merge(&part.st);
        }
        st
    }
}
