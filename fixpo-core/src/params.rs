//! Parameter sets: anything whose trainable numbers can be walked as a fixed
//! sequence of `f32` slices (networks, their gradients, Adam moments).

/// A fixed-size collection of trainable numbers, seen as [`Params::SLICES`]
/// slices in a fixed order. Gradients and optimiser moments use the same
/// type as the parameters, so all element-wise algebra is written once here.
pub trait Params: Clone {
    /// Number of slices.
    const SLICES: usize;
    /// Number of scalars over all slices.
    const LEN: usize;
    /// Slice `k` (`k < SLICES`; an empty slice otherwise).
    fn slice(&self, k: usize) -> &[f32];
    /// Slice `k`, mutably (`k < SLICES`; an empty slice otherwise).
    fn slice_mut(&mut self, k: usize) -> &mut [f32];

    /// Sets every number to zero.
    fn fill_zero(&mut self) {
        for k in 0..Self::SLICES {
            self.slice_mut(k).fill(0.0);
        }
    }

    /// Sum of squares of every number.
    fn sum_sq(&self) -> f32 {
        (0..Self::SLICES)
            .map(|k| {
                let s = self.slice(k);
                crate::linalg::dot(s, s)
            })
            .sum()
    }

    /// `true` when every number is finite.
    fn all_finite(&self) -> bool {
        (0..Self::SLICES).all(|k| crate::linalg::all_finite(self.slice(k)))
    }

    /// Multiplies every number by `c`.
    fn scale(&mut self, c: f32) {
        for k in 0..Self::SLICES {
            self.slice_mut(k).iter_mut().for_each(|x| *x *= c);
        }
    }

    /// `self += c·other`.
    fn add_scaled(&mut self, c: f32, other: &Self) {
        for k in 0..Self::SLICES {
            crate::linalg::axpy(self.slice_mut(k), c, other.slice(k));
        }
    }

    /// `self ← self + t·(new − self)`: a point on the segment from the
    /// current numbers to `new` (`t = 0` leaves them exactly, `t = 1` gives
    /// exactly `new`).
    fn lerp_towards(&mut self, new: &Self, t: f32) {
        for k in 0..Self::SLICES {
            for (x, &xn) in self.slice_mut(k).iter_mut().zip(new.slice(k)) {
                *x = if t == 0.0 {
                    *x
                } else if t == 1.0 {
                    xn
                } else {
                    *x + t * (xn - *x)
                };
            }
        }
    }

    /// Copies the numbers into `out` in slice order; returns how many were
    /// written, or `None` when `out` is shorter than [`Params::LEN`].
    fn write_flat(&self, out: &mut [f32]) -> Option<usize> {
        if out.len() < Self::LEN {
            return None;
        }
        let mut at = 0;
        for k in 0..Self::SLICES {
            let s = self.slice(k);
            out[at..at + s.len()].copy_from_slice(s);
            at += s.len();
        }
        Some(at)
    }

    /// Reads the numbers from `src` in slice order; `None` when `src` is
    /// shorter than [`Params::LEN`].
    fn read_flat(&mut self, src: &[f32]) -> Option<usize> {
        if src.len() < Self::LEN {
            return None;
        }
        let mut at = 0;
        for k in 0..Self::SLICES {
            let s = self.slice_mut(k);
            let n = s.len();
            s.copy_from_slice(&src[at..at + n]);
            at += n;
        }
        Some(at)
    }
}
