//! The blocked forward and backward passes: [`BLOCK`] samples at a time
//! through each layer, so each weight is loaded once per block, with every
//! floating-point operation in the order of the one-sample passes
//! ([`Mlp::forward`], [`Mlp::backward`]), so the results are the same bits.

use super::Mlp;
use crate::linalg::{axpy, tanh_rows};

/// Samples the blocked kernels ([`Mlp::forward_block`],
/// [`Mlp::backward_block`]) process together: 8 on x86-64 (a 8 × 8 tile
/// is eight AVX registers of partial sums), 4 elsewhere (smaller stack on a
/// microcontroller). Results do not depend on it.
pub const BLOCK: usize = if cfg!(target_arch = "x86_64") { 8 } else { 4 };

/// Output columns a blocked kernel keeps in registers at a time.
#[cfg(test)]
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
        tanh_rows(blk.h1.as_flattened_mut());
        K::affine(&self.w2, &self.b2, &blk.h1, &mut blk.h2);
        tanh_rows(blk.h2.as_flattened_mut());
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
    /// [`dot`](crate::linalg::dot) computes it: eight interleaved partial
    /// sums `a[k] = Σ_c w[8c+k]·d[s][8c+k]`, then
    /// `((a0+a4)+(a1+a5)) + ((a2+a6)+(a3+a7))`, then `+ tail` (the
    /// sequential sum, from 0, of the last `M mod 8` products).
    fn dot<const M: usize>(w: &[f32; M], d: &[[f32; M]; BLOCK]) -> [f32; BLOCK];
}

/// The reference [`BlockKernels`]: plain Rust the compiler vectorises for
/// any target, microcontrollers included.
#[derive(Clone, Copy, Debug, Default)]
pub struct Portable;

/// The kernels in `tiles.rs`: slices, register tiles for a Cortex-M4F,
/// compiled at fixpo-core's optimisation level. The generic loops below
/// (`affine_block`, `outer_acc_block`, `dot_block`) are the reference the
/// tests hold them to, bit for bit.
impl BlockKernels for Portable {
    #[inline(always)]
    fn affine<const N: usize, const M: usize>(
        w: &[[f32; M]; N],
        b: &[f32; M],
        x: &[[f32; N]; BLOCK],
        y: &mut [[f32; M]; BLOCK],
    ) {
        super::tiles::affine(
            w.as_flattened(),
            b,
            x.as_flattened(),
            N,
            y.as_flattened_mut(),
        );
    }

    #[inline(always)]
    fn outer_acc<const N: usize, const M: usize>(
        g: &mut [[f32; M]; N],
        x: &[[f32; N]; BLOCK],
        d: &[[f32; M]; BLOCK],
        n: usize,
    ) {
        super::tiles::outer_acc(
            g.as_flattened_mut(),
            x.as_flattened(),
            N,
            d.as_flattened(),
            M,
            n,
        );
    }

    #[inline(always)]
    fn dot<const M: usize>(w: &[f32; M], d: &[[f32; M]; BLOCK]) -> [f32; BLOCK] {
        let mut out = [0.0; BLOCK];
        super::tiles::dot(w, d.as_flattened(), &mut out);
        out
    }
}

/// The reference loops, as generic code (what `Portable` was before its
/// kernels moved to `tiles.rs`).
#[cfg(test)]
struct Reference;

#[cfg(test)]
impl BlockKernels for Reference {
    fn affine<const N: usize, const M: usize>(
        w: &[[f32; M]; N],
        b: &[f32; M],
        x: &[[f32; N]; BLOCK],
        y: &mut [[f32; M]; BLOCK],
    ) {
        affine_block(w, b, x, y);
    }

    fn outer_acc<const N: usize, const M: usize>(
        g: &mut [[f32; M]; N],
        x: &[[f32; N]; BLOCK],
        d: &[[f32; M]; BLOCK],
        n: usize,
    ) {
        outer_acc_block(g, x, d, n);
    }

    fn dot<const M: usize>(w: &[f32; M], d: &[[f32; M]; BLOCK]) -> [f32; BLOCK] {
        dot_block(w, d)
    }
}

#[cfg(test)]
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
#[cfg(test)]
const ROW_TILE: usize = 32;

/// `g[i] += Σ_{s<n} x[s][i]·d[s]`, each element receiving the samples in
/// order (as `n` outer-product `axpy`s would), `ROW_TILE` elements of a row
/// kept in registers across the samples.
#[cfg(test)]
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
/// [`dot`](crate::linalg::dot) (eight interleaved partial sums, then the
/// same tree), with each chunk of `w` loaded once for all samples.
#[cfg(test)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::MlpCache;
    use crate::params::Params;
    use crate::rng::{self, Pcg32};

    /// The blocked kernels against one sample at a time, bit for bit, at
    /// widths that are not multiples of the register tiles (12 = 8 + 4;
    /// 40 = 32 + 8 for the weight-gradient rows) and for every block fill
    /// `n`.
    #[test]
    fn blocked_kernels_match_per_sample_bitwise() {
        check_blocked::<5, 12, 3>();
        check_blocked::<7, 40, 2>();
    }

    /// `tiles.rs` against the reference loops, bit for bit, over widths
    /// with tails after every tile (rows, columns, samples) and values
    /// across many binades (any reordering would show).
    #[test]
    fn tiles_match_reference_loops_bitwise() {
        tiles_vs_reference::<3, 32>();
        tiles_vs_reference::<32, 32>();
        tiles_vs_reference::<64, 64>();
        tiles_vs_reference::<5, 13>();
        tiles_vs_reference::<7, 42>();
        tiles_vs_reference::<1, 3>();
    }

    fn tiles_vs_reference<const N: usize, const M: usize>() {
        let mut rng = Pcg32::seed_from_u64(N as u64 * 1000 + M as u64);
        let mut v = || {
            rng::uniform_range(&mut rng, -1.0, 1.0)
                * libm::exp2f(rng::uniform_range(&mut rng, -12.0, 12.0))
        };
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for _ in 0..5 {
            let w: [[f32; M]; N] = core::array::from_fn(|_| core::array::from_fn(|_| v()));
            let b: [f32; M] = core::array::from_fn(|_| v());
            let x: [[f32; N]; BLOCK] = core::array::from_fn(|_| core::array::from_fn(|_| v()));
            let d: [[f32; M]; BLOCK] = core::array::from_fn(|_| core::array::from_fn(|_| v()));
            let (mut y1, mut y2) = ([[0.0; M]; BLOCK], [[0.0; M]; BLOCK]);
            Portable::affine(&w, &b, &x, &mut y1);
            Reference::affine(&w, &b, &x, &mut y2);
            assert_eq!(
                bits(y1.as_flattened()),
                bits(y2.as_flattened()),
                "affine {N}x{M}"
            );
            for n in 0..=BLOCK {
                let (mut g1, mut g2) = (w, w);
                Portable::outer_acc(&mut g1, &x, &d, n);
                Reference::outer_acc(&mut g2, &x, &d, n);
                assert_eq!(
                    bits(g1.as_flattened()),
                    bits(g2.as_flattened()),
                    "outer {N}x{M} n={n}"
                );
            }
            assert_eq!(
                bits(&Portable::dot(&b, &d)),
                bits(&Reference::dot(&b, &d)),
                "dot {M}"
            );
        }
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
}
