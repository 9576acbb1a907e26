//! The two small kernels every layer is built from. They fix the order of
//! floating-point operations (so all targets agree bit for bit) and are
//! shaped so the compiler vectorises them: `axpy` has no reduction, and
//! `dot` keeps eight independent partial sums.

/// `y += a·x` element-wise over the common length.
#[inline(always)]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `out = b + Σ_j x[j]·w[j]` for input-major weights (`w[j]` the weights
/// leaving input `j`): each output's sum starts from its bias and adds the
/// inputs' products in order of `j`, exactly as `out = b` followed by one
/// [`axpy`] per input (the same bits on every target), but
/// [`AFFINE_BLOCK`] outputs at a time with their partial sums held in
/// registers: per multiply-add one load of a weight, one multiply, one
/// add, where the `axpy` sequence also loads and stores the output (on a
/// Cortex-M4F: about 3 instructions instead of 10).
#[inline(always)]
pub fn affine<const N: usize, const M: usize>(
    x: &[f32; N],
    w: &[[f32; M]; N],
    b: &[f32; M],
    out: &mut [f32; M],
) {
    affine_rows(x, w.as_flattened(), b, out);
}

/// [`affine`] over slices: `w` holds `x.len()` rows of `out.len()`
/// weights. Not generic and not inlined, so it is compiled once, at
/// fixpo-core's own optimisation level, whatever crate calls it (the
/// firmware builds its own code for size).
#[inline(never)]
pub fn affine_rows(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    const R: usize = AFFINE_BLOCK;
    let m = out.len().min(b.len());
    if m == 0 || w.len() < x.len() * m {
        return;
    }
    let whole = m / R * R;
    let mut k = 0;
    while k < whole {
        let mut acc = [0.0f32; R];
        acc.copy_from_slice(&b[k..k + R]);
        for (row, &xj) in w.chunks_exact(m).zip(x) {
            let ws = &row[k..k + R];
            for i in 0..R {
                acc[i] += xj * ws[i];
            }
        }
        out[k..k + R].copy_from_slice(&acc);
        k += R;
    }
    for kk in whole..m {
        let mut a = b[kk];
        for (row, &xj) in w.chunks_exact(m).zip(x) {
            a += xj * row[kk];
        }
        out[kk] = a;
    }
}

/// Outputs [`affine`] computes at once: eight partial sums fit the
/// Cortex-M4F's 32 single-precision registers with room for the inputs.
pub const AFFINE_BLOCK: usize = 8;

/// Dot product with eight interleaved partial sums (a fixed summation order).
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `x` clamped to `[lo, hi]`: bit for bit `x.clamp(lo, hi)` whenever
/// `lo ≤ hi`, and without its panic otherwise (a NaN bound clamps nothing
/// on its side; with `lo > hi` the result is `lo` or `hi`). A NaN `x` stays
/// NaN. For bounds that are not checked beforehand.
#[inline(always)]
pub(crate) fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    // The same two steps as `f32::clamp`, less its `lo ≤ hi` assertion.
    let x = if x < lo { lo } else { x };
    if x > hi { hi } else { x }
}

/// tanh of every element, in place.
///
/// Written with plain IEEE-754 arithmetic (no `libm`, no branches) so that
/// it vectorises on the host, runs fast on a Cortex-M4F, and gives the same
/// bits on both: tanh(x) = 1 − 2/(1 + e^{2x}), with e^{2x} = 2^n·2^f by
/// range reduction (n integral by the 1.5·2²³ rounding trick, |f| ≤ ½) and
/// 2^f by its degree-7 Taylor polynomial (relative error < 2e-9). The input
/// is clamped to ±10, where tanh is 1 − 4e-9 in f32. Absolute error < 2e-7.
#[inline(always)]
pub fn tanh_inplace(v: &mut [f32]) {
    for x in v.iter_mut() {
        *x = tanh(*x);
    }
}

/// tanh of one number; see [`tanh_inplace`].
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    const LN2: f32 = core::f32::consts::LN_2;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³
    let x = x.clamp(-10.0, 10.0);
    let y = 2.0 * x * LOG2E;
    let t = y + ROUND;
    let n = t - ROUND;
    let f = (y - n) * LN2; // |f| ≤ ½·ln 2
    // e^f, Horner form of the Taylor series to f⁷/7!.
    let p = 1.0
        + f * (1.0
            + f * (0.5
                + f * (1.0 / 6.0
                    + f * (1.0 / 24.0
                        + f * (1.0 / 120.0 + f * (1.0 / 720.0 + f * (1.0 / 5040.0)))))));
    // 2^n from the bits of t = 1.5·2²³ + n (one binade, unit spacing):
    // integer arithmetic only, which vectorises (a float-to-int cast does
    // not, as Rust's saturates).
    let n_int = t.to_bits().wrapping_sub(ROUND.to_bits());
    let two_n = f32::from_bits(n_int.wrapping_add(127) << 23);
    let e2x = p * two_n;
    1.0 - 2.0 / (1.0 + e2x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `affine` is `out = b` then one `axpy` per input, bit for bit, for
    /// widths with and without a tail after the blocks of eight, with
    /// values spanning many magnitudes (so any reordering would show).
    #[test]
    fn affine_is_the_axpy_sequence_bitwise() {
        fn check<const N: usize, const M: usize>(seed: u64) {
            let mut rng = crate::rng::Pcg32::new(seed, 3);
            let mut v = || {
                let u = crate::rng::uniform_range(&mut rng, -1.0, 1.0);
                let e = crate::rng::uniform_range(&mut rng, -20.0, 20.0);
                u * libm::exp2f(e)
            };
            let x: [f32; N] = core::array::from_fn(|_| v());
            let w: [[f32; M]; N] = core::array::from_fn(|_| core::array::from_fn(|_| v()));
            let b: [f32; M] = core::array::from_fn(|_| v());
            let mut want = b;
            for (row, &xj) in w.iter().zip(&x) {
                axpy(&mut want, xj, row);
            }
            let mut got = [f32::NAN; M];
            affine(&x, &w, &b, &mut got);
            assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "{N}x{M}");
        }
        for seed in 0..20 {
            check::<3, 32>(seed);
            check::<32, 32>(seed);
            check::<64, 64>(seed);
            check::<5, 13>(seed);
            check::<7, 3>(seed);
            check::<1, 8>(seed);
        }
    }

    /// `clamp` is `f32::clamp`, bit for bit, wherever that does not panic,
    /// and returns something wherever it would.
    #[test]
    fn clamp_is_f32_clamp_without_the_panic() {
        let xs = [
            0.0f32,
            -0.0,
            1.5,
            -1.5,
            3.0,
            -3.0,
            1e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE / 8.0,
        ];
        for lo in xs {
            for hi in xs {
                for x in xs {
                    let ours = clamp(x, lo, hi);
                    if lo <= hi {
                        assert_eq!(
                            ours.to_bits(),
                            x.clamp(lo, hi).to_bits(),
                            "{x} in [{lo}, {hi}]"
                        );
                    } else if !lo.is_nan() && !hi.is_nan() {
                        assert!(ours == lo || ours == hi || ours.is_nan());
                    }
                }
            }
        }
    }

    #[test]
    fn dot_matches_f64_reference() {
        for n in [0usize, 1, 7, 8, 9, 31, 64, 65] {
            let a: [f32; 65] = core::array::from_fn(|i| (i as f32 * 0.37).sin());
            let b: [f32; 65] = core::array::from_fn(|i| (i as f32 * 0.11).cos());
            let want: f64 = (0..n).map(|i| a[i] as f64 * b[i] as f64).sum();
            let got = dot(&a[..n], &b[..n]) as f64;
            assert!((got - want).abs() < 1e-5, "n={n}: {got} vs {want}");
        }
    }

    #[test]
    fn axpy_adds_scaled() {
        let mut y = [1.0f32, 2.0, 3.0];
        axpy(&mut y, 2.0, &[1.0, -1.0, 0.5]);
        assert_eq!(y, [3.0, 0.0, 4.0]);
    }

    /// The exponent of 2^n is read from the bits of 1.5·2²³ + n; an
    /// independent route (round y, cast to an integer, build the power of
    /// two) must give the same bits over the whole clamped range.
    #[test]
    fn tanh_exponent_bits_match_integer_cast() {
        fn tanh_by_cast(x: f32) -> f32 {
            let x = x.clamp(-10.0, 10.0);
            let y = 2.0 * x * core::f32::consts::LOG2_E;
            let n = (y + 12_582_912.0) - 12_582_912.0;
            let f = (y - n) * core::f32::consts::LN_2;
            let p = 1.0
                + f * (1.0
                    + f * (0.5
                        + f * (1.0 / 6.0
                            + f * (1.0 / 24.0
                                + f * (1.0 / 120.0 + f * (1.0 / 720.0 + f * (1.0 / 5040.0)))))));
            let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
            1.0 - 2.0 / (1.0 + p * two_n)
        }
        let mut x = -11.0f32;
        while x <= 11.0 {
            assert_eq!(tanh(x).to_bits(), tanh_by_cast(x).to_bits(), "x = {x}");
            x += 1.0 / 1024.0;
        }
        for x in [
            f32::MIN_POSITIVE,
            -0.0,
            0.0,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
        ] {
            assert_eq!(tanh(x).to_bits(), tanh_by_cast(x).to_bits(), "x = {x}");
        }
        assert!(tanh(f32::NAN).is_nan());
    }

    #[test]
    fn tanh_matches_f64_within_2e7() {
        let mut worst = 0.0f64;
        let mut x = -12.0f32;
        while x <= 12.0 {
            let err = (tanh(x) as f64 - (x as f64).tanh()).abs();
            worst = worst.max(err);
            x += 1.0e-3;
        }
        assert!(worst < 2e-7, "worst abs error {worst}");
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(50.0), tanh(10.0));
        assert!(tanh(-3.0) == -tanh(3.0) || (tanh(-3.0) + tanh(3.0)).abs() < 1e-7);
    }
}
