//! A fixed-size tanh MLP with two hidden layers and a hand-written backward
//! pass.
//!
//! Weights are stored input-major (`w1[j]` holds the weights leaving input
//! `j`), so the forward pass is a sequence of `axpy`s and the weight gradient
//! is an outer product, both free of reductions and easy to vectorise.

use crate::linalg::{axpy, dot, tanh_inplace};
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
        cache.h1 = self.b1;
        for j in 0..I {
            axpy(&mut cache.h1, x[j], &self.w1[j]);
        }
        tanh_inplace(&mut cache.h1);
        cache.h2 = self.b2;
        for j in 0..H {
            axpy(&mut cache.h2, cache.h1[j], &self.w2[j]);
        }
        tanh_inplace(&mut cache.h2);
        let mut y = self.b3;
        for j in 0..H {
            let h = cache.h2[j];
            for o in 0..O {
                y[o] += h * self.w3[j][o];
            }
        }
        y
    }

    /// Output for input `x` without keeping activations.
    #[inline]
    pub fn predict(&self, x: &[f32; I]) -> [f32; O] {
        let mut cache = MlpCache::ZERO;
        self.forward(x, &mut cache)
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

/// Samples the blocked kernels ([`Mlp::forward_block`],
/// [`Mlp::backward_block`]) process together: 8 on x86-64 (a 8 × 8 tile
/// is eight AVX registers of partial sums), 4 elsewhere (smaller stack on a
/// microcontroller). Results do not depend on it.
pub const BLOCK: usize = if cfg!(target_arch = "x86_64") { 8 } else { 4 };

/// Output columns a blocked kernel keeps in registers at a time.
const LANES: usize = 8;

/// Activations of up to [`BLOCK`] samples, kept for a blocked backward pass.
/// Set `x[s]` for each sample before the forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MlpBlock<const I: usize, const H: usize> {
    /// The inputs.
    pub x: [[f32; I]; BLOCK],
    /// First hidden layer after tanh.
    pub h1: [[f32; H]; BLOCK],
    /// Second hidden layer after tanh.
    pub h2: [[f32; H]; BLOCK],
}

impl<const I: usize, const H: usize> MlpBlock<I, H> {
    /// An all-zero block.
    pub const ZERO: Self = Self {
        x: [[0.0; I]; BLOCK],
        h1: [[0.0; H]; BLOCK],
        h2: [[0.0; H]; BLOCK],
    };
}

impl<const I: usize, const H: usize, const O: usize> Mlp<I, H, O> {
    /// [`Mlp::forward`] for the [`BLOCK`] inputs in `blk.x`, bit for bit:
    /// every output is summed in the same order, but each weight is loaded
    /// once per block instead of once per sample.
    #[inline(always)]
    pub fn forward_block(&self, blk: &mut MlpBlock<I, H>) -> [[f32; O]; BLOCK] {
        self.forward_block_with::<Portable>(blk)
    }

    /// [`Mlp::forward_block`] with the inner loops of `K`.
    #[inline(always)]
    pub fn forward_block_with<K: BlockKernels>(
        &self,
        blk: &mut MlpBlock<I, H>,
    ) -> [[f32; O]; BLOCK] {
        K::affine(&self.w1, &self.b1, &blk.x, &mut blk.h1);
        blk.h1.iter_mut().for_each(|h| tanh_inplace(h));
        K::affine(&self.w2, &self.b2, &blk.h1, &mut blk.h2);
        blk.h2.iter_mut().for_each(|h| tanh_inplace(h));
        let mut y = [self.b3; BLOCK];
        for (ys, h2) in y.iter_mut().zip(&blk.h2) {
            for j in 0..H {
                let h = h2[j];
                for o in 0..O {
                    ys[o] += h * self.w3[j][o];
                }
            }
        }
        y
    }

    /// [`Mlp::backward`] for the first `n` samples of a block (in order),
    /// bit for bit: each gradient element receives the samples'
    /// contributions in sample order, as `n` calls of `backward` would.
    #[inline(always)]
    pub fn backward_block(
        &self,
        blk: &MlpBlock<I, H>,
        dy: &[[f32; O]; BLOCK],
        n: usize,
        grad: &mut Self,
    ) {
        self.backward_block_with::<Portable>(blk, dy, n, grad);
    }

    /// [`Mlp::backward_block`] with the inner loops of `K`.
    #[inline(always)]
    pub fn backward_block_with<K: BlockKernels>(
        &self,
        blk: &MlpBlock<I, H>,
        dy: &[[f32; O]; BLOCK],
        n: usize,
        grad: &mut Self,
    ) {
        let n = n.min(BLOCK);
        let mut da2 = [[0.0f32; H]; BLOCK];
        for s in 0..n {
            for j in 0..H {
                let h = blk.h2[s][j];
                let mut back = 0.0f32;
                for o in 0..O {
                    grad.w3[j][o] += h * dy[s][o];
                    back += self.w3[j][o] * dy[s][o];
                }
                da2[s][j] = back * (1.0 - h * h);
            }
            for o in 0..O {
                grad.b3[o] += dy[s][o];
            }
        }
        K::outer_acc(&mut grad.w2, &blk.h1, &da2, n);
        let mut da1 = [[0.0f32; H]; BLOCK];
        for j in 0..H {
            let back = K::dot(&self.w2[j], &da2);
            for s in 0..n {
                let h = blk.h1[s][j];
                da1[s][j] = back[s] * (1.0 - h * h);
            }
        }
        for d in &da2[..n] {
            axpy(&mut grad.b2, 1.0, d);
        }
        K::outer_acc(&mut grad.w1, &blk.x, &da1, n);
        for d in &da1[..n] {
            axpy(&mut grad.b1, 1.0, d);
        }
    }
}

/// The inner loops of the blocked passes ([`Mlp::forward_block_with`],
/// [`Mlp::backward_block_with`]). Each fixes the order of every
/// floating-point operation; [`Portable`] is the reference, and another
/// implementation (a host's hand-vectorised one) must give its bits exactly.
pub trait BlockKernels {
    /// `y[s] = b + Σ_i x[s][i]·w[i]` for every sample of the block: element
    /// `y[s][j]` is `b[j]`, then `+ x[s][i]·w[i][j]` for `i = 0, 1, …` (each
    /// product rounded, then added), as a sequence of [`axpy`]s would.
    fn affine<const N: usize, const M: usize>(
        w: &[[f32; M]; N],
        b: &[f32; M],
        x: &[[f32; N]; BLOCK],
        y: &mut [[f32; M]; BLOCK],
    );

    /// `g[i][j] += x[s][i]·d[s][j]` for the first `n` samples, each element
    /// receiving the samples in order `s = 0, 1, …`.
    fn outer_acc<const N: usize, const M: usize>(
        g: &mut [[f32; M]; N],
        x: &[[f32; N]; BLOCK],
        d: &[[f32; M]; BLOCK],
        n: usize,
    );

    /// `dot(w, d[s])` for every sample of the block, each exactly as
    /// [`dot`] computes it: eight interleaved partial sums
    /// `a[k] = Σ_c w[8c+k]·d[s][8c+k]`, then
    /// `((a0+a4)+(a1+a5)) + ((a2+a6)+(a3+a7))`, then `+ tail` (the
    /// sequential sum, from 0, of the last `M mod 8` products).
    fn dot<const M: usize>(w: &[f32; M], d: &[[f32; M]; BLOCK]) -> [f32; BLOCK];
}

/// The reference [`BlockKernels`]: plain Rust the compiler vectorises for
/// any target, microcontrollers included.
#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

impl BlockKernels for Portable {
    #[inline(always)]
    fn affine<const N: usize, const M: usize>(
        w: &[[f32; M]; N],
        b: &[f32; M],
        x: &[[f32; N]; BLOCK],
        y: &mut [[f32; M]; BLOCK],
    ) {
        affine_block(w, b, x, y);
    }

    #[inline(always)]
    fn outer_acc<const N: usize, const M: usize>(
        g: &mut [[f32; M]; N],
        x: &[[f32; N]; BLOCK],
        d: &[[f32; M]; BLOCK],
        n: usize,
    ) {
        outer_acc_block(g, x, d, n);
    }

    #[inline(always)]
    fn dot<const M: usize>(w: &[f32; M], d: &[[f32; M]; BLOCK]) -> [f32; BLOCK] {
        dot_block(w, d)
    }
}

/// `y[s] = b + Σ_i x[s][i]·w[i]` for every sample, each element summed in
/// the order `b, i = 0, 1, …` (the order of a sequence of `axpy`s). Tiles of
/// `BLOCK` samples × `LANES` outputs stay in registers across the sum.
#[inline(always)]
fn affine_block<const N: usize, const M: usize>(
    w: &[[f32; M]; N],
    b: &[f32; M],
    x: &[[f32; N]; BLOCK],
    y: &mut [[f32; M]; BLOCK],
) {
    for t in 0..M / LANES {
        let j0 = t * LANES;
        let mut acc = [[0.0f32; LANES]; BLOCK];
        for a in acc.iter_mut() {
            a.copy_from_slice(&b[j0..j0 + LANES]);
        }
        for i in 0..N {
            let wi = &w[i][j0..j0 + LANES];
            for s in 0..BLOCK {
                let xs = x[s][i];
                for l in 0..LANES {
                    acc[s][l] += xs * wi[l];
                }
            }
        }
        for s in 0..BLOCK {
            y[s][j0..j0 + LANES].copy_from_slice(&acc[s]);
        }
    }
    for j in M / LANES * LANES..M {
        for s in 0..BLOCK {
            let mut v = b[j];
            for i in 0..N {
                v += x[s][i] * w[i][j];
            }
            y[s][j] = v;
        }
    }
}

/// Row elements [`outer_acc_block`] keeps in registers across the samples:
/// enough independent sums to hide the adder's latency.
const ROW_TILE: usize = 32;

/// `g[i] += Σ_{s<n} x[s][i]·d[s]`, each element receiving the samples in
/// order (as `n` outer-product `axpy`s would), `ROW_TILE` elements of a row
/// kept in registers across the samples.
#[inline(always)]
fn outer_acc_block<const N: usize, const M: usize>(
    g: &mut [[f32; M]; N],
    x: &[[f32; N]; BLOCK],
    d: &[[f32; M]; BLOCK],
    n: usize,
) {
    let n = n.min(BLOCK);
    for (i, gi) in g.iter_mut().enumerate() {
        let mut j0 = 0;
        while j0 + ROW_TILE <= M {
            let mut acc = [0.0f32; ROW_TILE];
            acc.copy_from_slice(&gi[j0..j0 + ROW_TILE]);
            for s in 0..n {
                let xs = x[s][i];
                let ds = &d[s][j0..j0 + ROW_TILE];
                for l in 0..ROW_TILE {
                    acc[l] += xs * ds[l];
                }
            }
            gi[j0..j0 + ROW_TILE].copy_from_slice(&acc);
            j0 += ROW_TILE;
        }
        for s in 0..n {
            let xs = x[s][i];
            for j in j0..M {
                gi[j] += xs * d[s][j];
            }
        }
    }
}

/// `out[s] = dot(w, d[s])` for every sample of the block, bit for bit as
/// [`dot`] (eight interleaved partial sums, then the same tree), with each
/// chunk of `w` loaded once for all samples.
#[inline(always)]
fn dot_block<const M: usize>(w: &[f32; M], d: &[[f32; M]; BLOCK]) -> [f32; BLOCK] {
    let mut acc = [[0.0f32; 8]; BLOCK];
    for c in 0..M / 8 {
        let wc = &w[8 * c..8 * c + 8];
        for s in 0..BLOCK {
            let dc = &d[s][8 * c..8 * c + 8];
            for k in 0..8 {
                acc[s][k] += wc[k] * dc[k];
            }
        }
    }
    core::array::from_fn(|s| {
        let a = &acc[s];
        let mut tail = 0.0f32;
        for j in M / 8 * 8..M {
            tail += w[j] * d[s][j];
        }
        ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])) + tail
    })
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

    /// The blocked kernels against one sample at a time, bit for bit, at
    /// widths that are not multiples of the register tiles (12 = 8 + 4;
    /// 40 = 32 + 8 for the weight-gradient rows) and for every block fill
    /// `n`.
    #[test]
    fn blocked_kernels_match_per_sample_bitwise() {
        check_blocked::<5, 12, 3>();
        check_blocked::<7, 40, 2>();
    }

    fn check_blocked<const I: usize, const H: usize, const O: usize>() {
        let mut rng = Pcg32::seed_from_u64(21);
        let mut net = Mlp::<I, H, O>::ZERO;
        net.init(&mut rng, 1.4, 0.9);
        net.b1
            .iter_mut()
            .for_each(|b| *b = rng::normal(&mut rng) * 0.3);
        net.b2
            .iter_mut()
            .for_each(|b| *b = rng::normal(&mut rng) * 0.3);
        for n in 1..=BLOCK {
            let mut blk = MlpBlock::ZERO;
            let mut dy = [[0.0f32; O]; BLOCK];
            for s in 0..BLOCK {
                blk.x[s] = core::array::from_fn(|_| rng::normal(&mut rng));
                dy[s] = core::array::from_fn(|_| rng::normal(&mut rng));
            }
            // Start from a non-zero gradient so accumulation order matters.
            let mut g_blk = net;
            let mut g_seq = net;
            let ys = net.forward_block(&mut blk);
            net.backward_block(&blk, &dy, n, &mut g_blk);
            for s in 0..BLOCK {
                let mut cache = MlpCache::ZERO;
                let y = net.forward(&blk.x[s], &mut cache);
                assert_eq!(y.map(f32::to_bits), ys[s].map(f32::to_bits));
                assert_eq!(cache.h1, blk.h1[s]);
                assert_eq!(cache.h2, blk.h2[s]);
                if s < n {
                    net.backward(&cache, &dy[s], &mut g_seq);
                }
            }
            let mut a = vec![0.0f32; Mlp::<I, H, O>::PARAMS];
            let mut b = vec![0.0f32; Mlp::<I, H, O>::PARAMS];
            g_blk.write_flat(&mut a).unwrap();
            g_seq.write_flat(&mut b).unwrap();
            let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
            assert_eq!(bits(a), bits(b), "n = {n}, H = {H}");
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
