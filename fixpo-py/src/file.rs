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
//! [`load`] reads a file of any size the menu holds and pads it back up
//! (the inverse of [`strip`]) into a [`Loaded`] policy.

use crate::model::{AtSize, at_size, group, menu_text, padded_obs};
use fixpo_core::actor::Actor;
use fixpo_core::dist::PolicyKind;
use fixpo_core::mlp::Mlp;
use fixpo_core::norm::RunningMeanStd;
use fixpo_core::params::Params;
use fixpo_core::policy::Policy;
use fixpo_core::rng::Pcg32;
use std::path::Path;

/// The real observation sizes a padded size `O` serves (those padded up
/// to it): the policy file is written at one of them.
pub struct Sizes;

/// Writes the file of an actor padded to `O` at a real size it serves.
pub trait RealSizes<const O: usize> {
    /// [`strip`] to `real`, then encode.
    ///
    /// # Errors
    /// As [`strip`]; a `real` that is not padded up to `O`.
    fn encode_real<const H: usize, const A: usize>(
        a: &Actor<O, H, A>,
        real: usize,
    ) -> Result<Vec<u8>, String>;
}

/// Implements [`RealSizes`] for each padded size with the real sizes it
/// serves (kept in step with the menu's observation sizes by a test).
macro_rules! real_sizes {
    ($( $o:literal: [$($r:literal),*]; )*) => {
        $(
            impl RealSizes<$o> for Sizes {
                fn encode_real<const H: usize, const A: usize>(
                    a: &Actor<$o, H, A>,
                    real: usize,
                ) -> Result<Vec<u8>, String> {
                    let path = Path::new("<policy>");
                    match real {
                        $( $r => fixpo_host::policy::encode(&strip::<$o, H, A, $r>(a)?, path)
                            .map_err(|e| e.to_string()), )*
                        _ => Err(format!("observation size {real} is not padded to {}", $o)),
                    }
                }
            }
        )*
        /// Every real size each padded size serves.
        const SERVES: &[(usize, &[usize])] = &[$( ($o, &[$($r),*]), )*];
    };
}

real_sizes! {
    4: [1, 2, 3, 4];
    8: [5, 6, 7, 8];
    16: [9, 10, 11, 12, 13, 14, 15, 16];
    32: [17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32];
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
) -> Result<Vec<u8>, String>
where
    Sizes: RealSizes<O>,
{
    <Sizes as RealSizes<O>>::encode_real(a, real)
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

/// A file's actor, zero-padded to a compiled size `O` from its real size
/// (exactly the file's policy: the inverse of [`strip`]).
struct Padded<const O: usize, const H: usize, const A: usize> {
    actor: Actor<O, H, A>,
    real: usize,
}

impl<const O: usize, const H: usize, const A: usize> Loaded for Padded<O, H, A> {
    fn act(&self, obs: &[f32], deterministic: bool, rng: &mut Pcg32) -> Vec<f32> {
        act(
            &self.actor,
            &obs[..obs.len().min(self.real)],
            deterministic,
            rng,
        )
    }
    fn obs_size(&self) -> usize {
        self.real
    }
    fn act_size(&self) -> usize {
        A
    }
    fn kind(&self) -> PolicyKind {
        self.actor.policy.kind
    }
}

/// Reads a checked file's values at its own sizes and pads its
/// observation inputs (statistics 0, first-layer weights 0) up to `O`.
struct Load<'b>(&'b [u8]);

impl AtSize for Load<'_> {
    type Out = Result<Box<dyn Loaded>, String>;
    fn at<const O: usize, const H: usize, const A: usize>(self) -> Self::Out
    where
        Sizes: RealSizes<O>,
    {
        let bad = |e: fixpo_core::file::FileError| format!("not a valid policy file: {e}");
        let h = fixpo_core::file::read_header(self.0).map_err(bad)?;
        let (real, act) = (usize::from(h.obs), usize::from(h.act));
        if real > O || usize::from(h.hid) != H || act != A {
            return Err(format!(
                "internal: a {real}/{}/{act} file loaded at {O}/{H}/{A}",
                h.hid
            ));
        }
        let mut actor = Actor {
            policy: Policy::<O, H, A>::zero(h.kind),
            obs_norm: RunningMeanStd::<O>::NEW,
            obs_clip: h.obs_clip,
            action_low: [0.0; A],
            action_high: [0.0; A],
        };
        actor.obs_norm.mean = [0.0; O];
        actor.obs_norm.var = [0.0; O];
        actor.obs_norm.count = h.obs_count;
        let mut params = vec![0.0; h.param_count as usize];
        fixpo_core::file::read_dyn(
            self.0,
            &mut actor.obs_norm.mean[..real],
            &mut actor.obs_norm.var[..real],
            &mut actor.action_low,
            &mut actor.action_high,
            &mut params,
        )
        .map_err(bad)?;
        // Params order: the first layer's weights input by input (`real`
        // rows of `H`), then every other slice as the file has it.
        let mut rest = params.as_slice();
        for k in 0..Policy::<O, H, A>::SLICES {
            let dst = actor.policy.slice_mut(k);
            let n = if k == 0 { real * H } else { dst.len() };
            let (src, tail) = rest
                .split_at_checked(n)
                .ok_or_else(|| "internal: parameter count".to_string())?;
            dst[..n].copy_from_slice(src);
            rest = tail;
        }
        Ok(Box::new(Padded { actor, real }))
    }
}

/// Reads a policy file written by `save()` (or `fixpo train`).
///
/// # Errors
/// A malformed file, or sizes this build has not compiled.
pub fn load(bytes: &[u8]) -> Result<Box<dyn Loaded>, String> {
    let h = fixpo_core::file::read_header(bytes)
        .map_err(|e| format!("not a valid policy file: {e}"))?;
    let (r, hid, a) = (usize::from(h.obs), usize::from(h.hid), usize::from(h.act));
    let fits = group(hid).is_some_and(|g| g.act.contains(&a));
    padded_obs(r, hid)
        .filter(|_| fits)
        .and_then(|o| at_size(o, hid, a, Load(bytes)))
        .unwrap_or_else(|| {
            Err(format!(
                "the file's sizes (observations {r}, hidden {hid}, actions {a}) are not compiled in this build ({})",
                menu_text()
            ))
        })
}

/// Whether `SERVES` lists `real` under the padded size `o`.
const fn serves(o: usize, real: usize) -> bool {
    let mut i = 0;
    while i < SERVES.len() {
        if SERVES[i].0 == o {
            let rs = SERVES[i].1;
            let mut j = 0;
            while j < rs.len() {
                if rs[j] == real {
                    return true;
                }
                j += 1;
            }
        }
        i += 1;
    }
    false
}

// Every real size of every menu group is served by the padded size the
// menu pads it to (the smallest that holds it).
const _: () = {
    let menu = crate::model::MENU;
    let mut g = 0;
    while g < menu.len() {
        let obs = menu[g].obs;
        let (mut k, mut below) = (0, 0);
        while k < obs.len() {
            let mut real = below + 1;
            while real <= obs[k] {
                assert!(serves(obs[k], real), "extend real_sizes! to the menu");
                real += 1;
            }
            below = obs[k];
            k += 1;
        }
        g += 1;
    }
};
