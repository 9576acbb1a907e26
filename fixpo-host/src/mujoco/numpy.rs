//! NumPy's order of operations, so that rewards and observations agree
//! with Gymnasium's bit for bit.

/// NumPy's `np.sum` of a contiguous `f64` array (pairwise summation with
/// eight accumulators), so sums agree with Gymnasium bit for bit.
pub(crate) fn np_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        np_sum(&a[..n2]) + np_sum(&a[n2..])
    }
}

/// `np.sum(np.square(a))`.
pub(crate) fn sum_sq(a: &[f64]) -> f64 {
    let sq: Vec<f64> = a.iter().map(|x| x * x).collect();
    np_sum(&sq)
}

/// `np.clip(x, lo, hi)` (NaN passes through).
#[inline]
pub(crate) fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    let y = if x < lo { lo } else { x };
    if y > hi { hi } else { y }
}

/// `bool * w` as NumPy computes it.
#[inline]
pub(crate) fn flag(b: bool, w: f64) -> f64 {
    (if b { 1.0 } else { 0.0 }) * w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_pairwise_sum() {
        let v: Vec<f64> = (0..300)
            .map(|i| (i as f64 * 0.37).sin() * 1e3f64.powf((i % 7) as f64 / 3.0))
            .collect();
        for n in [0, 1, 3, 7, 8, 9, 84, 128, 129, 300] {
            let s = np_sum(&v[..n]);
            let naive: f64 = v[..n].iter().sum();
            assert!((s - naive).abs() <= 1e-9 * naive.abs().max(1.0), "{n}");
        }
        // Eight accumulators: ((a0+a1)+(a2+a3)) + ((a4+a5)+(a6+a7)), then the rest.
        let a = [1e16, 1.0, -1e16, 1.0, 0.5, 0.25, 0.125, 0.0625, 3.0];
        assert_eq!(
            np_sum(&a),
            ((1e16 + 1.0) + (-1e16 + 1.0)) + ((0.5 + 0.25) + (0.125 + 0.0625)) + 3.0
        );
    }
}
