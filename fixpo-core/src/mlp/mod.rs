//! A fixed-size tanh MLP with two hidden layers and a hand-written backward
//! pass.
//!
//! Weights are stored input-major (`w1[j]` holds the weights leaving input
//! `j`), so the forward pass is a sequence of `axpy`s and the weight gradient
//! is an outer product, both free of reductions and easy to vectorise.
//!
//! # Where to read what
//! - [`Mlp`] (here): the network, its forward and backward pass for one
//!   sample, its parameter layout ([`Params`]) and its initialisation.
//! - [`MlpBlock`], [`BLOCK`], [`BlockKernels`] (`block.rs`): the same passes
//!   for a block of samples, bit for bit, as the update's minibatches use them.

mod block;
mod tiles;

pub use block::{BLOCK, BlockKernels, MlpBlock, Portable};

use crate::linalg::{affine, affine_tanh, affine_tanh_then, axpy, dot};
use crate::params::Params;
use crate::rng;
use rand_core::RngCore;

/// `I → H → H → O` multilayer perceptron with tanh hidden units and a linear
/// output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mlp<const I: usize, const H: usize, const O: usize> {
    /// First layer weights, `w1[input][hidden]`.
    pub w1: [[f32; H]; I],
    /// First layer biases.
    pub b1: [f32; H],
    /// Second layer weights, `w2[hidden1][hidden2]`.
    pub w2: [[f32; H]; H],
    /// Second layer biases.
    pub b2: [f32; H],
    /// Output layer weights, `w3[hidden2][output]`.
    pub w3: [[f32; O]; H],
    /// Output biases.
    pub b3: [f32; O],
}

/// Activations kept from a forward pass for the backward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MlpCache<const I: usize, const H: usize> {
    /// The input.
    pub x: [f32; I],
    /// First hidden layer after tanh.
    pub h1: [f32; H],
    /// Second hidden layer after tanh.
    pub h2: [f32; H],
}

impl<const I: usize, const H: usize> MlpCache<I, H> {
    /// An all-zero cache.
    pub const ZERO: Self = Self {
        x: [0.0; I],
        h1: [0.0; H],
        h2: [0.0; H],
    };
}

impl<const I: usize, const H: usize, const O: usize> Default for Mlp<I, H, O> {
    fn default() -> Self {
        Self::ZERO
    }
}

impl<const I: usize, const H: usize, const O: usize> Mlp<I, H, O> {
    /// Number of parameters.
    pub const PARAMS: usize = I * H + H + H * H + H + H * O + O;

    /// All weights and biases zero (also the zero gradient).
    pub const ZERO: Self = Self {
        w1: [[0.0; H]; I],
        b1: [0.0; H],
        w2: [[0.0; H]; H],
        b2: [0.0; H],
        w3: [[0.0; O]; H],
        b3: [0.0; O],
    };

    /// Orthogonal initialisation: hidden layers with gain `hidden_gain`
    /// (√2 in the reference), the output layer with `out_gain` (0.01 for a
    /// policy mean, 1 for a value), zero biases.
    pub fn init<R: RngCore + ?Sized>(&mut self, rng: &mut R, hidden_gain: f32, out_gain: f32) {
        *self = Self::ZERO;
        orthogonal(&mut self.w1, hidden_gain, rng);
        orthogonal(&mut self.w2, hidden_gain, rng);
        orthogonal(&mut self.w3, out_gain, rng);
    }

    /// Output for input `x`, keeping activations in `cache`.
    #[inline]
    pub fn forward(&self, x: &[f32; I], cache: &mut MlpCache<I, H>) -> [f32; O] {
        cache.x = *x;
        // The same sums, in the same order, as `h = b` then one `axpy` per
        // input (the minibatch kernels' order), then tanh: see
        // `linalg::affine`.
        affine_tanh(x, &self.w1, &self.b1, &mut cache.h1);
        affine_tanh(&cache.h1, &self.w2, &self.b2, &mut cache.h2);
        let mut y = [0.0; O];
        affine(&cache.h2, &self.w3, &self.b3, &mut y);
        y
    }

    /// Output for input `x` without keeping activations: the same bits as
    /// [`Mlp::forward`], with the second hidden layer's activations added
    /// into the output as they are made (`linalg::affine_tanh_then`)
    /// instead of stored.
    #[inline]
    pub fn predict(&self, x: &[f32; I]) -> [f32; O] {
        let mut h1 = [0.0; H];
        affine_tanh(x, &self.w1, &self.b1, &mut h1);
        let mut y = self.b3;
        affine_tanh_then(&h1, &self.w2, &self.b2, &self.w3, &mut y);
        y
    }

    /// Accumulates into `grad` the gradient of a scalar loss whose gradient
    /// with respect to this network's output is `dy`, at the input recorded
    /// in `cache`.
    #[inline]
    pub fn backward(&self, cache: &MlpCache<I, H>, dy: &[f32; O], grad: &mut Self) {
        // Output layer (O is small: an action dimension or 1, so these
        // loops are unrolled instead of calling the slice kernels).
        let mut da2 = [0.0f32; H];
        for j in 0..H {
            let h = cache.h2[j];
            let mut back = 0.0f32;
            for o in 0..O {
                grad.w3[j][o] += h * dy[o];
                back += self.w3[j][o] * dy[o];
            }
            da2[j] = back * (1.0 - h * h);
        }
        for o in 0..O {
            grad.b3[o] += dy[o];
        }
        for j in 0..H {
            axpy(&mut grad.w2[j], cache.h1[j], &da2);
        }
        axpy(&mut grad.b2, 1.0, &da2);
        // Through tanh of the first hidden layer.
        let mut da1 = [0.0f32; H];
        for j in 0..H {
            let h = cache.h1[j];
            da1[j] = dot(&self.w2[j], &da2) * (1.0 - h * h);
        }
        for j in 0..I {
            axpy(&mut grad.w1[j], cache.x[j], &da1);
        }
        axpy(&mut grad.b1, 1.0, &da1);
    }
}

/// Slices of the output layer (`w3`, `b3`): the last ones in [`Params`]
/// order, after every hidden layer's weights and biases.
const OUTPUT_SLICES: usize = 2;

impl<const I: usize, const H: usize, const O: usize> Mlp<I, H, O> {
    /// The [`Params`] slices of the hidden layers (`w1, b1, w2, b2`), taken
    /// from the slice layout below: every slice but the output layer's.
    /// What a head-only update ([`crate::fixpo::TrainScope::Head`]) leaves
    /// alone.
    pub(crate) const HIDDEN_SLICES: core::ops::Range<usize> =
        0..<Self as Params>::SLICES - OUTPUT_SLICES;
}

/// The one definition of the parameter layout: slice `k` in order.
impl<const I: usize, const H: usize, const O: usize> Params for Mlp<I, H, O> {
    const SLICES: usize = 6;
    const LEN: usize = Self::PARAMS;

    fn slice(&self, k: usize) -> &[f32] {
        match k {
            0 => self.w1.as_flattened(),
            1 => &self.b1,
            2 => self.w2.as_flattened(),
            3 => &self.b2,
            4 => self.w3.as_flattened(),
            5 => &self.b3,
            _ => &[],
        }
    }

    fn slice_mut(&mut self, k: usize) -> &mut [f32] {
        match k {
            0 => self.w1.as_flattened_mut(),
            1 => &mut self.b1,
            2 => self.w2.as_flattened_mut(),
            3 => &mut self.b2,
            4 => self.w3.as_flattened_mut(),
            5 => &mut self.b3,
            _ => &mut [],
        }
    }
}

/// Fills `w` (`N` inputs × `M` outputs, input-major) with a scaled
/// (semi-)orthogonal matrix: Gaussian entries orthonormalised by modified
/// Gram–Schmidt along the shorter side, then multiplied by `gain`.
fn orthogonal<const N: usize, const M: usize, R: RngCore + ?Sized>(
    w: &mut [[f32; M]; N],
    gain: f32,
    rng: &mut R,
) {
    for row in w.iter_mut() {
        for x in row.iter_mut() {
            *x = rng::normal(rng);
        }
    }
    if N <= M {
        // N vectors of length M (the rows as stored) become orthonormal.
        for i in 0..N {
            for k in 0..i {
                let (head, tail) = w.split_at_mut(i);
                let p = dot(&tail[0], &head[k]);
                axpy(&mut tail[0], -p, &head[k]);
            }
            normalise(&mut w[i]);
        }
    } else {
        // M column vectors of length N become orthonormal.
        for c in 0..M {
            for k in 0..c {
                let p: f32 = (0..N).map(|r| w[r][c] * w[r][k]).sum();
                for r in 0..N {
                    w[r][c] -= p * w[r][k];
                }
            }
            let norm = libm::sqrtf((0..N).map(|r| w[r][c] * w[r][c]).sum());
            let inv = if norm > 0.0 { 1.0 / norm } else { 0.0 };
            for r in 0..N {
                w[r][c] *= inv;
            }
        }
    }
    for row in w.iter_mut() {
        row.iter_mut().for_each(|x| *x *= gain);
    }
}

fn normalise(v: &mut [f32]) {
    let norm = libm::sqrtf(dot(v, v));
    let inv = if norm > 0.0 { 1.0 / norm } else { 0.0 };
    v.iter_mut().for_each(|x| *x *= inv);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Pcg32;

    type Net = Mlp<3, 8, 2>;

    fn net(seed: u64) -> Net {
        let mut n = Net::ZERO;
        let mut rng = Pcg32::seed_from_u64(seed);
        n.init(&mut rng, 1.4, 0.7);
        // Non-zero biases so their gradients are exercised too.
        n.b1.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = 0.1 * i as f32 - 0.3);
        n.b2.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = -0.05 * i as f32 + 0.2);
        n.b3 = [0.3, -0.2];
        n
    }

    /// Loss = c · y (a fixed linear functional of the output).
    fn loss(n: &Net, x: &[f32; 3], c: &[f32; 2]) -> f64 {
        let y = n.predict(x);
        y.iter().zip(c).map(|(a, b)| *a as f64 * *b as f64).sum()
    }

    /// `predict` (second hidden layer added into the output as it is made)
    /// gives `forward`'s bits, and `forward` gives the axpy sequence's
    /// (an independent one-sample pass written out here), for widths with
    /// and without tails after the blocks of 16 and 8 and for one and
    /// several outputs.
    #[test]
    fn predict_is_forward_is_the_axpy_sequence_bitwise() {
        fn check<const I: usize, const H: usize, const O: usize>(seed: u64) {
            let mut rng = Pcg32::seed_from_u64(seed);
            let mut n = Mlp::<I, H, O>::ZERO;
            n.init(&mut rng, 1.4, 0.9);
            n.b1.iter_mut()
                .for_each(|b| *b = 0.3 * crate::rng::normal(&mut rng));
            n.b2.iter_mut()
                .for_each(|b| *b = 0.3 * crate::rng::normal(&mut rng));
            n.b3.iter_mut()
                .for_each(|b| *b = crate::rng::normal(&mut rng));
            let x: [f32; I] = core::array::from_fn(|_| 2.0 * crate::rng::normal(&mut rng));
            let mut h1 = n.b1;
            for (row, &xj) in n.w1.iter().zip(&x) {
                axpy(&mut h1, xj, row);
            }
            h1.iter_mut().for_each(|h| *h = crate::linalg::tanh(*h));
            let mut h2 = n.b2;
            for (row, &hj) in n.w2.iter().zip(&h1) {
                axpy(&mut h2, hj, row);
            }
            h2.iter_mut().for_each(|h| *h = crate::linalg::tanh(*h));
            let mut want = n.b3;
            for (row, &hj) in n.w3.iter().zip(&h2) {
                axpy(&mut want, hj, row);
            }
            let mut cache = MlpCache::ZERO;
            let bits = |y: [f32; O]| y.map(f32::to_bits);
            assert_eq!(bits(n.forward(&x, &mut cache)), bits(want), "{I}x{H}x{O}");
            assert_eq!(bits(n.predict(&x)), bits(want), "{I}x{H}x{O}");
        }
        for seed in 0..10 {
            check::<3, 32, 1>(seed);
            check::<3, 64, 1>(seed);
            check::<5, 40, 3>(seed);
            check::<4, 27, 1>(seed);
            check::<17, 8, 2>(seed);
            check::<2, 5, 4>(seed);
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        // Central differences in f32 with h = 1e-2 on a smooth function:
        // truncation error O(h²·|f'''|) plus rounding ≈ 1e-7/h; tolerance
        // 2e-3 absolute + 1% relative.
        let n = net(7);
        let x = [0.4f32, -1.1, 0.7];
        let c = [1.3f32, -0.6];
        let mut cache = MlpCache::ZERO;
        n.forward(&x, &mut cache);
        let mut g = Net::ZERO;
        n.backward(&cache, &c, &mut g);

        let mut flat = [0.0f32; Net::PARAMS];
        let mut gflat = [0.0f32; Net::PARAMS];
        n.write_flat(&mut flat).unwrap();
        g.write_flat(&mut gflat).unwrap();
        let h = 1e-2f32;
        for i in 0..Net::PARAMS {
            let mut p = flat;
            p[i] += h;
            let mut np = Net::ZERO;
            np.read_flat(&p).unwrap();
            let mut m = flat;
            m[i] -= h;
            let mut nm = Net::ZERO;
            nm.read_flat(&m).unwrap();
            let fd = (loss(&np, &x, &c) - loss(&nm, &x, &c)) / (2.0 * h as f64);
            let an = gflat[i] as f64;
            assert!(
                (fd - an).abs() <= 2e-3 + 1e-2 * fd.abs(),
                "param {i}: fd {fd} vs analytic {an}"
            );
        }
    }

    #[test]
    fn backward_accumulates() {
        let n = net(3);
        let x = [0.1f32, 0.2, -0.3];
        let mut cache = MlpCache::ZERO;
        n.forward(&x, &mut cache);
        let mut once = Net::ZERO;
        n.backward(&cache, &[1.0, 2.0], &mut once);
        let mut twice = Net::ZERO;
        n.backward(&cache, &[1.0, 2.0], &mut twice);
        n.backward(&cache, &[1.0, 2.0], &mut twice);
        once.scale(2.0);
        let mut a = [0.0; Net::PARAMS];
        let mut b = [0.0; Net::PARAMS];
        once.write_flat(&mut a).unwrap();
        twice.write_flat(&mut b).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0));
        }
    }

    #[test]
    fn orthogonal_rows_and_columns() {
        let mut rng = Pcg32::seed_from_u64(11);
        // Wide: 4 inputs × 16 outputs, rows orthonormal (times gain).
        let mut w = [[0.0f32; 16]; 4];
        orthogonal(&mut w, 2.0, &mut rng);
        for i in 0..4 {
            for k in 0..4 {
                let d = dot(&w[i], &w[k]);
                let want = if i == k { 4.0 } else { 0.0 };
                assert!((d - want).abs() < 1e-4, "{i},{k}: {d}");
            }
        }
        // Tall: 16 inputs × 3 outputs, columns orthonormal.
        let mut t = [[0.0f32; 3]; 16];
        orthogonal(&mut t, 1.0, &mut rng);
        for c in 0..3 {
            for k in 0..3 {
                let d: f32 = (0..16).map(|r| t[r][c] * t[r][k]).sum();
                let want = if c == k { 1.0 } else { 0.0 };
                assert!((d - want).abs() < 1e-4, "{c},{k}: {d}");
            }
        }
    }

    /// The hidden slices are exactly the hidden layers, and the output
    /// layer's slices are the last ones.
    #[test]
    fn hidden_slices_are_the_hidden_layers() {
        let n = net(4);
        let hidden: usize = Net::HIDDEN_SLICES.map(|k| n.slice(k).len()).sum();
        assert_eq!(hidden, 3 * 8 + 8 + 8 * 8 + 8);
        let first_out = Net::HIDDEN_SLICES.end;
        assert_eq!(n.slice(first_out).as_ptr(), n.w3.as_flattened().as_ptr());
        assert_eq!(n.slice(first_out + 1).as_ptr(), n.b3.as_ptr());
        assert_eq!(first_out + 2, Net::SLICES);
    }

    #[test]
    fn lerp_endpoints_are_exact() {
        let a = net(1);
        let b = net(2);
        let mut c = a;
        c.lerp_towards(&b, 0.0);
        assert_eq!(c, a);
        c.lerp_towards(&b, 1.0);
        assert_eq!(c, b);
        // Half way: each number is a + ½(b − a).
        let mut h = a;
        h.lerp_towards(&b, 0.5);
        assert_eq!(h.b1[0], a.b1[0] + 0.5 * (b.b1[0] - a.b1[0]));
    }
}
