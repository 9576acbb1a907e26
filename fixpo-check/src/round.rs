//! The checker as fixpo-core's adaptation round uses it: [`Independent`]
//! implements [`fixpo_core::adapt::TrustCheck`] with [`audit_deployed`].

use crate::audit::audit_deployed;
use crate::output::Deployed;
use fixpo_core::adapt::{self, TrustCheck, Verdict};
use fixpo_core::fixpo::Transition;

/// The independent f64 check of one update, for
/// [`fixpo_core::adapt::Adapter`]: both policies recomputed by this crate
/// at the raw observation of every transition of the rollout.
#[derive(Clone, Copy, Debug, Default)]
pub struct Independent;

impl<const O: usize, const H: usize, const A: usize> TrustCheck<O, H, A> for Independent {
    fn check(
        &mut self,
        old: adapt::Deployed<'_, O, H, A>,
        new: adapt::Deployed<'_, O, H, A>,
        batch: &[Transition<O, A>],
        eps_kl: f32,
    ) -> Verdict {
        let a = audit_deployed(parts(old), parts(new), batch.iter().map(|t| &t.obs), eps_kl);
        Verdict {
            max_kl: a.max_kl,
            passed: a.passed(),
        }
    }
}

fn parts<'a, const O: usize, const H: usize, const A: usize>(
    d: adapt::Deployed<'a, O, H, A>,
) -> Deployed<'a, O, H, A> {
    Deployed {
        policy: d.policy,
        obs_norm: &d.norm.stats,
        obs_clip: d.norm.clip,
    }
}
