//! The update's minibatch kernels compiled twice — for the x86-64 baseline
//! (SSE2) and for AVX2 — with the choice made once per call from what the
//! CPU reports.
//!
//! Both versions are the core's own kernels, unchanged: the compiler only
//! uses wider vector registers. The core fixes the order of every
//! floating-point operation and Rust never contracts `a·b + c` into a fused
//! multiply-add, so the two versions give the same bits (checked by this
//! module's tests) — a run's results do not depend on the machine's vector
//! width. Set `FIXPO_SIMD=baseline` to force the baseline kernels.
//!
//! This is the one place in the workspace with `unsafe`: calling a
//! `#[target_feature]` function is only sound on a CPU that has the feature,
//! which is checked immediately before each call.
#![allow(unsafe_code)]

use fixpo_core::fixpo::{self, Coeffs, MbStats, Transition};
use fixpo_core::policy::{Policy, Value};
use std::sync::OnceLock;

/// Which kernels this process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The target's baseline instruction set.
    Baseline,
    /// x86-64 with AVX2.
    Avx2,
}

impl Level {
    /// Name as printed by `fixpo bench`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Baseline => "baseline",
            Level::Avx2 => "avx2",
        }
    }
}

/// The kernels in use: AVX2 where the CPU has it, unless the environment
/// variable `FIXPO_SIMD` is `baseline`. Decided once per process.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        if std::env::var("FIXPO_SIMD").is_ok_and(|v| v == "baseline") {
            return Level::Baseline;
        }
        detect()
    })
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    if std::arch::is_x86_feature_detected!("avx2") {
        Level::Avx2
    } else {
        Level::Baseline
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Baseline
}

/// For each core kernel listed, a dispatching function of the same name
/// and signature (AVX2 when [`level`] says so, else the baseline) and its
/// AVX2 twin in `avx2`: the core's kernels are all `#[inline(always)]`, so
/// they are compiled into the twins' bodies with AVX2 enabled.
macro_rules! dispatched {
    ($(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(
            #[doc = concat!("[`fixpo::", stringify!($name), "`] with the kernels of [`level`].")]
            pub fn $name<const O: usize, const H: usize, const A: usize>($($arg: $ty),*) -> $ret {
                #[cfg(target_arch = "x86_64")]
                if level() == Level::Avx2 {
                    // SAFETY: `level` returns `Avx2` only when the CPU reports AVX2.
                    return unsafe { avx2::$name($($arg),*) };
                }
                fixpo::$name($($arg),*)
            }
        )*

        #[cfg(target_arch = "x86_64")]
        mod avx2 {
            use super::*;
            $(
                #[target_feature(enable = "avx2")]
                pub(super) fn $name<const O: usize, const H: usize, const A: usize>(
                    $($arg: $ty),*
                ) -> $ret {
                    fixpo::$name($($arg),*)
                }
            )*
        }
    };
}

dispatched! {
    fn primary_grads(
        policy: &Policy<O, H, A>,
        value: &Value<O, H>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
        n: usize,
        c: &Coeffs,
        gp: &mut Policy<O, H, A>,
        gv: &mut Value<O, H>
    ) -> MbStats;
    fn old_outputs(old: &Policy<O, H, A>, batch: &mut [Transition<O, A>]) -> ();
    fn kl_stats(
        policy: &Policy<O, H, A>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>]
    ) -> MbStats;
    fn kl_grads(
        policy: &Policy<O, H, A>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
        scale: f32,
        gp: &mut Policy<O, H, A>
    ) -> MbStats;
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use fixpo_core::PolicyKind;
    use fixpo_core::fixpo::Algo;
    use fixpo_core::params::Params;
    use fixpo_core::rng::{Pcg32, normal};

    fn bits<P: Params>(p: &P) -> Vec<u32> {
        let mut v = vec![0.0f32; P::LEN];
        p.write_flat(&mut v).unwrap();
        v.into_iter().map(f32::to_bits).collect()
    }

    fn stats_bits(s: &MbStats) -> [u32; 6] {
        [
            s.max_kl.to_bits(),
            s.sum_kl.to_bits(),
            s.sum_policy_loss.to_bits(),
            s.sum_value_loss.to_bits(),
            s.sum_entropy.to_bits(),
            s.n ^ (s.clipped << 16),
        ]
    }

    /// AVX2 and baseline kernels agree bit for bit: every gradient element
    /// and statistic, for both policy kinds, every algorithm's loss, a
    /// width that is not a multiple of the vector tiles, and a sample count
    /// that leaves a partial block.
    fn check<const O: usize, const H: usize, const A: usize>(kind: PolicyKind, seed: u64) {
        let mut rng = Pcg32::seed_from_u64(seed);
        let mut policy = Policy::<O, H, A>::zero(kind);
        policy.init(&mut rng, -0.3);
        let mut value = Value::<O, H>::ZERO;
        value.init(&mut rng, std::f32::consts::SQRT_2, 1.0);
        // A perturbed copy plays π_old, so KL terms are non-zero.
        let mut old = policy;
        old.net
            .w1
            .iter_mut()
            .flatten()
            .for_each(|w| *w += 0.05 * normal(&mut rng));
        old.log_std.iter_mut().for_each(|l| *l -= 0.1);
        let mb: Vec<Transition<O, A>> = (0..67)
            .map(|_| {
                let obs = std::array::from_fn(|_| normal(&mut rng));
                let old_out = old.output(&obs);
                let (action, old_logp) = old.sample(&obs, &mut rng);
                Transition {
                    obs,
                    action,
                    advantage: normal(&mut rng),
                    ret: normal(&mut rng),
                    value: normal(&mut rng),
                    old_out,
                    old_logp,
                }
            })
            .collect();
        for algo in [Algo::Fixpo, Algo::PpoClip] {
            let c = Coeffs {
                algo,
                beta: 1.7,
                vf_coef: 0.5,
                vf_clip: 0.2,
                ent_coef: 0.01,
                clip_ratio: 0.2,
                adv_mean: 0.1,
                adv_scale: 0.9,
            };
            let run = |avx: bool| {
                let (mut gp, mut gv) = (policy, value);
                let st = if avx {
                    // SAFETY: only called after `detect` found AVX2.
                    unsafe {
                        avx2::primary_grads(
                            &policy,
                            &value,
                            &old.log_std,
                            &mb,
                            67,
                            &c,
                            &mut gp,
                            &mut gv,
                        )
                    }
                } else {
                    fixpo::primary_grads(
                        &policy,
                        &value,
                        &old.log_std,
                        &mb,
                        67,
                        &c,
                        &mut gp,
                        &mut gv,
                    )
                };
                (bits(&gp), bits(&gv), stats_bits(&st))
            };
            assert_eq!(run(true), run(false), "primary {kind:?} {algo:?} H={H}");
        }
        let kl = |avx: bool| {
            let mut gp = policy;
            let (s1, s2) = if avx {
                // SAFETY: only called after `detect` found AVX2.
                unsafe {
                    (
                        avx2::kl_stats(&policy, &old.log_std, &mb),
                        avx2::kl_grads(&policy, &old.log_std, &mb, 0.3, &mut gp),
                    )
                }
            } else {
                (
                    fixpo::kl_stats(&policy, &old.log_std, &mb),
                    fixpo::kl_grads(&policy, &old.log_std, &mb, 0.3, &mut gp),
                )
            };
            (stats_bits(&s1), stats_bits(&s2), bits(&gp))
        };
        assert_eq!(kl(true), kl(false), "kl {kind:?} H={H}");
        let outs = |avx: bool| {
            let mut b = mb.clone();
            if avx {
                // SAFETY: only called after `detect` found AVX2.
                unsafe { avx2::old_outputs(&old, &mut b) }
            } else {
                fixpo::old_outputs(&old, &mut b)
            }
            b.iter()
                .flat_map(|t| t.old_out.iter().chain([&t.old_logp]).map(|x| x.to_bits()))
                .collect::<Vec<_>>()
        };
        assert_eq!(outs(true), outs(false), "old outputs {kind:?} H={H}");
    }

    #[test]
    fn avx2_kernels_give_baseline_bits() {
        if detect() != Level::Avx2 {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        check::<11, 64, 3>(PolicyKind::Gaussian, 1);
        check::<17, 20, 6>(PolicyKind::Gaussian, 2);
        check::<4, 36, 2>(PolicyKind::Categorical, 3);
    }
}
