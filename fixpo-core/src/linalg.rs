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
/// registers: per multiply-add one load of a weight and one multiply-add,
/// where the `axpy` sequence also loads and stores the output (on a
/// Cortex-M4F: about 2.1 instructions instead of 10).
#[inline(always)]
pub fn affine<const N: usize, const M: usize>(
    x: &[f32; N],
    w: &[[f32; M]; N],
    b: &[f32; M],
    out: &mut [f32; M],
) {
    affine_rows(x, w.as_flattened(), b, out);
}

/// [`affine`] then tanh of every output (a hidden layer), the same bits
/// as the two apart.
#[inline(always)]
pub fn affine_tanh<const N: usize, const M: usize>(
    x: &[f32; N],
    w: &[[f32; M]; N],
    b: &[f32; M],
    out: &mut [f32; M],
) {
    affine_tanh_rows(x, w.as_flattened(), b, out);
}

/// A hidden layer followed by the output layer, without storing the
/// hidden activations: `h = tanh(b + Σ_j x[j]·w[j])` block by block, and
/// each block's `h` at once added into `y` (`y[o] += h[i]·v[i][o]` in
/// order of `i`), so `y` gets the same sums in the same order as
/// [`affine_tanh`] then [`affine`] onto `y` (which starts as the output
/// bias): the same bits, with no buffer for `h`.
#[inline(always)]
pub fn affine_tanh_then<const N: usize, const M: usize, const O: usize>(
    x: &[f32; N],
    w: &[[f32; M]; N],
    b: &[f32; M],
    v: &[[f32; O]; M],
    y: &mut [f32; O],
) {
    affine_tanh_then_rows(x, w.as_flattened(), b, v.as_flattened(), y);
}

/// [`affine`] over slices: `w` holds `x.len()` rows of `out.len()`
/// weights. Not generic and not inlined, so it is compiled once, at
/// fixpo-core's own optimisation level, whatever crate calls it (the
/// firmware builds its own code for size).
#[inline(never)]
pub fn affine_rows(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    affine_rows_then(x, w, b, out, Then::Keep);
}

/// [`affine_tanh`] over slices: a hidden layer. Each block of outputs
/// goes through tanh right after its sums.
#[inline(never)]
pub fn affine_tanh_rows(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32]) {
    affine_rows_then(x, w, b, out, Then::Tanh);
}

/// [`affine_tanh_then`] over slices: `w` holds `x.len()` rows of
/// `b.len()` weights, `v` holds `b.len()` rows of `y.len()`.
#[inline(never)]
pub fn affine_tanh_then_rows(x: &[f32], w: &[f32], b: &[f32], v: &[f32], y: &mut [f32]) {
    if v.len() < b.len() * y.len() {
        return;
    }
    affine_rows_then(x, w, b, &mut [], Then::Into { v, y });
}

/// What [`affine_rows_then`] does with each block of sums.
enum Then<'a> {
    /// Store them.
    Keep,
    /// Store their tanh.
    Tanh,
    /// Add their tanh, times the rows of `v`, into `y`.
    Into { v: &'a [f32], y: &'a mut [f32] },
}

/// `b + Σ_j x[j]·w[j]`, blocks of [`AFFINE_BLOCK`] outputs, then of 8,
/// then one at a time, each sum in the order of `j`, four inputs per pass
/// of the inner loop; each block handled as `then` says.
#[inline(always)]
fn affine_rows_then(x: &[f32], w: &[f32], b: &[f32], out: &mut [f32], mut then: Then<'_>) {
    let m = match then {
        Then::Into { .. } => b.len(),
        _ => out.len().min(b.len()),
    };
    if m == 0 || w.len() < x.len() * m {
        return;
    }
    let mut k = 0;
    while k + AFFINE_BLOCK <= m {
        let acc = affine_block::<AFFINE_BLOCK>(x, w, m, k, b);
        finish(&acc, k, out, &mut then);
        k += AFFINE_BLOCK;
    }
    if k + 8 <= m {
        let acc = affine_block::<8>(x, w, m, k, b);
        finish(&acc, k, out, &mut then);
        k += 8;
    }
    for kk in k..m {
        let mut a = b[kk];
        let quads = w.chunks_exact(4 * m).zip(x.chunks_exact(4));
        for (rows, xs) in quads {
            a += xs[0] * rows[kk];
            a += xs[1] * rows[m + kk];
            a += xs[2] * rows[2 * m + kk];
            a += xs[3] * rows[3 * m + kk];
        }
        let done = x.len() / 4 * 4;
        for (row, &xj) in w[done * m..].chunks_exact(m).zip(&x[done..]) {
            a += xj * row[kk];
        }
        finish(&[a], kk, out, &mut then);
    }
}

/// Sums `acc` of outputs `k..`: stored, squashed, or squashed and added
/// into the next layer's outputs.
#[inline(always)]
fn finish<const R: usize>(acc: &[f32; R], k: usize, out: &mut [f32], then: &mut Then<'_>) {
    match then {
        Then::Keep => out[k..k + R].copy_from_slice(acc),
        Then::Tanh => {
            let out = &mut out[k..k + R];
            out.copy_from_slice(acc);
            tanh_inplace(out);
        }
        Then::Into { v, y } => {
            let mut h = *acc;
            tanh_inplace(&mut h);
            let o = y.len();
            if let [y0] = y {
                // One output (a value, or a one-dimensional action): its
                // sum in a register.
                let vk = &v[k..k + R];
                let mut a = *y0;
                for i in 0..R {
                    a += h[i] * vk[i];
                }
                *y0 = a;
            } else {
                let vk = &v[k * o..(k + R) * o];
                for (&hi, vi) in h.iter().zip(vk.chunks_exact(o)) {
                    for (yo, &w) in y.iter_mut().zip(vi) {
                        *yo += hi * w;
                    }
                }
            }
        }
    }
}

/// Sums `k..k + R` of [`affine_rows_then`] (needs `k + R ≤ m`).
#[inline(always)]
fn affine_block<const R: usize>(x: &[f32], w: &[f32], m: usize, k: usize, b: &[f32]) -> [f32; R] {
    let mut acc = [0.0f32; R];
    acc.copy_from_slice(&b[k..k + R]);
    let quads = w.chunks_exact(4 * m).zip(x.chunks_exact(4));
    for (rows, xs) in quads {
        let (r01, r23) = rows.split_at(2 * m);
        let (r0, r1) = r01.split_at(m);
        let (r2, r3) = r23.split_at(m);
        let (w0, w1, w2, w3) = (&r0[k..k + R], &r1[k..k + R], &r2[k..k + R], &r3[k..k + R]);
        for i in 0..R {
            acc[i] += xs[0] * w0[i];
        }
        for i in 0..R {
            acc[i] += xs[1] * w1[i];
        }
        for i in 0..R {
            acc[i] += xs[2] * w2[i];
        }
        for i in 0..R {
            acc[i] += xs[3] * w3[i];
        }
    }
    let done = x.len() / 4 * 4;
    for (row, &xj) in w[done * m..].chunks_exact(m).zip(&x[done..]) {
        let wj = &row[k..k + R];
        for i in 0..R {
            acc[i] += xj * wj[i];
        }
    }
    acc
}

/// Outputs [`affine`] computes at once: sixteen partial sums fit the
/// Cortex-M4F's 32 single-precision registers with room for the inputs
/// and the weights in flight.
pub const AFFINE_BLOCK: usize = 16;

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

/// `true` when every number of `xs` is finite. Branch-free: x − x is 0
/// for a finite x and NaN for ±∞ or NaN, so the sum of those differences
/// is 0 exactly when all are finite (about 3 instructions per number on
/// the Cortex-M4F instead of a compare and branch each).
#[cfg_attr(target_arch = "arm", inline(never))]
#[allow(clippy::eq_op)] // x − x is the point: 0, or NaN for ±∞ and NaN
pub fn all_finite(xs: &[f32]) -> bool {
    let mut acc = [0.0f32; 4];
    let chunks = xs.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            acc[k] += c[k] - c[k];
        }
    }
    for &x in tail {
        acc[0] += x - x;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) == 0.0
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

/// √x, correctly rounded: the same bits as IEEE-754 `sqrt` and
/// `libm::sqrtf` for every f32. On ARM [`sqrt_by_newton`], in about 60
/// instructions where `libm::sqrtf` takes 76 on a Cortex-M4F (whose
/// `VSQRT` is not reachable from safe, stable Rust); elsewhere
/// `libm::sqrtf`, which is the CPU's own square root on x86-64.
#[cfg_attr(target_arch = "arm", inline(never))]
#[cfg_attr(not(target_arch = "arm"), inline(always))]
pub fn sqrt(x: f32) -> f32 {
    if cfg!(target_arch = "arm") {
        sqrt_by_newton(x)
    } else {
        libm::sqrtf(x)
    }
}

/// √x correctly rounded in integer and f32 arithmetic. Positive normal x
/// take the fast route: three Newton steps in f32 from an estimate made by
/// halving the exponent, then the root's 24-bit integer mantissa c is
/// corrected with exact integer arithmetic until c² − c < N ≤ c² + c,
/// which says c = round(√N) (N is x's mantissa scaled to [2⁴⁶, 2⁴⁸), and
/// √N is never exactly halfway). Zeros, subnormals, negatives, ∞ and NaN
/// go to libm.
#[inline(always)]
pub(crate) fn sqrt_by_newton(x: f32) -> f32 {
    let bits = x.to_bits();
    if bits.wrapping_sub(0x0080_0000) >= 0x7f00_0000 {
        return libm::sqrtf(x);
    }
    // x = m·2^(e − 23) with m a 24-bit integer; N = m·2^s with e − 23 − s
    // even, so √x = √N·2^q exactly, q = (e − 23 − s)/2, √N ∈ [2²³, 2²⁴).
    let e = (bits >> 23) as i32 - 127;
    let m = u64::from((bits & 0x007f_ffff) | 0x0080_0000);
    let s = 23 + (e & 1);
    let n = m << s;
    let q = (e - 23 - s) >> 1;
    // An estimate within a few units: Newton's iteration in f32 (relative
    // error 4%, 6e-4, 2e-7, then rounding), scaled by 2^−q (exact).
    let mut r = f32::from_bits((bits >> 1) + 0x1fbd_1df5);
    r = 0.5 * (r + x / r);
    r = 0.5 * (r + x / r);
    r = 0.5 * (r + x / r);
    let mut c = (r * f32::from_bits(((127 - q) as u32) << 23) + 0.5) as u32;
    // Exact correction: one step either way at most in practice, a few
    // allowed (the loop ends on the first c that passes).
    for _ in 0..4 {
        let sq = u64::from(c) * u64::from(c);
        if n > sq + u64::from(c) {
            c += 1;
        } else if n <= sq - u64::from(c) {
            c -= 1;
        } else {
            break;
        }
    }
    // c ∈ [2²³, 2²⁴]: its top bit adds one to the exponent field.
    f32::from_bits((((q + 149) as u32) << 23).wrapping_add(c))
}

/// tanh of every element, in place.
///
/// Written with plain IEEE-754 arithmetic (no `libm`, no branches) so that
/// it vectorises on the host, runs fast on a Cortex-M4F, and gives the same
/// bits on both: tanh(x) = 1 − 2/(1 + e^{2x}), with e^{2x} = 2^y,
/// y = 2x·log₂e, split as 2^n·2^f by range reduction (n integral by the
/// 1.5·2²³ rounding trick, |f| ≤ ½) and 2^f by a degree-6 polynomial
/// fitted for relative error (< 2e-8 with its f32 coefficients). The input
/// is clamped to ±10, where tanh is 1 − 4e-9 in f32; NaN stays NaN.
/// Absolute error < 2e-7 (tests sweep every 16th f32 of [−10, 10] against
/// f64); the certified KL bound allows [`crate::trust::TANH_ERR`].
#[inline(always)]
pub fn tanh_inplace(v: &mut [f32]) {
    for x in v.iter_mut() {
        *x = tanh(*x);
    }
}

/// [`tanh_inplace`] for the blocked passes: on ARM a non-generic,
/// non-inlined function, so the firmware runs it as compiled at
/// fixpo-core's optimisation level; elsewhere inlined, so the host's AVX2
/// build of the blocked passes vectorises it with them. The same bits
/// either way.
#[cfg_attr(target_arch = "arm", inline(never))]
#[cfg_attr(not(target_arch = "arm"), inline(always))]
pub fn tanh_rows(v: &mut [f32]) {
    tanh_inplace(v);
}

/// Coefficients of 2^f ≈ Σ_k C_k·f^k on [−½, ½]: a weighted least-squares
/// fit iterated to the minimax relative error (Lawson's algorithm) with
/// C_0 = 1, rounded to f32. Relative error below 1.6e-8 (test
/// `exp2_poly_relative_error`).
const EXP2_POLY: [f32; 7] = [
    1.0,
    core::f32::consts::LN_2, // the fit's C_1 rounds to ln 2's f32
    0.240_226_48,
    0.055_503_324,
    0.009_618_437,
    0.001_339_887_4,
    0.000_153_533_6,
];

/// 2^f for |f| ≤ ½ from [`EXP2_POLY`], in Estrin's form: three
/// independent pairs, then two steps in f², one multiply-add each (fewer
/// instructions than Horner's form on a Cortex-M4F, whose multiply-add
/// overwrites its addend).
#[inline(always)]
fn exp2_poly(f: f32) -> f32 {
    const C: [f32; 7] = EXP2_POLY;
    let f2 = f * f;
    let lo = C[0] + C[1] * f;
    let mid = C[2] + C[3] * f;
    let hi = (C[4] + C[5] * f) + C[6] * f2;
    lo + f2 * (mid + f2 * hi)
}

/// tanh of one number; see [`tanh_inplace`].
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    // 2·log₂e: doubling is exact, so x·K rounds once, as (2x)·log₂e does.
    const K: f32 = 2.0 * core::f32::consts::LOG2_E;
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³
    let x = clamp(x, -10.0, 10.0);
    let y = x * K;
    let t = y + ROUND;
    let n = t - ROUND;
    let f = y - n; // exact, |f| ≤ ½
    let p = exp2_poly(f);
    // 2^n from the bits of t = 1.5·2²³ + n: its low 9 bits are n's (mod
    // 512), so t's bits shifted left by 23 are n's exponent field, mod 2³²
    // (|n| ≤ 29 here). Integer arithmetic only, which vectorises (a
    // float-to-int cast does not, as Rust's saturates); a NaN x makes p NaN,
    // so the product stays NaN whatever these bits are.
    let two_n = f32::from_bits((t.to_bits() << 23).wrapping_add(127 << 23));
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
    fn all_finite_agrees_with_is_finite() {
        let specials = [
            0.0,
            -0.0,
            1.0,
            -3.5,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            1e-45,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
        ];
        for n in 0..11 {
            for pos in 0..n.max(1) {
                for &bad in &specials {
                    let mut xs = [0.5f32; 10];
                    for (k, x) in xs.iter_mut().enumerate().take(n) {
                        *x = specials[(k * 7 + n) % 8]; // finite ones
                    }
                    if pos < n {
                        xs[pos] = bad;
                    }
                    let want = xs[..n].iter().all(|x| x.is_finite());
                    assert_eq!(all_finite(&xs[..n]), want, "n {n} pos {pos} bad {bad}");
                }
            }
        }
    }

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

    /// The firmware's square root is libm's correctly rounded `sqrtf`, bit
    /// for bit: every f32
    /// of [1, 4) (both exponent parities, every mantissa: the rounding
    /// depends on nothing else, as √(4x) = 2√x exactly), a stride through
    /// all positive floats, and the special values.
    #[test]
    fn sqrt_is_correctly_rounded() {
        let check = |x: f32| {
            assert_eq!(
                sqrt(x).to_bits(),
                libm::sqrtf(x).to_bits(),
                "sqrt({x:e}) ({:#x})",
                x.to_bits()
            );
        };
        for bits in 1.0f32.to_bits()..4.0f32.to_bits() {
            check(f32::from_bits(bits));
        }
        for bits in (0..=0x7f80_0000u32).step_by(251) {
            check(f32::from_bits(bits));
        }
        for x in [0.0, -0.0, f32::MIN_POSITIVE, f32::MAX, 1e-8, f32::INFINITY] {
            check(x);
        }
        for x in [-1.0, f32::NEG_INFINITY, f32::NAN, -f32::MIN_POSITIVE] {
            assert!(sqrt_by_newton(x).is_nan(), "sqrt({x})");
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
            let p = exp2_poly(y - n);
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
    }

    /// NaN in, NaN out, whatever its payload (the bits that make 2^n come
    /// from the NaN's own bits): a NaN activation must reach the trust
    /// region check as NaN, never as a finite value.
    #[test]
    fn tanh_keeps_every_nan() {
        for payload in (0..1u32 << 22).step_by(997).chain([1, (1 << 22) - 1]) {
            for sign in [0, 1u32 << 31] {
                for quiet in [0, 1u32 << 22] {
                    let bits = sign | 0x7f80_0000 | quiet | payload;
                    let x = f32::from_bits(bits);
                    if x.is_nan() {
                        assert!(tanh(x).is_nan(), "{bits:#x}");
                    }
                }
            }
        }
    }

    /// The coefficients against f64's exp2, every 2⁻¹⁶ of [−½, ½] (in
    /// f64, so only the coefficients' error shows), and the f32 evaluation
    /// within 1.5e-7.
    #[test]
    fn exp2_poly_relative_error() {
        let mut worst = 0.0f64;
        for i in -(1 << 15)..=(1 << 15) {
            let f = i as f64 / 65536.0;
            let p = EXP2_POLY
                .iter()
                .rev()
                .fold(0.0f64, |p, &c| c as f64 + f * p);
            worst = worst.max((p / f.exp2() - 1.0).abs());
        }
        assert!(worst < 1.6e-8, "worst relative error {worst}");
        let mut worst = 0.0f64;
        for i in -(1 << 15)..=(1 << 15) {
            let f = i as f32 / 65536.0;
            worst = worst.max((exp2_poly(f) as f64 / (f as f64).exp2() - 1.0).abs());
        }
        assert!(worst < 1.5e-7, "worst relative error in f32 {worst}");
    }

    /// Every 16th f32 of [−10, 10] (and everything beyond, which clamps):
    /// within 2e-7 of f64's tanh, half of the certified bound's allowance.
    #[test]
    fn tanh_within_2e7_on_every_16th_f32() {
        let mut worst = 0.0f64;
        let top = 10.0f32.to_bits();
        for bits in (0..=top).step_by(16).chain([top]) {
            for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
                let err = (tanh(x) as f64 - (x as f64).tanh()).abs();
                worst = worst.max(err);
            }
        }
        assert!(worst < 2e-7, "worst abs error {worst}");
        assert!(worst <= crate::trust::TANH_ERR);
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
