//! [`RayonBackend`]: the update's minibatch kernels split across cores.
//!
//! The core's update is written as map-reduce over the samples of a
//! minibatch ([`Backend`]). This backend cuts a minibatch into
//! [`CHUNKS`] contiguous pieces — a fixed number, independent of how many
//! threads run them — evaluates the core's own kernels on each piece in
//! parallel into per-piece buffers, and adds the pieces up in order. The
//! sums are therefore the same for any number of threads; they differ from
//! [`fixpo_core::Serial`]'s only by the order of floating-point additions.

use crate::simd::{kl_grads, kl_stats, old_outputs, primary_grads};
use fixpo_core::fixpo::{Backend, Coeffs, MbStats, Transition};
use fixpo_core::norm::ObsNorm;
use fixpo_core::params::Params;
use fixpo_core::policy::{Policy, Value};
use fixpo_core::trust::KlBound;
use rayon::prelude::*;

/// Pieces a large minibatch is cut into.
pub const CHUNKS: usize = 8;

/// Minibatches smaller than this run serially (splitting does not pay).
pub const DEFAULT_PAR_MIN: usize = 32;

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
        let used = self.map(mb, |part, piece| {
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
        });
        let mut st = MbStats::default();
        for part in &self.parts[..used] {
            gp.add_scaled(1.0, &part.gp);
            gv.add_scaled(1.0, &part.gv);
            st.merge(&part.st);
        }
        st
    }

    fn old_outputs(
        &mut self,
        old: &Policy<O, H, A>,
        norm: &ObsNorm<O>,
        batch: &mut [Transition<O, A>],
    ) {
        if batch.len() < self.par_min {
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
        let used = self.map(mb, |part, piece| {
            part.st = kl_stats(policy, norm, bound, piece);
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
        norm: &ObsNorm<O>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
        scale: f32,
        gp: &mut Policy<O, H, A>,
    ) -> MbStats {
        if mb.len() < self.par_min {
            return kl_grads(policy, norm, old_log_std, mb, scale, gp);
        }
        let used = self.map(mb, |part, piece| {
            part.gp.fill_zero();
            part.st = kl_grads(policy, norm, old_log_std, piece, scale, &mut part.gp);
        });
        let mut st = MbStats::default();
        for part in &self.parts[..used] {
            gp.add_scaled(1.0, &part.gp);
            st.merge(&part.st);
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
