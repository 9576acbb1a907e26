//! [`RayonBackend`]: the update's minibatch kernels split across cores.
//!
//! The core's update is written as map-reduce over the samples of a
//! minibatch ([`Backend`]). This backend cuts a minibatch into
//! [`CHUNKS`] contiguous pieces — a fixed number, independent of how many
//! threads run them — evaluates the core's own kernels on each piece into
//! per-piece buffers, and adds the pieces up in order. The sums are
//! therefore the same for any number of threads; they differ from
//! [`fixpo_core::Serial`]'s only by the order of floating-point additions.
//!
//! Where the pieces run is a matter of speed only: a minibatch with
//! enough work ([`DEFAULT_SPAWN_MIN`]) runs its pieces in parallel, a
//! smaller one runs the same pieces one after another on the calling
//! thread (handing eight samples to another thread costs more than
//! computing them), with the same bits either way.

use crate::simd::{kl_grads, kl_stats, old_outputs, primary_grads};
use fixpo_core::fixpo::{Backend, Coeffs, MbStats, Transition};
use fixpo_core::norm::ObsNorm;
use fixpo_core::params::Params;
use fixpo_core::policy::{Policy, Value};
use fixpo_core::trust::KlBound;
use rayon::prelude::*;

/// Pieces a large minibatch is cut into.
pub const CHUNKS: usize = 8;

/// Minibatches smaller than this run serially as one piece (splitting
/// does not pay); the sums then follow the core's serial order.
pub const DEFAULT_PAR_MIN: usize = 32;

/// Work, in samples × network parameters a kernel touches per sample
/// (both networks for the primary gradients, the policy for the others),
/// from which a minibatch's pieces run across threads; below it they run
/// on the calling thread. A 64-sample Pendulum minibatch (3 → 32×32 → 1,
/// 2 × 1.2k parameters) is 0.16M and stays on the calling thread; a
/// 2048-state fixup check at that size is 2.5M, a 512-sample Hopper
/// minibatch 5.5M, and both run in parallel.
pub const DEFAULT_SPAWN_MIN: usize = 1 << 20;

/// Per-piece gradient buffers.
#[derive(Clone)]
struct Part<const O: usize, const H: usize, const A: usize> {
    gp: Policy<O, H, A>,
    gv: Value<O, H>,
    st: MbStats,
}

/// Runs the core's minibatch kernels on [`CHUNKS`] pieces, in parallel
/// when there is enough work.
pub struct RayonBackend<const O: usize, const H: usize, const A: usize> {
    parts: Vec<Part<O, H, A>>,
    par_min: usize,
    spawn_min: usize,
}

impl<const O: usize, const H: usize, const A: usize> RayonBackend<O, H, A> {
    /// A backend for policies of `kind` that cuts minibatches of at least
    /// [`DEFAULT_PAR_MIN`] samples into pieces, and runs the pieces in
    /// parallel from [`DEFAULT_SPAWN_MIN`] of work.
    pub fn new(kind: fixpo_core::PolicyKind) -> Self {
        Self::with_thresholds(kind, DEFAULT_PAR_MIN, DEFAULT_SPAWN_MIN)
    }

    /// A backend that cuts minibatches of at least `par_min` samples into
    /// pieces (smaller ones run serially as one piece) and runs the pieces
    /// in parallel from [`DEFAULT_SPAWN_MIN`] of work.
    pub fn with_threshold(kind: fixpo_core::PolicyKind, par_min: usize) -> Self {
        Self::with_thresholds(kind, par_min, DEFAULT_SPAWN_MIN)
    }

    /// A backend that cuts minibatches of at least `par_min` samples into
    /// pieces and runs the pieces in parallel when a kernel's work
    /// (samples × parameters touched per sample, see
    /// [`DEFAULT_SPAWN_MIN`]) is at least `spawn_min`, else one after
    /// another on the calling thread. Only `par_min` changes results.
    pub fn with_thresholds(kind: fixpo_core::PolicyKind, par_min: usize, spawn_min: usize) -> Self {
        let part = Part {
            gp: Policy::zero(kind),
            gv: Value::ZERO,
            st: MbStats::default(),
        };
        Self {
            parts: vec![part; CHUNKS],
            par_min: par_min.max(CHUNKS),
            spawn_min,
        }
    }

    /// Whether `samples` samples of a kernel touching `params` parameters
    /// each are worth running across threads.
    fn spawn(&self, samples: usize, params: usize) -> bool {
        samples.saturating_mul(params) >= self.spawn_min
    }

    /// Runs `f` on each piece of `mb` in parallel into the per-piece
    /// buffers; returns the number of pieces (their results are in
    /// `self.parts[..pieces]`, in order).
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

    /// Runs `f` on each piece of `mb` in order on the calling thread,
    /// with one scratch buffer that `fold` adds into the totals after each
    /// piece: the sums of [`Self::map`] followed by adding the parts in
    /// order, without touching eight buffers.
    fn fold<F, G>(&mut self, mb: &[Transition<O, A>], f: F, mut fold: G)
    where
        F: Fn(&mut Part<O, H, A>, &[Transition<O, A>]),
        G: FnMut(&Part<O, H, A>),
    {
        let size = mb.len().div_ceil(CHUNKS);
        let part = &mut self.parts[0];
        for piece in mb.chunks(size) {
            f(part, piece);
            fold(part);
        }
    }
}

impl<const O: usize, const H: usize, const A: usize> Backend<O, H, A> for RayonBackend<O, H, A> {
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
        if mb.len() < self.par_min {
            return primary_grads(policy, value, norm, old_log_std, mb, n, c, gp, gv);
        }
        let piece = |part: &mut Part<O, H, A>, piece: &[Transition<O, A>]| {
            part.gp.fill_zero();
            part.gv.fill_zero();
            part.st = primary_grads(
                policy,
                value,
                norm,
                old_log_std,
                piece,
                n,
                c,
                &mut part.gp,
                &mut part.gv,
            );
        };
        let mut st = MbStats::default();
        let add = |part: &Part<O, H, A>| {
            gp.add_scaled(1.0, &part.gp);
            gv.add_scaled(1.0, &part.gv);
            st.merge(&part.st);
        };
        let params = Policy::<O, H, A>::LEN + Value::<O, H>::LEN;
        if self.spawn(mb.len(), params) {
            let used = self.map(mb, piece);
            self.parts[..used].iter().for_each(add);
        } else {
            self.fold(mb, piece, add);
        }
        st
    }

    fn old_outputs(
        &mut self,
        old: &Policy<O, H, A>,
        norm: &ObsNorm<O>,
        batch: &mut [Transition<O, A>],
    ) {
        // Each sample's outputs are its own: no sums, the pieces only
        // decide where samples are computed.
        if !self.spawn(batch.len(), Policy::<O, H, A>::LEN) {
            return old_outputs(old, norm, batch);
        }
        let size = batch.len().div_ceil(CHUNKS);
        batch
            .par_chunks_mut(size)
            .for_each(|piece| old_outputs(old, norm, piece));
    }

    fn kl_stats(
        &mut self,
        policy: &Policy<O, H, A>,
        norm: &ObsNorm<O>,
        bound: &KlBound<A>,
        mb: &[Transition<O, A>],
    ) -> MbStats {
        if mb.len() < self.par_min {
            return kl_stats(policy, norm, bound, mb);
        }
        let piece = |part: &mut Part<O, H, A>, piece: &[Transition<O, A>]| {
            part.st = kl_stats(policy, norm, bound, piece);
        };
        let mut st = MbStats::default();
        let add = |part: &Part<O, H, A>| st.merge(&part.st);
        if self.spawn(mb.len(), Policy::<O, H, A>::LEN) {
            let used = self.map(mb, piece);
            self.parts[..used].iter().for_each(add);
        } else {
            self.fold(mb, piece, add);
        }
        st
    }

    fn kl_grads(
        &mut self,
        policy: &Policy<O, H, A>,
        norm: &ObsNorm<O>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
        scale: f32,
        gp: &mut Policy<O, H, A>,
    ) -> MbStats {
        if mb.len() < self.par_min {
            return kl_grads(policy, norm, old_log_std, mb, scale, gp);
        }
        let piece = |part: &mut Part<O, H, A>, piece: &[Transition<O, A>]| {
            part.gp.fill_zero();
            part.st = kl_grads(policy, norm, old_log_std, piece, scale, &mut part.gp);
        };
        let mut st = MbStats::default();
        let add = |part: &Part<O, H, A>| {
            gp.add_scaled(1.0, &part.gp);
            st.merge(&part.st);
        };
        if self.spawn(mb.len(), Policy::<O, H, A>::LEN) {
            let used = self.map(mb, piece);
            self.parts[..used].iter().for_each(add);
        } else {
            self.fold(mb, piece, add);
        }
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixpo_core::PolicyKind;
    use fixpo_core::fixpo::{Algo, Config, Serial, Trainer};
    use fixpo_core::rng::{Pcg32, normal};

    fn batch<const O: usize, const A: usize>(
        n: usize,
        kind: PolicyKind,
        rng: &mut Pcg32,
    ) -> Vec<Transition<O, A>> {
        (0..n)
            .map(|i| {
                let mut t = Transition::<O, A>::ZERO;
                t.obs = core::array::from_fn(|_| normal(rng));
                t.action = match kind {
                    PolicyKind::Gaussian => core::array::from_fn(|_| normal(rng)),
                    PolicyKind::Categorical => core::array::from_fn(|k| (k == i % A) as u8 as f32),
                };
                t.advantage = normal(rng);
                t.value = normal(rng);
                t.ret = t.value + t.advantage;
                t
            })
            .collect()
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-4 * (1.0 + a.abs().max(b.abs()))
    }

    fn params_close<P: Params>(a: &P, b: &P) -> bool {
        let (mut x, mut y) = (vec![0.0; P::LEN], vec![0.0; P::LEN]);
        a.write_flat(&mut x);
        b.write_flat(&mut y);
        x.iter().zip(&y).all(|(&p, &q)| close(p, q))
    }

    /// Each kernel on its own, against the serial loop, for minibatch sizes
    /// below, at and above the threshold and not divisible by the chunks.
    fn kernels_match<const O: usize, const A: usize>(kind: PolicyKind) {
        let mut rng = Pcg32::seed_from_u64(11);
        let mut tr = Trainer::<O, 32, A>::zero(kind, 1.0);
        tr.init(&mut rng, -0.5, 1.0);
        let old_ls = tr.policy.log_std;
        let mut moved = tr.policy;
        moved.net.b3 = core::array::from_fn(|i| 0.3 + 0.1 * i as f32);
        moved.log_std = core::array::from_fn(|i| -0.4 + 0.05 * i as f32);
        let c = Coeffs {
            algo: Algo::Fixpo,
            beta: 0.7,
            vf_coef: 0.5,
            vf_clip: 0.2,
            ent_coef: 0.01,
            clip_ratio: 0.2,
            adv_mean: 0.0,
            adv_scale: 1.0,
        };
        let mut par = RayonBackend::<O, 32, A>::new(kind);
        let mut norm = ObsNorm::<O>::NEW;
        norm.stats.update(&[0.5; O]);
        norm.stats.update(&[-1.5; O]);
        for n in [5usize, 31, 32, 33, 100, 257, 1000] {
            let mut mb = batch::<O, A>(n, kind, &mut rng);
            for t in &mut mb {
                t.old_out = tr.policy.output(&norm.apply(&t.obs));
                t.old_logp = fixpo_core::dist::log_prob(kind, &t.old_out, &old_ls, &t.action);
            }
            let (mut gp_s, mut gv_s) = (Policy::zero(kind), Value::ZERO);
            let (mut gp_p, mut gv_p) = (Policy::zero(kind), Value::ZERO);
            let ss = Serial.primary_grads(
                &moved, &tr.value, &norm, &old_ls, &mb, n, &c, &mut gp_s, &mut gv_s,
            );
            let sp = par.primary_grads(
                &moved, &tr.value, &norm, &old_ls, &mb, n, &c, &mut gp_p, &mut gv_p,
            );
            assert!(
                params_close(&gp_s, &gp_p) && params_close(&gv_s, &gv_p),
                "n={n}"
            );
            assert_eq!((ss.n, ss.clipped, ss.max_kl), (sp.n, sp.clipped, sp.max_kl));
            assert!(close(ss.sum_kl, sp.sum_kl) && close(ss.sum_value_loss, sp.sum_value_loss));
            assert!(close(ss.sum_policy_loss, sp.sum_policy_loss));

            let bound = KlBound::new(kind, &old_ls, &[1e-6; A], &moved.log_std, &[1e-6; A]);
            let ks = Serial.kl_stats(&moved, &norm, &bound, &mb);
            let kp = par.kl_stats(&moved, &norm, &bound, &mb);
            assert_eq!((ks.n, ks.max_kl), (kp.n, kp.max_kl));
            assert!(close(ks.sum_kl, kp.sum_kl), "n={n}");

            let (mut g_s, mut g_p) = (Policy::zero(kind), Policy::zero(kind));
            Serial.kl_grads(&moved, &norm, &old_ls, &mb, 0.01, &mut g_s);
            par.kl_grads(&moved, &norm, &old_ls, &mb, 0.01, &mut g_p);
            assert!(params_close(&g_s, &g_p), "n={n}");
        }
    }

    fn bits<P: Params>(p: &P) -> Vec<u32> {
        let mut v = vec![0.0; P::LEN];
        p.write_flat(&mut v);
        v.into_iter().map(f32::to_bits).collect()
    }

    /// Where the pieces run changes no bit: every kernel gives the same
    /// gradients and statistics with its pieces on the calling thread as
    /// in parallel (two threads), for sizes from one piece of a sample to
    /// uneven pieces, into gradient buffers that already hold a sum.
    #[test]
    fn pieces_give_the_same_bits_on_the_calling_thread_and_in_parallel() {
        let kind = PolicyKind::Gaussian;
        let mut rng = Pcg32::seed_from_u64(23);
        let mut tr = Trainer::<3, 32, 1>::zero(kind, 1.0);
        tr.init(&mut rng, -0.5, 1.0);
        let old_ls = tr.policy.log_std;
        let mut moved = tr.policy;
        moved.net.b3 = [0.2];
        moved.log_std = [-0.3];
        let mut norm = ObsNorm::<3>::NEW;
        norm.stats.update(&[0.5, 1.0, -2.0]);
        norm.stats.update(&[-1.5, 0.0, 1.0]);
        let c = Coeffs {
            algo: Algo::Fixpo,
            beta: 0.9,
            vf_coef: 0.25,
            vf_clip: 0.0,
            ent_coef: 0.0,
            clip_ratio: 0.2,
            adv_mean: 0.1,
            adv_scale: 1.1,
        };
        let bound = KlBound::new(kind, &old_ls, &[1e-6], &moved.log_std, &[1e-6]);
        let mut start = Policy::zero(kind);
        start.net.w2[3][5] = 0.125;
        start.log_std = [-0.5];
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        for n in [8usize, 32, 64, 67, 257, 2048] {
            let mut mb = batch::<3, 1>(n, kind, &mut rng);
            let run = |spawn_min: usize, mb: &mut [Transition<3, 1>]| {
                let mut be = RayonBackend::<3, 32, 1>::with_thresholds(kind, 8, spawn_min);
                be.old_outputs(&tr.policy, &norm, mb);
                let outs: Vec<u32> = mb
                    .iter()
                    .flat_map(|t| [t.old_out[0].to_bits(), t.old_logp.to_bits()])
                    .collect();
                let (mut gp, mut gv) = (start, Value::ZERO);
                gv.b3 = [0.5];
                let s1 = be.primary_grads(
                    &moved, &tr.value, &norm, &old_ls, mb, n, &c, &mut gp, &mut gv,
                );
                let s2 = be.kl_stats(&moved, &norm, &bound, mb);
                let mut gk = start;
                let s3 = be.kl_grads(&moved, &norm, &old_ls, mb, 0.01, &mut gk);
                (outs, bits(&gp), bits(&gv), bits(&gk), [s1, s2, s3])
            };
            let here = run(usize::MAX, &mut mb);
            let there = pool.install(|| run(0, &mut mb));
            assert!(here == there, "n={n}");
        }
    }

    #[test]
    fn kernels_match_serial() {
        kernels_match::<3, 1>(PolicyKind::Gaussian);
        kernels_match::<4, 2>(PolicyKind::Categorical);
    }

    /// A whole update: same report and parameters as the serial backend
    /// (within float tolerance), and bit-identical for 1 and 2 threads.
    #[test]
    fn update_matches_serial_and_ignores_thread_count() {
        let cfg = Config {
            minibatch: 256,
            fixup_minibatch: 512,
            epochs: 3,
            lr: 1e-3,
            ..Config::REFERENCE
        };
        let run = |backend: &mut dyn FnMut(
            &mut Trainer<3, 32, 1>,
            &mut [Transition<3, 1>],
            &mut Pcg32,
        )| {
            let mut rng = Pcg32::seed_from_u64(3);
            let mut tr = Trainer::<3, 32, 1>::zero(PolicyKind::Gaussian, 1.0);
            tr.init(&mut rng, -0.5, 1.0);
            let mut b = batch::<3, 1>(1024, PolicyKind::Gaussian, &mut rng);
            backend(&mut tr, &mut b, &mut rng);
            tr
        };
        let serial = run(&mut |tr, b, rng| {
            tr.update_with(b, &cfg, rng, &mut Serial).unwrap();
        });
        let in_pool = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                run(&mut |tr, b, rng| {
                    let mut be = RayonBackend::new(PolicyKind::Gaussian);
                    tr.update_with(b, &cfg, rng, &mut be).unwrap();
                })
            })
        };
        let one = in_pool(1);
        let two = in_pool(2);
        assert_eq!(one.policy, two.policy);
        assert_eq!(one.value, two.value);
        assert!(params_close(&serial.policy, &one.policy));
        assert!(params_close(&serial.value, &one.value));
    }
}
