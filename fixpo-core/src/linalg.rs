//! The two small kernels every layer is built from. They fix the order of
//! floating-point operations (so all targets agree bit for bit) and are
//! shaped so the compiler vectorises them: `axpy` has no reduction, and
//! `dot` keeps eight independent partial sums.

/// `y += a·x` element-wise over the common length.
#[inline]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// Dot product with eight interleaved partial sums (a fixed summation order).
#[inline]
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
