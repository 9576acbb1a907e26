//! The audit: every state of a batch checked against ε_KL, with the
//! findings counted in an [`Audit`].

use crate::kl::kl_f64;
use crate::output::Deployed;
use fixpo_core::actor::Actor;

/// What an audit found.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Audit {
    /// Observations checked.
    pub states: u64,
    /// States outside the trust region: KL > eps, or KL not finite (a
    /// state is inside only if its KL is finite and ≤ eps).
    pub over: u64,
    /// States whose KL is NaN or infinite (also counted in `over`).
    pub non_finite: u64,
    /// Largest KL seen; `+∞` if any state's KL was not finite; 0 for an
    /// empty audit.
    pub max_kl: f64,
    /// `max_kl / eps` (0 when `max_kl` is 0 and eps ≥ 0; `+∞` when `max_kl`
    /// is infinite or positive over eps = 0, or eps is NaN or negative).
    pub worst_ratio: f64,
}

impl Audit {
    /// Adds the findings of `other` (an audit of more states of the same
    /// actor pair at the same eps) to this one.
    pub fn merge(&mut self, other: &Audit) {
        self.states += other.states;
        self.over += other.over;
        self.non_finite += other.non_finite;
        self.max_kl = nan_max(self.max_kl, other.max_kl);
        self.worst_ratio = nan_max(self.worst_ratio, other.worst_ratio);
    }

    /// Whether every state was inside the trust region (`over == 0` and
    /// `non_finite == 0`). An empty audit passes.
    pub fn passed(&self) -> bool {
        self.over == 0 && self.non_finite == 0
    }
}

/// The larger of two numbers, NaN if either is NaN.
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if b > a {
        b
    } else {
        a
    }
}

/// `max_kl / eps`, never NaN (see [`Audit::worst_ratio`]).
fn ratio(max_kl: f64, eps: f64) -> f64 {
    if !max_kl.is_finite() || eps.is_nan() || eps < 0.0 {
        f64::INFINITY
    } else if max_kl == 0.0 {
        0.0
    } else if eps == 0.0 {
        f64::INFINITY
    } else {
        max_kl / eps
    }
}

/// Checks every state: KL(old‖new) ≤ eps at each raw observation.
///
/// Both actors are evaluated with [`output_f64`](crate::output_f64) at each
/// observation of `raw_obs` (each with its own normalisation statistics) and
/// compared with [`kl_f64`]. A state whose KL is not finite counts in both
/// `over` and `non_finite`, as does every state when the two actors' policy
/// kinds differ (KL between different families is undefined). A NaN `eps`
/// leaves every state over.
///
/// ```
/// use fixpo_check::audit;
/// use fixpo_core::{Actor, PolicyKind};
///
/// let old = Actor::<2, 4, 1>::zero(PolicyKind::Gaussian);
/// let mut new = old;
/// new.policy.net.b3[0] = 0.01; // mean moves by 0.01 at σ = 1: KL ≈ 5e-5
/// let batch = [[0.5f32, -1.0], [2.0, 3.0]];
///
/// let a = audit(&old, &new, &batch, 1e-3);
/// assert!(a.passed());
/// assert_eq!(a.states, 2);
/// assert!((a.max_kl - 5e-5).abs() < 1e-9);
///
/// let b = audit(&old, &new, &batch, 1e-5);
/// assert_eq!(b.over, 2);
/// assert!(!b.passed());
/// ```
pub fn audit<'a, const O: usize, const H: usize, const A: usize>(
    old: &Actor<O, H, A>,
    new: &Actor<O, H, A>,
    raw_obs: impl IntoIterator<Item = &'a [f32; O]>,
    eps: f32,
) -> Audit {
    audit_deployed(Deployed::of(old), Deployed::of(new), raw_obs, eps)
}

/// [`audit`] for policies given by their parts.
pub fn audit_deployed<'a, const O: usize, const H: usize, const A: usize>(
    old: Deployed<'_, O, H, A>,
    new: Deployed<'_, O, H, A>,
    raw_obs: impl IntoIterator<Item = &'a [f32; O]>,
    eps: f32,
) -> Audit {
    let eps = eps as f64;
    let kind = old.policy.kind;
    let same_kind = kind == new.policy.kind;
    let mut a = Audit::default();
    for raw in raw_obs {
        a.states += 1;
        let kl = if same_kind {
            kl_f64(
                kind,
                &old.output_f64(raw),
                &old.policy.log_std,
                &new.output_f64(raw),
                &new.policy.log_std,
            )
        } else {
            f64::NAN
        };
        if !kl.is_finite() {
            a.non_finite += 1;
            a.over += 1;
            a.max_kl = f64::INFINITY;
            continue;
        }
        if kl > a.max_kl {
            a.max_kl = kl;
        }
        let inside = kl <= eps;
        if !inside {
            a.over += 1;
        }
    }
    a.worst_ratio = ratio(a.max_kl, eps);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{batch, random_actor};
    use fixpo_core::dist::PolicyKind;
    use rand_core::SeedableRng;
    use rand_pcg::Pcg64;

    #[test]
    fn audit_counts_a_shifted_gaussian_mean() {
        let mut rng = Pcg64::seed_from_u64(11);
        let old = random_actor::<5, 16, 3>(&mut rng, PolicyKind::Gaussian);
        let mut new = old;
        for b in &mut new.policy.net.b3 {
            *b += 0.1;
        }
        // Same log-std, every output moved by the same Δb3: the KL is the
        // same at every state.
        let want: f64 = (0..3)
            .map(|i| {
                let dm = new.policy.net.b3[i] as f64 - old.policy.net.b3[i] as f64;
                0.5 * dm * dm * (-2.0 * old.policy.log_std[i] as f64).exp()
            })
            .sum();
        let obs = batch(&mut rng, &old, 64);

        let small = audit(&old, &new, &obs, 1e-3);
        assert_eq!(small.states, 64);
        assert_eq!(small.over, 64);
        assert_eq!(small.non_finite, 0);
        assert!(!small.passed());
        assert!(
            (small.max_kl - want).abs() <= 1e-9 * want,
            "{} vs {want}",
            small.max_kl
        );
        let r = want / (1e-3f32 as f64);
        assert!((small.worst_ratio - r).abs() <= 1e-9 * r);

        let large = audit(&old, &new, &obs, (10.0 * want) as f32);
        assert_eq!(large.states, 64);
        assert_eq!(large.over, 0);
        assert!(large.passed());
        assert!(large.worst_ratio > 0.09 && large.worst_ratio < 0.11);
    }

    #[test]
    fn audit_counts_a_shifted_logit() {
        let mut rng = Pcg64::seed_from_u64(12);
        let old = random_actor::<4, 16, 3>(&mut rng, PolicyKind::Categorical);
        let mut new = old;
        new.policy.net.b3[0] += 1.0;
        let obs = batch(&mut rng, &old, 64);
        let small = audit(&old, &new, &obs, 1e-6);
        assert!(small.over > 0 && small.non_finite == 0);
        // Shifting one logit by 1 moves KL by at most max_p(ln(1 + p(e−1)) − p) < 0.13.
        let large = audit(&old, &new, &obs, 1.0);
        assert_eq!((large.over, large.non_finite), (0, 0));
        assert!(large.max_kl > 0.0 && large.max_kl < 0.13);
    }

    #[test]
    fn audit_of_an_actor_against_itself_is_exactly_zero() {
        let mut rng = Pcg64::seed_from_u64(13);
        for kind in [PolicyKind::Gaussian, PolicyKind::Categorical] {
            let a = random_actor::<5, 16, 3>(&mut rng, kind);
            let obs = batch(&mut rng, &a, 32);
            let r = audit(&a, &a, &obs, 0.0);
            assert!(r.passed());
            assert_eq!((r.states, r.max_kl, r.worst_ratio), (32, 0.0, 0.0));
        }
    }

    #[test]
    fn audit_flags_non_finite() {
        let mut rng = Pcg64::seed_from_u64(14);
        let old = random_actor::<5, 16, 3>(&mut rng, PolicyKind::Gaussian);
        let obs = batch(&mut rng, &old, 16);

        let mut new = old;
        new.policy.net.w2[3][5] = f32::NAN;
        let r = audit(&old, &new, &obs, 1.0);
        assert_eq!((r.states, r.non_finite, r.over), (16, 16, 16));
        assert_eq!(r.max_kl, f64::INFINITY);
        assert_eq!(r.worst_ratio, f64::INFINITY);
        assert!(!r.passed());

        // One NaN observation among good ones.
        let mut obs2 = obs.clone();
        obs2[7][2] = f32::NAN;
        let r = audit(&old, &old, &obs2, 1.0);
        assert_eq!((r.non_finite, r.over), (1, 1));
        assert!(!r.passed());

        // A NaN clip (the core would panic) and a NaN log-std.
        let mut new = old;
        new.obs_clip = f32::NAN;
        assert_eq!(audit(&old, &new, &obs, 1.0).non_finite, 16);
        let mut new = old;
        new.policy.log_std[1] = f32::NAN;
        assert_eq!(audit(&old, &new, &obs, 1.0).non_finite, 16);

        // Different distribution families.
        let mut new = old;
        new.policy.kind = PolicyKind::Categorical;
        assert_eq!(audit(&old, &new, &obs, 1.0).non_finite, 16);

        // A NaN eps passes nothing (but finds nothing non-finite).
        let r = audit(&old, &old, &obs, f32::NAN);
        assert_eq!((r.over, r.non_finite), (16, 0));
        assert_eq!(r.worst_ratio, f64::INFINITY);
    }

    #[test]
    fn audit_merge_equals_one_audit() {
        let mut rng = Pcg64::seed_from_u64(15);
        let old = random_actor::<5, 16, 3>(&mut rng, PolicyKind::Gaussian);
        let mut new = random_actor::<5, 16, 3>(&mut rng, PolicyKind::Gaussian);
        new.obs_norm = old.obs_norm;
        let obs = batch(&mut rng, &old, 40);
        let eps = 0.5;
        let whole = audit(&old, &new, &obs, eps);
        assert!(whole.over > 0 && whole.over < whole.states, "{whole:?}");
        let mut merged = Audit::default();
        for part in obs.chunks(7) {
            merged.merge(&audit(&old, &new, part, eps));
        }
        assert_eq!(merged, whole);
        assert!(Audit::default().passed());
    }
}
