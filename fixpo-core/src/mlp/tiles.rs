//! The blocked passes' inner loops ([`super::Portable`]) over slices: not
//! generic and not inlined, so each is compiled once, at fixpo-core's own
//! optimisation level, whatever crate calls it (the firmware builds its own
//! code for size, and generic code is compiled in the caller's crate).
//! Register tiles are sized for the Cortex-M4F's 32 single-precision
//! registers: 16 partial sums, the operands in flight beside them. Every
//! sum is formed in the order of the one-sample passes, so the results are
//! the same bits as `block.rs`'s reference loops and as [`super::Mlp`]'s
//! `forward` and `backward`.

use super::BLOCK;

/// Samples per tile of [`affine`].
const S: usize = 4;
/// Outputs per tile of [`affine`].
const L: usize = 4;
/// Columns per tile of [`outer_acc`].
const C: usize = 8;

/// `y[s] = b + Σ_i x[s][i]·w[i]` for every sample `s` of the block, each
/// sum in the order of `i`: `w` is `n_in` rows of `b.len()` weights, `x`
/// and `y` hold the block's samples one after the other (`n_in` and
/// `b.len()` values each). Tiles of 4 samples × 4 outputs: each weight
/// and each input is loaded once per tile.
#[inline(never)]
pub fn affine(w: &[f32], b: &[f32], x: &[f32], n_in: usize, y: &mut [f32]) {
    let m = b.len();
    if m == 0 || n_in == 0 || w.len() < n_in * m {
        return;
    }
    let ns = (x.len() / n_in).min(y.len() / m);
    let mut s0 = 0;
    while s0 + S <= ns {
        let xt = &x[s0 * n_in..(s0 + S) * n_in];
        let (x0, rest) = xt.split_at(n_in);
        let (x1, rest) = rest.split_at(n_in);
        let (x2, x3) = rest.split_at(n_in);
        let yt = &mut y[s0 * m..(s0 + S) * m];
        let mut j0 = 0;
        while j0 + L <= m {
            let mut acc = [[0.0f32; L]; S];
            for a in acc.iter_mut() {
                a.copy_from_slice(&b[j0..j0 + L]);
            }
            let xs = x0.iter().zip(x1).zip(x2.iter().zip(x3));
            for (row, ((&xa, &xb), (&xc, &xd))) in w.chunks_exact(m).zip(xs) {
                let wv = &row[j0..j0 + L];
                for l in 0..L {
                    acc[0][l] += xa * wv[l];
                    acc[1][l] += xb * wv[l];
                    acc[2][l] += xc * wv[l];
                    acc[3][l] += xd * wv[l];
                }
            }
            for (s, a) in acc.iter().enumerate() {
                yt[s * m + j0..s * m + j0 + L].copy_from_slice(a);
            }
            j0 += L;
        }
        for j in j0..m {
            for (s, xs) in [x0, x1, x2, x3].into_iter().enumerate() {
                let mut a = b[j];
                for (row, &xi) in w.chunks_exact(m).zip(xs) {
                    a += xi * row[j];
                }
                yt[s * m + j] = a;
            }
        }
        s0 += S;
    }
    for s in s0..ns {
        crate::linalg::affine_rows(
            &x[s * n_in..(s + 1) * n_in],
            w,
            b,
            &mut y[s * m..(s + 1) * m],
        );
    }
}

/// `g[i] += Σ_{s<n} x[s][i]·d[s]` in the order of `s`: `g` is `n_in` rows
/// of `m` values, `x` holds the block's samples (`n_in` values each), `d`
/// theirs (`m` each). Tiles of 2 rows × 8 columns: each `d` value is
/// loaded once per pair of rows, the tile's sums stay in registers over
/// the samples.
#[inline(never)]
pub fn outer_acc(g: &mut [f32], x: &[f32], n_in: usize, d: &[f32], m: usize, n: usize) {
    if m == 0 || n_in == 0 || g.len() < n_in * m {
        return;
    }
    let n = n.min(BLOCK).min(x.len() / n_in).min(d.len() / m);
    let x = &x[..n * n_in];
    let d = &d[..n * m];
    let mut i = 0;
    while i + 2 <= n_in {
        let (ga, gb) = g[i * m..(i + 2) * m].split_at_mut(m);
        let mut j0 = 0;
        while j0 + C <= m {
            let mut a: [f32; C] = [0.0; C];
            let mut c: [f32; C] = [0.0; C];
            a.copy_from_slice(&ga[j0..j0 + C]);
            c.copy_from_slice(&gb[j0..j0 + C]);
            for (xs, ds) in x.chunks_exact(n_in).zip(d.chunks_exact(m)) {
                let (xa, xb) = (xs[i], xs[i + 1]);
                let dv = &ds[j0..j0 + C];
                for l in 0..C {
                    a[l] += xa * dv[l];
                    c[l] += xb * dv[l];
                }
            }
            ga[j0..j0 + C].copy_from_slice(&a);
            gb[j0..j0 + C].copy_from_slice(&c);
            j0 += C;
        }
        for j in j0..m {
            for (xs, ds) in x.chunks_exact(n_in).zip(d.chunks_exact(m)) {
                ga[j] += xs[i] * ds[j];
                gb[j] += xs[i + 1] * ds[j];
            }
        }
        i += 2;
    }
    if i < n_in {
        let gi = &mut g[i * m..(i + 1) * m];
        for (xs, ds) in x.chunks_exact(n_in).zip(d.chunks_exact(m)) {
            let xi = xs[i];
            for (gj, &dj) in gi.iter_mut().zip(ds) {
                *gj += xi * dj;
            }
        }
    }
}

/// `w · d[s]` for every sample of the block, each with the eight
/// interleaved partial sums and the final order of `linalg::dot`: `d`
/// holds the block's samples (`w.len()` values each). Two samples at a
/// time: each weight is loaded once per pair.
#[inline(never)]
pub fn dot(w: &[f32], d: &[f32], out: &mut [f32; BLOCK]) {
    let m = w.len();
    let whole = m / 8 * 8;
    let finish = |a: &[f32; 8], ds: &[f32]| {
        let mut tail = 0.0f32;
        for (&wj, &dj) in w[whole..].iter().zip(&ds[whole..]) {
            tail += wj * dj;
        }
        ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])) + tail
    };
    if m == 0 || d.len() < BLOCK * m {
        *out = [0.0; BLOCK];
        return;
    }
    let mut s = 0;
    while s + 2 <= BLOCK {
        let (da, db) = d[s * m..(s + 2) * m].split_at(m);
        let mut a = [0.0f32; 8];
        let mut c = [0.0f32; 8];
        let chunks = w[..whole].chunks_exact(8);
        for ((wv, av), bv) in chunks
            .zip(da[..whole].chunks_exact(8))
            .zip(db[..whole].chunks_exact(8))
        {
            for k in 0..8 {
                a[k] += wv[k] * av[k];
                c[k] += wv[k] * bv[k];
            }
        }
        out[s] = finish(&a, da);
        out[s + 1] = finish(&c, db);
        s += 2;
    }
    if s < BLOCK {
        let ds = &d[s * m..(s + 1) * m];
        let mut a = [0.0f32; 8];
        for (wv, dv) in w[..whole].chunks_exact(8).zip(ds[..whole].chunks_exact(8)) {
            for k in 0..8 {
                a[k] += wv[k] * dv[k];
            }
        }
        out[s] = finish(&a, ds);
    }
}
