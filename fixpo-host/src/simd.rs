//! The update's minibatch kernels compiled twice — for the x86-64 baseline
//! (SSE2) and for AVX2 — with the choice made once per call from what the
//! CPU reports.
//!
//! The baseline version is the core's code as it stands. The AVX2 version
//! compiles the same core functions with AVX2 enabled and gives them the
//! inner loops of `kernels::Avx2` (register tiles written with
//! `std::arch`) through the core's `BlockKernels` trait. The core fixes the
//! order of every floating-point operation, the AVX2 loops perform the
//! same operations in the same order, and Rust never contracts `a·b + c`
//! into a fused multiply-add, so the two versions give the same bits
//! (checked by this module's tests) — a run's results do not depend on the
//! machine's vector width. Set `FIXPO_SIMD=baseline` to force the baseline
//! kernels.
//!
//! This is the one place in the workspace with `unsafe`: calling a
//! `#[target_feature]` function is only sound on a CPU that has the feature,
//! which is checked immediately before each call, and the vector loads and
//! stores go through two bounds-checked helpers.
#![allow(unsafe_code)]

use fixpo_core::fixpo::{self, Coeffs, MbStats, Transition};
use fixpo_core::mlp::Portable;
use fixpo_core::norm::ObsNorm;
use fixpo_core::policy::{Policy, Value};
use fixpo_core::trust::KlBound;
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
/// they are compiled into the twins' bodies with AVX2 enabled, with the
/// hand-vectorised inner loops of [`kernels::Avx2`].
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
                fixpo::$name::<Portable, O, H, A>($($arg),*)
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
                    fixpo::$name::<kernels::Avx2, O, H, A>($($arg),*)
                }
            )*
        }
    };
}

dispatched! {
    fn primary_grads(
        policy: &Policy<O, H, A>,
        value: &Value<O, H>,
        norm: &ObsNorm<O>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
        n: usize,
        c: &Coeffs,
        gp: &mut Policy<O, H, A>,
        gv: &mut Value<O, H>
    ) -> MbStats;
    fn old_outputs(old: &Policy<O, H, A>, norm: &ObsNorm<O>, batch: &mut [Transition<O, A>]) -> ();
    fn kl_stats(
        policy: &Policy<O, H, A>,
        norm: &ObsNorm<O>,
        bound: &KlBound<A>,
        mb: &[Transition<O, A>]
    ) -> MbStats;
    fn kl_grads(
        policy: &Policy<O, H, A>,
        norm: &ObsNorm<O>,
        old_log_std: &[f32; A],
        mb: &[Transition<O, A>],
        scale: f32,
        gp: &mut Policy<O, H, A>
    ) -> MbStats;
}

/// The blocked passes' inner loops written for AVX2 with `std::arch`.
///
/// Each performs exactly the floating-point operations of
/// [`fixpo_core::mlp::Portable`], in the same order (a multiply rounded,
/// then an add; no fused multiply-add), so the bits are the same; the
/// difference is in register tiling, which the compiler does not find on
/// its own (it vectorises the dot products across samples, through
/// shuffles).
#[cfg(target_arch = "x86_64")]
mod kernels {
    use core::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_hadd_ps, _mm256_loadu_ps, _mm256_mul_ps,
        _mm256_permute2f128_ps, _mm256_permutevar8x32_ps, _mm256_set1_ps, _mm256_setr_epi32,
        _mm256_setzero_ps, _mm256_storeu_ps,
    };
    use fixpo_core::mlp::{BLOCK, BlockKernels};

    // The tiles below are laid out for blocks of eight samples.
    const _: () = assert!(BLOCK == 8);

    /// [`BlockKernels`] for AVX2. Only the `#[target_feature(enable =
    /// "avx2")]` twins in this file instantiate it, and they run only on a
    /// CPU that reports AVX2; the type is private to keep it that way.
    pub(super) struct Avx2;

    impl BlockKernels for Avx2 {
        #[inline(always)]
        fn affine<const N: usize, const M: usize>(
            w: &[[f32; M]; N],
            b: &[f32; M],
            x: &[[f32; N]; BLOCK],
            y: &mut [[f32; M]; BLOCK],
        ) {
            // SAFETY: reached only from the AVX2 twins (see `Avx2`).
            unsafe { affine(w, b, x, y) }
        }

        #[inline(always)]
        fn outer_acc<const N: usize, const M: usize>(
            g: &mut [[f32; M]; N],
            x: &[[f32; N]; BLOCK],
            d: &[[f32; M]; BLOCK],
            n: usize,
        ) {
            // SAFETY: reached only from the AVX2 twins (see `Avx2`).
            unsafe { outer_acc(g, x, d, n) }
        }

        #[inline(always)]
        fn dot<const M: usize>(w: &[f32; M], d: &[[f32; M]; BLOCK]) -> [f32; BLOCK] {
            // SAFETY: reached only from the AVX2 twins (see `Avx2`).
            unsafe { dot(w, d) }
        }
    }

    /// Eight floats from the start of `v` (bounds-checked).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(v: &[f32]) -> __m256 {
        let v = &v[..8];
        // SAFETY: `v` holds eight floats; the load is unaligned.
        unsafe { _mm256_loadu_ps(v.as_ptr()) }
    }

    /// Stores eight floats at the start of `v` (bounds-checked).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn store(v: &mut [f32], x: __m256) {
        let v = &mut v[..8];
        // SAFETY: `v` holds eight floats; the store is unaligned.
        unsafe { _mm256_storeu_ps(v.as_mut_ptr(), x) }
    }

    /// `acc + a·b`, rounded after the product and after the sum.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn mul_add(acc: __m256, a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(acc, _mm256_mul_ps(a, b))
    }

    /// Tiles of 4 samples × 16 outputs (eight registers of sums; each input
    /// step loads two weight vectors and broadcasts four inputs), then one
    /// 8 × 8 tile, then scalars.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn affine<const N: usize, const M: usize>(
        w: &[[f32; M]; N],
        b: &[f32; M],
        x: &[[f32; N]; BLOCK],
        y: &mut [[f32; M]; BLOCK],
    ) {
        let mut j0 = 0;
        while j0 + 16 <= M {
            for s0 in [0, 4] {
                let bias = [load(&b[j0..]), load(&b[j0 + 8..])];
                let mut acc = [bias; 4];
                for i in 0..N {
                    let wi = [load(&w[i][j0..]), load(&w[i][j0 + 8..])];
                    for (s, a) in acc.iter_mut().enumerate() {
                        let xs = _mm256_set1_ps(x[s0 + s][i]);
                        a[0] = mul_add(a[0], xs, wi[0]);
                        a[1] = mul_add(a[1], xs, wi[1]);
                    }
                }
                for (s, a) in acc.iter().enumerate() {
                    store(&mut y[s0 + s][j0..], a[0]);
                    store(&mut y[s0 + s][j0 + 8..], a[1]);
                }
            }
            j0 += 16;
        }
        if j0 + 8 <= M {
            let mut acc = [load(&b[j0..]); BLOCK];
            for i in 0..N {
                let wi = load(&w[i][j0..]);
                for (s, a) in acc.iter_mut().enumerate() {
                    *a = mul_add(*a, _mm256_set1_ps(x[s][i]), wi);
                }
            }
            for (s, a) in acc.iter().enumerate() {
                store(&mut y[s][j0..], *a);
            }
            j0 += 8;
        }
        for j in j0..M {
            for s in 0..BLOCK {
                let mut v = b[j];
                for i in 0..N {
                    v += x[s][i] * w[i][j];
                }
                y[s][j] = v;
            }
        }
    }

    /// Rows two at a time (the last alone when `N` is odd).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn outer_acc<const N: usize, const M: usize>(
        g: &mut [[f32; M]; N],
        x: &[[f32; N]; BLOCK],
        d: &[[f32; M]; BLOCK],
        n: usize,
    ) {
        let n = n.min(BLOCK);
        let mut i = 0;
        while i + 2 <= N {
            outer_rows::<2, N, M>(g, i, x, d, n);
            i += 2;
        }
        if i < N {
            outer_rows::<1, N, M>(g, i, x, d, n);
        }
    }

    /// `R` rows from `i` of [`outer_acc`]: tiles of `R` rows × 32 columns
    /// stay in registers across the samples (each sample loads four vectors
    /// of `d` and broadcasts `R` inputs), then `R` × 8, then scalars.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn outer_rows<const R: usize, const N: usize, const M: usize>(
        g: &mut [[f32; M]; N],
        i: usize,
        x: &[[f32; N]; BLOCK],
        d: &[[f32; M]; BLOCK],
        n: usize,
    ) {
        let mut j0 = 0;
        while j0 + 32 <= M {
            let mut acc = [[_mm256_setzero_ps(); 4]; R];
            for (r, a) in acc.iter_mut().enumerate() {
                for (k, v) in a.iter_mut().enumerate() {
                    *v = load(&g[i + r][j0 + 8 * k..]);
                }
            }
            for s in 0..n {
                let ds = [0, 1, 2, 3].map(|k| load(&d[s][j0 + 8 * k..]));
                for (r, a) in acc.iter_mut().enumerate() {
                    let xs = _mm256_set1_ps(x[s][i + r]);
                    for (v, dk) in a.iter_mut().zip(ds) {
                        *v = mul_add(*v, xs, dk);
                    }
                }
            }
            for (r, a) in acc.iter().enumerate() {
                for (k, v) in a.iter().enumerate() {
                    store(&mut g[i + r][j0 + 8 * k..], *v);
                }
            }
            j0 += 32;
        }
        while j0 + 8 <= M {
            let mut acc = [_mm256_setzero_ps(); R];
            for (r, v) in acc.iter_mut().enumerate() {
                *v = load(&g[i + r][j0..]);
            }
            for s in 0..n {
                let ds = load(&d[s][j0..]);
                for (r, v) in acc.iter_mut().enumerate() {
                    *v = mul_add(*v, _mm256_set1_ps(x[s][i + r]), ds);
                }
            }
            for (r, v) in acc.iter().enumerate() {
                store(&mut g[i + r][j0..], *v);
            }
            j0 += 8;
        }
        for r in 0..R {
            for s in 0..n {
                let xs = x[s][i + r];
                for j in j0..M {
                    g[i + r][j] += xs * d[s][j];
                }
            }
        }
    }

    /// One register of partial sums per sample; the eight horizontal trees
    /// are then evaluated together (lane halves exchanged, then two
    /// horizontal adds), which forms exactly the sums of
    /// `((a0+a4)+(a1+a5)) + ((a2+a6)+(a3+a7))` for each sample.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn dot<const M: usize>(w: &[f32; M], d: &[[f32; M]; BLOCK]) -> [f32; BLOCK] {
        let mut a = [_mm256_setzero_ps(); BLOCK];
        for c in 0..M / 8 {
            let wc = load(&w[8 * c..]);
            for (s, acc) in a.iter_mut().enumerate() {
                *acc = mul_add(*acc, wc, load(&d[s][8 * c..]));
            }
        }
        // [a_s[0..4] + a_s[4..8] | a_t[0..4] + a_t[4..8]] for s, t = 2p, 2p + 1.
        let halves = |s: usize| {
            let lo = _mm256_permute2f128_ps::<0x20>(a[s], a[s + 1]);
            let hi = _mm256_permute2f128_ps::<0x31>(a[s], a[s + 1]);
            _mm256_add_ps(lo, hi)
        };
        let q0 = _mm256_hadd_ps(halves(0), halves(2));
        let q1 = _mm256_hadd_ps(halves(4), halves(6));
        // Lanes hold samples 0, 2, 4, 6, 1, 3, 5, 7; put them in order.
        let r = _mm256_hadd_ps(q0, q1);
        let r = _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        let mut tail = [0.0f32; BLOCK];
        for (s, t) in tail.iter_mut().enumerate() {
            for j in M / 8 * 8..M {
                *t += w[j] * d[s][j];
            }
        }
        let mut out = [0.0f32; BLOCK];
        store(&mut out, _mm256_add_ps(r, load(&tail)));
        out
    }
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

    /// AVX2 (the compiler's and the hand-written inner loops) and baseline
    /// kernels agree bit for bit: every gradient element
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
        // Raw observations through non-trivial statistics.
        let mut norm = ObsNorm::<O>::NEW;
        for _ in 0..20 {
            let x: [f32; O] = std::array::from_fn(|_| 1.0 + 3.0 * normal(&mut rng));
            norm.stats.update(&x);
        }
        let bound = KlBound::new(kind, &old.log_std, &[1e-5; A], &policy.log_std, &[2e-5; A]);
        let mb: Vec<Transition<O, A>> = (0..67)
            .map(|_| {
                let obs = std::array::from_fn(|_| 1.0 + 3.0 * normal(&mut rng));
                let old_out = old.output(&norm.apply(&obs));
                let (action, old_logp) = old.sample(&norm.apply(&obs), &mut rng);
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
                            &norm,
                            &old.log_std,
                            &mb,
                            67,
                            &c,
                            &mut gp,
                            &mut gv,
                        )
                    }
                } else {
                    fixpo::primary_grads::<Portable, O, H, A>(
                        &policy,
                        &value,
                        &norm,
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
                        avx2::kl_stats(&policy, &norm, &bound, &mb),
                        avx2::kl_grads(&policy, &norm, &old.log_std, &mb, 0.3, &mut gp),
                    )
                }
            } else {
                (
                    fixpo::kl_stats::<Portable, O, H, A>(&policy, &norm, &bound, &mb),
                    fixpo::kl_grads::<Portable, O, H, A>(
                        &policy,
                        &norm,
                        &old.log_std,
                        &mb,
                        0.3,
                        &mut gp,
                    ),
                )
            };
            (stats_bits(&s1), stats_bits(&s2), bits(&gp))
        };
        assert_eq!(kl(true), kl(false), "kl {kind:?} H={H}");
        let outs = |avx: bool| {
            let mut b = mb.clone();
            if avx {
                // SAFETY: only called after `detect` found AVX2.
                unsafe { avx2::old_outputs(&old, &norm, &mut b) }
            } else {
                fixpo::old_outputs::<Portable, O, H, A>(&old, &norm, &mut b)
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
        // Widths that exercise every tile of the AVX2 kernels: 64 (whole
        // 16- and 32-wide tiles), 20 and 36 (scalar tails), 24 and 40 (the
        // 8-wide tiles); odd input counts leave a single row in `outer_acc`.
        check::<11, 64, 3>(PolicyKind::Gaussian, 1);
        check::<17, 20, 6>(PolicyKind::Gaussian, 2);
        check::<4, 36, 2>(PolicyKind::Categorical, 3);
        check::<5, 24, 1>(PolicyKind::Gaussian, 4);
        check::<8, 40, 4>(PolicyKind::Categorical, 5);
    }
}
