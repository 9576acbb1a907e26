//! Policy files at the environment's real observation size.
//!
//! The trainer works at a padded size `O` (see [`crate::model`]); a file
//! says the environment's own size `R ≤ O`, so `fixpo eval`, `fixpo
//! inspect` and the firmware (which are compiled for the task's size)
//! accept it. Stripping is exact: a padded input is always 0, its running
//! mean and variance are exactly 0, so it normalises to 0 and its
//! first-layer weights only ever add ±0 to the hidden pre-activations.
//! [`strip`] drops those inputs' statistics and weight rows.
//!
//! [`load`] reads a file of any size this build has compiled (`R` up to
//! the largest padded size, the hidden widths and action sizes of the
//! menu) into a [`Loaded`] policy.

use crate::model::{ACT_SIZES, HIDDEN_SIZES, OBS_SIZES};
use fixpo_core::actor::Actor;
use fixpo_core::dist::PolicyKind;
use fixpo_core::mlp::Mlp;
use fixpo_core::norm::RunningMeanStd;
use fixpo_core::policy::Policy;
use fixpo_core::rng::Pcg32;
use std::path::Path;

/// The largest real observation size the dispatch below covers.
const MAX_REAL: usize = 8;
const _: () = {
    let mut i = 0;
    while i < OBS_SIZES.len() {
        assert!(
            OBS_SIZES[i] <= MAX_REAL,
            "extend real_dispatch! to the largest OBS_SIZES entry"
        );
        i += 1;
    }
};

/// Calls `$f::<.., R>` for the runtime `$r` in `1..=MAX_REAL`.
macro_rules! real_dispatch {
    ($r:expr, $none:expr, |$R:ident| $body:expr) => {
        match $r {
            1 => {
                const $R: usize = 1;
                $body
            }
            2 => {
                const $R: usize = 2;
                $body
            }
            3 => {
                const $R: usize = 3;
                $body
            }
            4 => {
                const $R: usize = 4;
                $body
            }
            5 => {
                const $R: usize = 5;
                $body
            }
            6 => {
                const $R: usize = 6;
                $body
            }
            7 => {
                const $R: usize = 7;
                $body
            }
            8 => {
                const $R: usize = 8;
                $body
            }
            _ => $none,
        }
    };
}

/// The actor on the first `R` inputs of `a`: the padded inputs' statistics
/// and first-layer weight rows dropped.
///
/// # Errors
/// When `R > O`, or a dropped input's statistics are not exactly 0 (it was
/// not padding, and dropping it would change the policy).
pub fn strip<const O: usize, const H: usize, const A: usize, const R: usize>(
    a: &Actor<O, H, A>,
) -> Result<Actor<R, H, A>, String> {
    if R > O {
        return Err(format!("cannot strip {O} inputs to {R}"));
    }
    if let Some(i) = (R..O).find(|&i| a.obs_norm.mean[i] != 0.0 || a.obs_norm.var[i] != 0.0) {
        return Err(format!(
            "padded observation input {i} has mean {} and variance {} (padding must be exactly 0)",
            a.obs_norm.mean[i], a.obs_norm.var[i]
        ));
    }
    let n = &a.policy.net;
    Ok(Actor {
        policy: Policy {
            kind: a.policy.kind,
            net: Mlp {
                w1: core::array::from_fn(|i| n.w1[i]),
                b1: n.b1,
                w2: n.w2,
                b2: n.b2,
                w3: n.w3,
                b3: n.b3,
            },
            log_std: a.policy.log_std,
        },
        obs_norm: RunningMeanStd {
            mean: core::array::from_fn(|i| a.obs_norm.mean[i]),
            var: core::array::from_fn(|i| a.obs_norm.var[i]),
            count: a.obs_norm.count,
        },
        obs_clip: a.obs_clip,
        action_low: a.action_low,
        action_high: a.action_high,
    })
}

/// The policy file of `a` at the real observation size `real`.
///
/// # Errors
/// As [`strip`], and when the actor cannot be encoded.
pub fn encode_real<const O: usize, const H: usize, const A: usize>(
    a: &Actor<O, H, A>,
    real: usize,
) -> Result<Vec<u8>, String> {
    let path = Path::new("<policy>");
    real_dispatch!(
        real,
        Err(format!("observation size {real} is not supported")),
        |R| fixpo_host::policy::encode(&strip::<O, H, A, R>(a)?, path).map_err(|e| e.to_string())
    )
}

/// The action of `a` for `obs` (its first `O` values; missing ones are 0):
/// the mode, or a sample from `rng` clipped to the bounds (one-hot for a
/// categorical policy).
pub fn act<const O: usize, const H: usize, const A: usize>(
    a: &Actor<O, H, A>,
    obs: &[f32],
    deterministic: bool,
    rng: &mut Pcg32,
) -> Vec<f32> {
    let mut o = [0.0; O];
    for (d, s) in o.iter_mut().zip(obs) {
        *d = *s;
    }
    let out = if deterministic {
        a.act(&o)
    } else {
        let (s, _) = a.policy.sample(&a.normalize(&o), rng);
        a.clip_action(&s)
    };
    out.to_vec()
}

/// A policy read from a file, of any compiled size.
pub trait Loaded: Send + Sync {
    /// As [`act`].
    fn act(&self, obs: &[f32], deterministic: bool, rng: &mut Pcg32) -> Vec<f32>;
    /// Observation values.
    fn obs_size(&self) -> usize;
    /// Action dimensions (Gaussian) or choices (categorical).
    fn act_size(&self) -> usize;
    /// Distribution family.
    fn kind(&self) -> PolicyKind;
}

impl<const O: usize, const H: usize, const A: usize> Loaded for Actor<O, H, A> {
    fn act(&self, obs: &[f32], deterministic: bool, rng: &mut Pcg32) -> Vec<f32> {
        act(self, obs, deterministic, rng)
    }
    fn obs_size(&self) -> usize {
        O
    }
    fn act_size(&self) -> usize {
        A
    }
    fn kind(&self) -> PolicyKind {
        self.policy.kind
    }
}

fn decode<const R: usize, const H: usize, const A: usize>(
    bytes: &[u8],
) -> Result<Box<dyn Loaded>, String> {
    Ok(Box::new(
        fixpo_core::file::decode::<R, H, A>(bytes).map_err(|e| e.to_string())?,
    ))
}

/// Declares [`load_sized`] over the menu's hidden widths and action sizes
/// (kept equal to [`HIDDEN_SIZES`] and [`ACT_SIZES`], checked in [`load`]).
macro_rules! load_menu {
    (hidden: [$($h:literal),*]; act: $acts:tt) => {
        fn load_sized(bytes: &[u8], r: usize, h: usize, a: usize) -> Option<Result<Box<dyn Loaded>, String>> {
            match h {
                $( $h => load_menu!(@act bytes, r, $h, a, $acts), )*
                _ => None,
            }
        }
    };
    (@act $bytes:ident, $r:ident, $h:literal, $a:ident, [$($act:literal),*]) => {
        match $a {
            $( $act => real_dispatch!($r, None, |R| Some(decode::<R, $h, $act>($bytes))), )*
            _ => None,
        }
    };
}

load_menu!(hidden: [32, 64]; act: [1, 2]);

/// Reads a policy file written by `save()` (or `fixpo train`).
///
/// # Errors
/// A malformed file, or sizes this build has not compiled.
pub fn load(bytes: &[u8]) -> Result<Box<dyn Loaded>, String> {
    debug_assert_eq!(HIDDEN_SIZES, &[32, 64]);
    debug_assert_eq!(ACT_SIZES, &[1, 2]);
    let h = fixpo_core::file::read_header(bytes)
        .map_err(|e| format!("not a valid policy file: {e}"))?;
    let (r, hid, a) = (usize::from(h.obs), usize::from(h.hid), usize::from(h.act));
    load_sized(bytes, r, hid, a).unwrap_or_else(|| {
        Err(format!(
            "the file's sizes (observations {r}, hidden {hid}, actions {a}) are not compiled in this build (observations 1..={MAX_REAL}, hidden {HIDDEN_SIZES:?}, actions {ACT_SIZES:?})"
        ))
    })
}
